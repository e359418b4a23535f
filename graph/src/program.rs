//! Per-chunk programs: the fused elementwise code a blockwise layer runs on each chunk.
//!
//! A program is a list of instructions in SSA form: instruction `i` defines value `i`
//! and may only read earlier values. The last instruction's value is the result. The
//! worker evaluates it over cache-sized tiles of the chunk, so intermediate values
//! never exist as whole chunks.

use kaon_proto as pb;

/// Element types. Kernels hold float values as float64 and integer and bool values as
/// int64 (exact, wrapping as NumPy's integers do); an array of a narrower dtype keeps its
/// values inside that dtype's value set with the cast instructions (`UnaryOp::Cast*`)
/// the client inserts (see [`crate::dtype`]). `Table` is not an element type: a table
/// chunk (an Arrow record batch) travels as an Arrow IPC stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F64,
    F32,
    I64,
    I32,
    U8,
    Bool,
    Table,
}

impl DType {
    /// Bytes per element (1 for `Table`, whose chunks are measured in bytes).
    pub fn itemsize(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::U8 | DType::Bool | DType::Table => 1,
        }
    }

    /// NumPy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            DType::F64 => "float64",
            DType::F32 => "float32",
            DType::I64 => "int64",
            DType::I32 => "int32",
            DType::U8 => "uint8",
            DType::Bool => "bool",
            DType::Table => "table",
        }
    }

    pub fn from_proto(d: i32) -> Option<Self> {
        Some(match pb::Dtype::try_from(d).ok()? {
            pb::Dtype::F64 => DType::F64,
            pb::Dtype::F32 => DType::F32,
            pb::Dtype::I64 => DType::I64,
            pb::Dtype::I32 => DType::I32,
            pb::Dtype::U8 => DType::U8,
            pb::Dtype::Bool => DType::Bool,
            pb::Dtype::Table => DType::Table,
            pb::Dtype::Unspecified => return None,
        })
    }

    pub fn to_proto(self) -> pb::Dtype {
        match self {
            DType::F64 => pb::Dtype::F64,
            DType::F32 => pb::Dtype::F32,
            DType::I64 => pb::Dtype::I64,
            DType::I32 => pb::Dtype::I32,
            DType::U8 => pb::Dtype::U8,
            DType::Bool => pb::Dtype::Bool,
            DType::Table => pb::Dtype::Table,
        }
    }
}

/// Distributions of random chunks. Each chunk is a pure function of (seed, chunk index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    /// Uniform on [0, 1).
    Uniform,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Sqrt,
    Exp,
    Log,
    Sin,
    Cos,
    Tan,
    Arcsin,
    Arccos,
    Arctan,
    /// -1, 0 or 1 (NaN and signed zeros pass through).
    Sign,
    Cbrt,
    Square,
    Expm1,
    Log1p,
    Log10,
    Log2,
    Sinh,
    Cosh,
    Tanh,
    Arcsinh,
    Arccosh,
    Arctanh,
    Floor,
    Ceil,
    /// Round half to even (NumPy's `rint`, and `round` with no decimals).
    Rint,
    Trunc,
    /// 1 where NaN, else 0.
    IsNan,
    IsInf,
    IsFinite,
    /// 1 where the value is 0, else 0.
    LogicalNot,
    /// Bitwise not of the value as an int64 (`-x - 1`).
    Invert,
    /// Rounds to the nearest float32.
    CastF32,
    /// Truncates toward zero and wraps into the integer type's range (NaN gives 0).
    CastI64,
    CastI32,
    CastU8,
    /// 1 where the value is not 0 (NaN is true), else 0.
    CastBool,
    /// Converts an integer value to float64 (rounding beyond 2**53, as NumPy).
    CastF64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    /// NaN-propagating maximum and minimum (NumPy's `maximum`, `minimum`).
    Max,
    Min,
    /// Floor division and Python's modulo of floats, as NumPy computes them (`x / 0`
    /// and NaN for a zero divisor).
    FloorDiv,
    Mod,
    /// Floor division and modulo of integer values: 0 for a zero divisor, as NumPy.
    IntFloorDiv,
    IntMod,
    /// Comparisons: 1 or 0.
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// Logic on truth values (non-zero is true): 1 or 0.
    LogicalAnd,
    LogicalOr,
    LogicalXor,
    /// Bitwise operations on the values as int64.
    BitAnd,
    BitOr,
    BitXor,
    /// Shifts of int64 values; shifts by 64 or more give 0 (or -1 right-shifting a
    /// negative value), negative shifts give 0.
    Shl,
    Shr,
    Arctan2,
    Hypot,
}

/// Deliberate failures, for tests of error handling and recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The kernel fails with this message.
    Error(String),
    /// The worker process exits on the spot; workers refuse this unless started with
    /// fault injection allowed.
    ExitWorker,
}

/// Value id inside a program: the index of the instruction that defines it.
pub type ValueId = u32;

#[derive(Clone, Debug, PartialEq)]
pub enum Instr {
    /// The chunk of the i-th input layer, at the same chunk index.
    Input(u32),
    /// The chunk of the i-th input layer broadcast over the layer's chunk: input axis
    /// `k` is the layer's axis `axes[k]` (where the input has one chunk of length 1 or
    /// the same chunks), or, where `axes[k]` is -1, an axis of length 1 that the layer
    /// has not. Layer axes no input axis maps to repeat the input (NumPy broadcasting).
    InputBroadcast {
        slot: u32,
        axes: Vec<i32>,
    },
    Random {
        seed: u64,
        distribution: Distribution,
    },
    Const(f64),
    /// An integer constant (exact, where `Const` would round beyond 2**53).
    ConstInt(i64),
    /// Each element's index along axis `axis` of the whole array (0, 1, 2, ...).
    Iota {
        axis: u32,
    },
    Unary(UnaryOp, ValueId),
    Binary(BinaryOp, ValueId, ValueId),
    /// `if cond != 0 { a } else { b }` per element (NumPy's `where`).
    Select(ValueId, ValueId, ValueId),
    Fault(Fault),
}

impl Instr {
    /// Values this instruction reads.
    pub fn operands(&self) -> impl Iterator<Item = ValueId> {
        let (a, b, c) = match *self {
            Instr::Unary(_, a) => (Some(a), None, None),
            Instr::Binary(_, a, b) => (Some(a), Some(b), None),
            Instr::Select(c, a, b) => (Some(c), Some(a), Some(b)),
            _ => (None, None, None),
        };
        a.into_iter().chain(b).chain(c)
    }
}

/// A fused per-chunk program: instructions, and the dtype of each one's value.
///
/// The dtype decides how kernels compute an instruction: integer and bool values are
/// computed in wrapping int64 arithmetic, float values in float64; operands are
/// converted where an instruction reads a value of the other kind.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    pub instrs: Vec<Instr>,
    /// `dtypes[i]` is the dtype of value `i`; always as long as `instrs`.
    dtypes: Vec<DType>,
}

impl Program {
    /// Appends an instruction whose value is a float64 and returns the value it defines.
    pub fn push(&mut self, instr: Instr) -> ValueId {
        self.push_typed(instr, DType::F64)
    }

    /// Appends an instruction whose value has `dtype` and returns the value it defines.
    pub fn push_typed(&mut self, instr: Instr, dtype: DType) -> ValueId {
        self.instrs.push(instr);
        self.dtypes.push(dtype);
        (self.instrs.len() - 1) as ValueId
    }

    /// The dtype of value `v`.
    pub fn dtype(&self, v: ValueId) -> DType {
        self.dtypes.get(v as usize).copied().unwrap_or(DType::F64)
    }

    /// The program cut after value `v`: the program computing `v`.
    pub fn truncated(&self, v: ValueId) -> Program {
        let n = (v as usize + 1).min(self.instrs.len());
        Program {
            instrs: self.instrs[..n].to_vec(),
            dtypes: self.dtypes[..n].to_vec(),
        }
    }
}

/// Reductions, per chunk and in tree-reduction steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Prod,
    Min,
    Max,
}

impl ReduceOp {
    /// The value an empty reduction starts from.
    pub fn identity(self) -> f64 {
        match self {
            ReduceOp::Sum => 0.0,
            ReduceOp::Prod => 1.0,
            ReduceOp::Min => f64::INFINITY,
            ReduceOp::Max => f64::NEG_INFINITY,
        }
    }

    #[inline(always)]
    pub fn combine(self, a: f64, b: f64) -> f64 {
        match self {
            ReduceOp::Sum => a + b,
            ReduceOp::Prod => a * b,
            ReduceOp::Min => a.min(b),
            ReduceOp::Max => a.max(b),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "sum",
            ReduceOp::Prod => "prod",
            ReduceOp::Min => "min",
            ReduceOp::Max => "max",
        }
    }
}
