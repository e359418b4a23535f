//! Element types of arrays, NumPy 2's promotion rules between them (NEP 50), and
//! constants of a dtype.
//!
//! Kernels hold float values as float64 and integer and bool values as int64, and keep
//! each inside the value set of its array's dtype with explicit cast instructions
//! (`UnaryOp::Cast*`), so these rules decide both the dtype users see and where the
//! client inserts casts. Pure logic.

use crate::{DType, Instr};

/// A constant: integers exactly (as int64), floats as float64.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    Float(f64),
}

impl Scalar {
    /// The value converted to `dtype` as NumPy's `astype` converts it (floats to
    /// integers truncate toward zero; integers wrap into narrower types; anything to
    /// bool is `!= 0`).
    pub fn cast(self, dtype: DType) -> Scalar {
        use DType::*;
        match (self, dtype) {
            (s, F64 | Table) => Scalar::Float(s.to_f64()),
            (s, F32) => Scalar::Float(s.to_f64() as f32 as f64),
            (Scalar::Float(f), Bool) => Scalar::Int((f != 0.0) as i64),
            // Saturating, NaN gives 0 (NumPy leaves these undefined).
            (Scalar::Float(f), d) => Scalar::Int(f as i64).cast(d),
            (Scalar::Int(i), I64) => Scalar::Int(i),
            (Scalar::Int(i), I32) => Scalar::Int(i as i32 as i64),
            (Scalar::Int(i), U8) => Scalar::Int(i as u8 as i64),
            (Scalar::Int(i), Bool) => Scalar::Int((i != 0) as i64),
        }
    }

    /// The value as a float64 (rounded beyond 2**53).
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }

    /// The instruction that gives this constant.
    pub fn instr(self) -> Instr {
        match self {
            Scalar::Int(i) => Instr::ConstInt(i),
            Scalar::Float(f) => Instr::Const(f),
        }
    }
}

impl std::fmt::Display for Scalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scalar::Int(i) => write!(f, "{i}"),
            Scalar::Float(x) => write!(f, "{x}"),
        }
    }
}

/// The kind of a Python scalar operand: NEP 50 treats Python's `bool`, `int` and
/// `float` as *weak*: they take the array's dtype where its kind can hold them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarKind {
    Bool,
    Int,
    Float,
}

/// Array dtypes, in the order NumPy lists them.
pub const ARRAY_DTYPES: [DType; 6] = [
    DType::Bool,
    DType::U8,
    DType::I32,
    DType::I64,
    DType::F32,
    DType::F64,
];

impl DType {
    /// The dtype named as NumPy names it (`"float64"`, `"int32"`, `"bool"`, ...).
    pub fn from_name(name: &str) -> Option<DType> {
        ARRAY_DTYPES.iter().copied().find(|d| d.name() == name)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F64 | DType::F32)
    }

    pub fn is_int(self) -> bool {
        matches!(self, DType::I64 | DType::I32 | DType::U8)
    }

    pub fn is_bool(self) -> bool {
        self == DType::Bool
    }

    /// The smallest and largest value of an integer (or bool) dtype.
    pub fn int_range(self) -> Option<(f64, f64)> {
        Some(match self {
            DType::Bool => (0.0, 1.0),
            DType::U8 => (0.0, 255.0),
            DType::I32 => (i32::MIN as f64, i32::MAX as f64),
            DType::I64 => (i64::MIN as f64, i64::MAX as f64),
            _ => return None,
        })
    }
}

/// The dtype of an operation between arrays of dtypes `a` and `b` (`np.result_type`).
pub fn promote(a: DType, b: DType) -> DType {
    use DType::*;
    if a == b {
        return a;
    }
    match (a, b) {
        (Bool, x) | (x, Bool) => x,
        (F64, _) | (_, F64) => F64,
        // float32 holds int8/uint8/int16 exactly; int32 and int64 need float64.
        (F32, U8) | (U8, F32) => F32,
        (F32, _) | (_, F32) => F64,
        (I64, _) | (_, I64) => I64,
        (I32, U8) | (U8, I32) => I32,
        (x, _) => x,
    }
}

/// The dtype of an operation between an array of dtype `a` and a Python scalar of kind
/// `s` (NEP 50: the scalar is weak).
pub fn promote_weak(a: DType, s: ScalarKind) -> DType {
    match s {
        ScalarKind::Bool => a,
        ScalarKind::Int if a.is_bool() => DType::I64,
        ScalarKind::Int => a,
        ScalarKind::Float if a.is_float() => a,
        ScalarKind::Float => DType::F64,
    }
}

/// The dtype NumPy gives float functions (`sin`, `sqrt`, `true_divide`, ...) of `a`.
/// NumPy gives float16 for bool and uint8; Kaon has no float16 and gives float32.
pub fn float_of(a: DType) -> DType {
    match a {
        DType::F32 | DType::U8 | DType::Bool => DType::F32,
        _ => DType::F64,
    }
}

/// The dtype NumPy's `sum` and `prod` accumulate and return for `a` (the platform
/// integer for small integers; uint64 for uint8 in NumPy, int64 in Kaon).
pub fn sum_of(a: DType) -> DType {
    match a {
        DType::Bool | DType::U8 | DType::I32 => DType::I64,
        d => d,
    }
}

/// The dtype of `mean`, `var` and `std` of `a`.
pub fn mean_of(a: DType) -> DType {
    match a {
        DType::F32 => DType::F32,
        _ => DType::F64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DType::*;

    #[test]
    fn promotion_follows_numpy() {
        // (a, b, np.result_type(a, b)) for every pair.
        let table = [
            (Bool, Bool, Bool),
            (Bool, U8, U8),
            (Bool, I32, I32),
            (Bool, I64, I64),
            (Bool, F32, F32),
            (Bool, F64, F64),
            (U8, U8, U8),
            (U8, I32, I32),
            (U8, I64, I64),
            (U8, F32, F32),
            (U8, F64, F64),
            (I32, I32, I32),
            (I32, I64, I64),
            (I32, F32, F64),
            (I32, F64, F64),
            (I64, I64, I64),
            (I64, F32, F64),
            (I64, F64, F64),
            (F32, F32, F32),
            (F32, F64, F64),
            (F64, F64, F64),
        ];
        for (a, b, want) in table {
            assert_eq!(promote(a, b), want, "{a:?} {b:?}");
            assert_eq!(promote(b, a), want, "{b:?} {a:?}");
        }
    }

    #[test]
    fn python_scalars_are_weak() {
        assert_eq!(promote_weak(F32, ScalarKind::Float), F32);
        assert_eq!(promote_weak(I32, ScalarKind::Float), F64);
        assert_eq!(promote_weak(U8, ScalarKind::Int), U8);
        assert_eq!(promote_weak(Bool, ScalarKind::Int), I64);
        assert_eq!(promote_weak(Bool, ScalarKind::Bool), Bool);
        assert_eq!(promote_weak(I32, ScalarKind::Bool), I32);
        assert_eq!(float_of(I32), F64);
        assert_eq!(float_of(U8), F32);
        assert_eq!(sum_of(Bool), I64);
        assert_eq!(mean_of(I32), F64);
        assert_eq!(DType::from_name("int32"), Some(I32));
        assert_eq!(DType::from_name("table"), None);
        assert_eq!(U8.int_range(), Some((0.0, 255.0)));
    }

    #[test]
    fn constants_cast_as_numpy_astype() {
        let big = (1i64 << 53) + 1;
        assert_eq!(Scalar::Int(big).cast(I64), Scalar::Int(big));
        assert_eq!(
            Scalar::Int(big).cast(F64),
            Scalar::Float(9007199254740992.0)
        );
        assert_eq!(Scalar::Int(300).cast(U8), Scalar::Int(44));
        assert_eq!(
            Scalar::Int((1 << 31) + 1).cast(I32),
            Scalar::Int(-(1 << 31) + 1)
        );
        assert_eq!(Scalar::Float(-2.7).cast(I64), Scalar::Int(-2));
        assert_eq!(Scalar::Float(0.5).cast(Bool), Scalar::Int(1));
        assert_eq!(Scalar::Float(0.1).cast(F32), Scalar::Float(0.1f32 as f64));
        assert_eq!(Scalar::Int(big).instr(), Instr::ConstInt(big));
    }
}
