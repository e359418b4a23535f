//! NumPy's ufuncs over lazy arrays: each one's dtype rules (NEP 50 promotion, the
//! result dtype NumPy gives) and the kernel ops (and casts) it lowers to.

use super::{Array, ArrayError};
use kaon_graph::dtype::{Scalar, ScalarKind, float_of, promote, promote_weak};
use kaon_graph::{BinaryOp, DType, UnaryOp};

/// An operand of a ufunc.
#[derive(Clone, Debug)]
pub enum Operand {
    Array(Array),
    /// A Python `bool`, `int` or `float`: weak, it takes the arrays' dtype (NEP 50). A
    /// Python int beyond int64 is a `Scalar::Float` of kind `Int`.
    Weak(Scalar, ScalarKind),
    /// A NumPy scalar (or 0-d array) of a dtype: promoted like an array.
    Strong(Scalar, DType),
}

/// The NumPy ufuncs Kaon computes, by NumPy's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ufunc {
    Unary(&'static str),
    Binary(&'static str),
    /// `where(cond, a, b)`.
    Where,
}

/// Every ufunc: NumPy's name and number of operands.
pub const UFUNCS: &[(&str, u32)] = &[
    ("negative", 1),
    ("positive", 1),
    ("absolute", 1),
    ("sign", 1),
    ("sqrt", 1),
    ("cbrt", 1),
    ("square", 1),
    ("exp", 1),
    ("expm1", 1),
    ("log", 1),
    ("log1p", 1),
    ("log10", 1),
    ("log2", 1),
    ("sin", 1),
    ("cos", 1),
    ("tan", 1),
    ("arcsin", 1),
    ("arccos", 1),
    ("arctan", 1),
    ("sinh", 1),
    ("cosh", 1),
    ("tanh", 1),
    ("arcsinh", 1),
    ("arccosh", 1),
    ("arctanh", 1),
    ("deg2rad", 1),
    ("rad2deg", 1),
    ("floor", 1),
    ("ceil", 1),
    ("rint", 1),
    ("trunc", 1),
    ("isnan", 1),
    ("isinf", 1),
    ("isfinite", 1),
    ("logical_not", 1),
    ("invert", 1),
    ("add", 2),
    ("subtract", 2),
    ("multiply", 2),
    ("divide", 2),
    ("floor_divide", 2),
    ("remainder", 2),
    ("power", 2),
    ("maximum", 2),
    ("minimum", 2),
    ("arctan2", 2),
    ("hypot", 2),
    ("equal", 2),
    ("not_equal", 2),
    ("less", 2),
    ("less_equal", 2),
    ("greater", 2),
    ("greater_equal", 2),
    ("logical_and", 2),
    ("logical_or", 2),
    ("logical_xor", 2),
    ("bitwise_and", 2),
    ("bitwise_or", 2),
    ("bitwise_xor", 2),
    ("left_shift", 2),
    ("right_shift", 2),
];

/// Float functions of one operand: NumPy gives a float result for integer input.
const FLOAT_UNARY: &[(&str, UnaryOp)] = &[
    ("sqrt", UnaryOp::Sqrt),
    ("cbrt", UnaryOp::Cbrt),
    ("exp", UnaryOp::Exp),
    ("expm1", UnaryOp::Expm1),
    ("log", UnaryOp::Log),
    ("log1p", UnaryOp::Log1p),
    ("log10", UnaryOp::Log10),
    ("log2", UnaryOp::Log2),
    ("sin", UnaryOp::Sin),
    ("cos", UnaryOp::Cos),
    ("tan", UnaryOp::Tan),
    ("arcsin", UnaryOp::Arcsin),
    ("arccos", UnaryOp::Arccos),
    ("arctan", UnaryOp::Arctan),
    ("sinh", UnaryOp::Sinh),
    ("cosh", UnaryOp::Cosh),
    ("tanh", UnaryOp::Tanh),
    ("arcsinh", UnaryOp::Arcsinh),
    ("arccosh", UnaryOp::Arccosh),
    ("arctanh", UnaryOp::Arctanh),
    ("rint", UnaryOp::Rint),
];

const COMPARISONS: &[(&str, BinaryOp)] = &[
    ("equal", BinaryOp::Eq),
    ("not_equal", BinaryOp::Ne),
    ("less", BinaryOp::Lt),
    ("less_equal", BinaryOp::Le),
    ("greater", BinaryOp::Gt),
    ("greater_equal", BinaryOp::Ge),
];

fn find<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

impl Ufunc {
    /// The ufunc named `name` (NumPy's name; `where` too).
    pub fn named(name: &str) -> Option<Ufunc> {
        if name == "where" {
            return Some(Ufunc::Where);
        }
        let &(n, nin) = UFUNCS.iter().find(|(n, _)| *n == name)?;
        Some(if nin == 1 {
            Ufunc::Unary(n)
        } else {
            Ufunc::Binary(n)
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Ufunc::Unary(n) | Ufunc::Binary(n) => n,
            Ufunc::Where => "where",
        }
    }

    pub fn nin(self) -> usize {
        match self {
            Ufunc::Unary(_) => 1,
            Ufunc::Binary(_) => 2,
            Ufunc::Where => 3,
        }
    }

    /// Applies the ufunc lazily. At least one operand must be an array; arrays must
    /// have the same shape and chunks.
    pub fn apply(self, args: &[Operand]) -> Result<Array, ArrayError> {
        let name = self.name();
        if args.len() != self.nin() {
            return Err(ArrayError::Type(format!(
                "{name} takes {} operands, got {}",
                self.nin(),
                args.len()
            )));
        }
        let Some(like) = args.iter().find_map(|a| match a {
            Operand::Array(a) => Some(a.clone()),
            _ => None,
        }) else {
            return Err(ArrayError::Type(format!("{name}: no array operand")));
        };
        let types = || describe(args);
        match self {
            Ufunc::Where => {
                let cond = as_array(&args[0], &like, DType::Bool)?;
                let d = common_dtype(&args[1..]);
                let cond = cond.astype(DType::Bool)?;
                let a = as_array(&args[1], &like, d)?;
                let b = as_array(&args[2], &like, d)?;
                cond.select(&a, &b, d)
            }
            Ufunc::Unary(name) => {
                let d = common_dtype(args);
                let x = as_array(&args[0], &like, d)?;
                unary(name, &x, d, types)
            }
            Ufunc::Binary(name) => {
                let mut d = common_dtype(args);
                if find(COMPARISONS, name).is_some() {
                    // NumPy compares Python ints out of the dtype's range exactly.
                    if out_of_range(args, d) {
                        d = DType::F64;
                    }
                } else if let Some(v) = args.iter().find_map(|a| match a {
                    Operand::Weak(v, ScalarKind::Int)
                        if out_of_range(std::slice::from_ref(a), d) =>
                    {
                        Some(*v)
                    }
                    _ => None,
                }) {
                    return Err(ArrayError::Overflow(format!(
                        "Python integer {v} out of bounds for {}",
                        d.name()
                    )));
                }
                let a = as_array(&args[0], &like, d)?;
                let b = as_array(&args[1], &like, d)?;
                binary(name, &a, &b, d, types)
            }
        }
    }
}

/// Whether a Python int among `args` lies outside the range of integer dtype `d`.
fn out_of_range(args: &[Operand], d: DType) -> bool {
    let Some((lo, hi)) = d.int_range() else {
        return false;
    };
    args.iter().any(|a| match a {
        Operand::Weak(Scalar::Int(v), ScalarKind::Int) => (*v as f64) < lo || (*v as f64) > hi,
        Operand::Weak(Scalar::Float(v), ScalarKind::Int) => *v < lo || *v > hi,
        _ => false,
    })
}

fn describe(args: &[Operand]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match a {
            Operand::Array(a) => format!("{} array of shape {:?}", a.dtype().name(), a.shape()),
            Operand::Weak(_, k) => format!("Python {k:?}").to_lowercase(),
            Operand::Strong(_, d) => format!("{} scalar", d.name()),
        })
        .collect();
    parts.join(" and ")
}

/// The dtype NumPy computes an operation of `args` in (`np.result_type`, NEP 50).
pub fn common_dtype(args: &[Operand]) -> DType {
    let mut strong: Option<DType> = None;
    for a in args {
        let d = match a {
            Operand::Array(a) => a.dtype(),
            Operand::Strong(_, d) => *d,
            Operand::Weak(..) => continue,
        };
        strong = Some(strong.map_or(d, |s| promote(s, d)));
    }
    let mut d = strong;
    for a in args {
        if let Operand::Weak(_, k) = a {
            d = Some(match d {
                Some(d) => promote_weak(d, *k),
                None => match k {
                    ScalarKind::Bool => DType::Bool,
                    ScalarKind::Int => DType::I64,
                    ScalarKind::Float => DType::F64,
                },
            });
        }
    }
    d.unwrap_or(DType::F64)
}

fn as_array(op: &Operand, like: &Array, d: DType) -> Result<Array, ArrayError> {
    Ok(match op {
        Operand::Array(a) => a.clone(),
        Operand::Weak(v, _) | Operand::Strong(v, _) => like.constant_like(*v, d),
    })
}

/// The cast that keeps a result of an arithmetic op in `d`'s value set.
fn wrap(x: Array, d: DType) -> Array {
    let op = match d {
        DType::F32 => UnaryOp::CastF32,
        DType::I64 => UnaryOp::CastI64,
        DType::I32 => UnaryOp::CastI32,
        DType::U8 => UnaryOp::CastU8,
        DType::Bool => UnaryOp::CastBool,
        DType::F64 | DType::Table => return x,
    };
    x.unary_typed(op, d)
}

fn unary(
    name: &'static str,
    x: &Array,
    d: DType,
    types: impl Fn() -> String,
) -> Result<Array, ArrayError> {
    let unsupported = || {
        ArrayError::Type(format!(
            "ufunc '{name}' not supported for the input types ({})",
            types()
        ))
    };
    if let Some(op) = find(FLOAT_UNARY, name) {
        let f = float_of(d);
        let r = x.unary_typed(op, f);
        return Ok(if f == DType::F32 { wrap(r, f) } else { r });
    }
    Ok(match name {
        "positive" => {
            if d.is_bool() {
                return Err(unsupported());
            }
            x.clone()
        }
        "negative" => {
            if d.is_bool() {
                return Err(ArrayError::Type(
                    "The numpy boolean negative, the `-` operator, is not supported, use the \
                     `~` operator or the logical_not function instead."
                        .into(),
                ));
            }
            let r = x.unary_typed(UnaryOp::Neg, d);
            if matches!(d, DType::I32 | DType::U8) {
                wrap(r, d)
            } else {
                r
            }
        }
        "absolute" => {
            if d.is_bool() || d == DType::U8 {
                return Ok(x.clone());
            }
            let r = x.unary_typed(UnaryOp::Abs, d);
            if d == DType::I32 { wrap(r, d) } else { r }
        }
        "sign" => {
            if d.is_bool() {
                return Err(unsupported());
            }
            x.unary_typed(UnaryOp::Sign, d)
        }
        "square" => {
            let d = if d.is_bool() { DType::I64 } else { d };
            wrap(x.unary_typed(UnaryOp::Square, d), d)
        }
        "deg2rad" | "rad2deg" => {
            let f = float_of(d);
            let k = if name == "deg2rad" {
                std::f64::consts::PI / 180.0
            } else {
                180.0 / std::f64::consts::PI
            };
            let k = x.constant_like(Scalar::Float(k), f);
            let r = x.binary_typed(BinaryOp::Mul, &k, f)?;
            if f == DType::F32 { wrap(r, f) } else { r }
        }
        "floor" | "ceil" | "trunc" => {
            if !d.is_float() {
                return Ok(x.clone());
            }
            let op = match name {
                "floor" => UnaryOp::Floor,
                "ceil" => UnaryOp::Ceil,
                _ => UnaryOp::Trunc,
            };
            x.unary_typed(op, d)
        }
        "isnan" | "isinf" | "isfinite" => {
            let op = match name {
                "isnan" => UnaryOp::IsNan,
                "isinf" => UnaryOp::IsInf,
                _ => UnaryOp::IsFinite,
            };
            x.unary_typed(op, DType::Bool)
        }
        "logical_not" => x.unary_typed(UnaryOp::LogicalNot, DType::Bool),
        "invert" => match d {
            DType::Bool => x.unary_typed(UnaryOp::LogicalNot, DType::Bool),
            DType::U8 => wrap(x.unary_typed(UnaryOp::Invert, d), d),
            d if d.is_int() => x.unary_typed(UnaryOp::Invert, d),
            _ => return Err(unsupported()),
        },
        _ => return Err(unsupported()),
    })
}

fn binary(
    name: &'static str,
    a: &Array,
    b: &Array,
    d: DType,
    types: impl Fn() -> String,
) -> Result<Array, ArrayError> {
    let unsupported = || {
        ArrayError::Type(format!(
            "ufunc '{name}' not supported for the input types ({})",
            types()
        ))
    };
    if let Some(op) = find(COMPARISONS, name) {
        return a.binary_typed(op, b, DType::Bool);
    }
    let float_op = |op: BinaryOp| -> Result<Array, ArrayError> {
        let f = float_of(d);
        let r = a.binary_typed(op, b, f)?;
        Ok(if f == DType::F32 { wrap(r, f) } else { r })
    };
    Ok(match name {
        "add" | "multiply" if d.is_bool() => {
            let op = if name == "add" {
                BinaryOp::LogicalOr
            } else {
                BinaryOp::LogicalAnd
            };
            a.binary_typed(op, b, DType::Bool)?
        }
        "subtract" if d.is_bool() => {
            return Err(ArrayError::Type(
                "numpy boolean subtract, the `-` operator, is not supported, use the \
                 bitwise_xor, the `^` operator, or the logical_xor function instead."
                    .into(),
            ));
        }
        "add" | "subtract" | "multiply" => {
            let op = match name {
                "add" => BinaryOp::Add,
                "subtract" => BinaryOp::Sub,
                _ => BinaryOp::Mul,
            };
            let r = a.binary_typed(op, b, d)?;
            if d == DType::F64 || d == DType::I64 {
                r
            } else {
                wrap(r, d)
            }
        }
        "maximum" => a.binary_typed(BinaryOp::Max, b, d)?,
        "minimum" => a.binary_typed(BinaryOp::Min, b, d)?,
        "divide" => {
            let f = if d.is_float() { d } else { DType::F64 };
            let r = a.binary_typed(BinaryOp::Div, b, f)?;
            if f == DType::F32 { wrap(r, f) } else { r }
        }
        "floor_divide" | "remainder" => {
            let d = if d.is_bool() { DType::I64 } else { d };
            let op = match (name, d.is_float()) {
                ("floor_divide", true) => BinaryOp::FloorDiv,
                ("floor_divide", false) => BinaryOp::IntFloorDiv,
                (_, true) => BinaryOp::Mod,
                (_, false) => BinaryOp::IntMod,
            };
            wrap(a.binary_typed(op, b, d)?, d)
        }
        "power" => {
            let d = if d.is_bool() { DType::I64 } else { d };
            wrap(a.binary_typed(BinaryOp::Pow, b, d)?, d)
        }
        "arctan2" => float_op(BinaryOp::Arctan2)?,
        "hypot" => float_op(BinaryOp::Hypot)?,
        "logical_and" => a.binary_typed(BinaryOp::LogicalAnd, b, DType::Bool)?,
        "logical_or" => a.binary_typed(BinaryOp::LogicalOr, b, DType::Bool)?,
        "logical_xor" => a.binary_typed(BinaryOp::LogicalXor, b, DType::Bool)?,
        "bitwise_and" | "bitwise_or" | "bitwise_xor" => {
            if d.is_float() {
                return Err(unsupported());
            }
            let op = match name {
                "bitwise_and" => BinaryOp::BitAnd,
                "bitwise_or" => BinaryOp::BitOr,
                _ => BinaryOp::BitXor,
            };
            a.binary_typed(op, b, d)?
        }
        "left_shift" | "right_shift" => {
            if d.is_float() {
                return Err(unsupported());
            }
            let d = if d.is_bool() { DType::I64 } else { d };
            let op = if name == "left_shift" {
                BinaryOp::Shl
            } else {
                BinaryOp::Shr
            };
            wrap(a.binary_typed(op, b, d)?, d)
        }
        _ => return Err(unsupported()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arr(d: DType) -> Array {
        Array::full_typed(vec![vec![2, 2]], Scalar::Int(3), d).unwrap()
    }

    #[test]
    fn result_dtypes_follow_numpy() {
        use DType::*;
        let add = Ufunc::named("add").unwrap();
        let r = add
            .apply(&[
                Operand::Array(arr(I32)),
                Operand::Weak(Scalar::Int(1), ScalarKind::Int),
            ])
            .unwrap();
        assert_eq!(r.dtype(), I32);
        let r = add
            .apply(&[
                Operand::Array(arr(I32)),
                Operand::Weak(Scalar::Float(1.5), ScalarKind::Float),
            ])
            .unwrap();
        assert_eq!(r.dtype(), F64);
        let r = add
            .apply(&[
                Operand::Array(arr(F32)),
                Operand::Strong(Scalar::Float(1.5), F64),
            ])
            .unwrap();
        assert_eq!(r.dtype(), F64);
        let r = add
            .apply(&[Operand::Array(arr(Bool)), Operand::Array(arr(Bool))])
            .unwrap();
        assert_eq!(r.dtype(), Bool);
        let sin = Ufunc::named("sin").unwrap();
        assert_eq!(sin.apply(&[Operand::Array(arr(I64))]).unwrap().dtype(), F64);
        assert_eq!(sin.apply(&[Operand::Array(arr(U8))]).unwrap().dtype(), F32);
        let lt = Ufunc::named("less").unwrap();
        let r = lt
            .apply(&[
                Operand::Array(arr(U8)),
                Operand::Weak(Scalar::Int(300), ScalarKind::Int),
            ])
            .unwrap();
        assert_eq!(r.dtype(), Bool);
        let err = add
            .apply(&[
                Operand::Array(arr(U8)),
                Operand::Weak(Scalar::Int(300), ScalarKind::Int),
            ])
            .unwrap_err();
        assert!(matches!(err, ArrayError::Overflow(_)), "{err}");
        let err = Ufunc::named("bitwise_and")
            .unwrap()
            .apply(&[Operand::Array(arr(F64)), Operand::Array(arr(I32))])
            .unwrap_err();
        assert!(err.to_string().contains("float64 array"), "{err}");
        let w = Ufunc::Where
            .apply(&[
                Operand::Array(arr(Bool)),
                Operand::Weak(Scalar::Int(1), ScalarKind::Int),
                Operand::Array(arr(F32)),
            ])
            .unwrap();
        assert_eq!(w.dtype(), F32);
        assert_eq!(arr(F64).astype(I32).unwrap().dtype(), I32);
    }
}
