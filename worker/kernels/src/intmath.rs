//! Element functions of integer (and bool) values: int64 arithmetic that wraps as
//! NumPy's integers do, so results are exact where float64 would round beyond 2**53.
//!
//! Narrower integer dtypes are int64 values kept in their range by the cast ops the
//! client inserts after each op (`CastI32` wraps the exact int64 result).

use kaon_graph::{BinaryOp, ReduceOp, UnaryOp};

/// Whether `op` of an integer operand is computed in integer arithmetic (the others,
/// float functions such as `sqrt`, convert the operand to float64 first).
pub fn unary_is_int(op: UnaryOp) -> bool {
    use UnaryOp::*;
    matches!(
        op,
        Neg | Abs
            | Sign
            | Square
            | Invert
            | LogicalNot
            | IsNan
            | IsInf
            | IsFinite
            | Floor
            | Ceil
            | Rint
            | Trunc
            | CastI64
            | CastI32
            | CastU8
            | CastBool
    )
}

/// Whether `op` of two integer operands is computed in integer arithmetic.
pub fn binary_is_int(op: BinaryOp) -> bool {
    use BinaryOp::*;
    !matches!(op, Div | FloorDiv | Mod | Arctan2 | Hypot)
}

/// One unary op on one integer value (for the ops [`unary_is_int`] accepts).
#[inline(always)]
pub fn unary(op: UnaryOp, x: i64) -> i64 {
    use UnaryOp::*;
    match op {
        Neg => x.wrapping_neg(),
        Abs => x.wrapping_abs(),
        Sign => x.signum(),
        Square => x.wrapping_mul(x),
        Invert => !x,
        LogicalNot => (x == 0) as i64,
        IsNan | IsInf => 0,
        IsFinite => 1,
        CastI32 => x as i32 as i64,
        CastU8 => x as u8 as i64,
        CastBool => (x != 0) as i64,
        // Rounding an integer, or casting it to int64, leaves it as it is.
        _ => x,
    }
}

/// One binary op on two integer values (for the ops [`binary_is_int`] accepts).
#[inline(always)]
pub fn binary(op: BinaryOp, a: i64, b: i64) -> i64 {
    use BinaryOp::*;
    match op {
        Add => a.wrapping_add(b),
        Sub => a.wrapping_sub(b),
        Mul => a.wrapping_mul(b),
        Pow => pow(a, b),
        Max => a.max(b),
        Min => a.min(b),
        IntFloorDiv => floor_div(a, b),
        IntMod => modulo(a, b),
        Eq => (a == b) as i64,
        Ne => (a != b) as i64,
        Lt => (a < b) as i64,
        Le => (a <= b) as i64,
        Gt => (a > b) as i64,
        Ge => (a >= b) as i64,
        LogicalAnd => (a != 0 && b != 0) as i64,
        LogicalOr => (a != 0 || b != 0) as i64,
        LogicalXor => ((a != 0) != (b != 0)) as i64,
        BitAnd => a & b,
        BitOr => a | b,
        BitXor => a ^ b,
        Shl if (0..64).contains(&b) => a << b,
        Shr if (0..64).contains(&b) => a >> b,
        // Shifts by 64 or more: 0, or -1 shifting a negative value right; negative
        // shifts give 0.
        Shr if b >= 64 && a < 0 => -1,
        Shl | Shr => 0,
        // Float-only ops never reach here (see `binary_is_int`).
        Div | FloorDiv | Mod | Arctan2 | Hypot => 0,
    }
}

/// `a ** b`, wrapping. A negative exponent (an error in NumPy) gives the integer part of
/// the real power: 1 for a base of 1, ±1 for -1, 0 otherwise.
fn pow(a: i64, b: i64) -> i64 {
    if b < 0 {
        return match a {
            1 => 1,
            -1 if b % 2 == 0 => 1,
            -1 => -1,
            _ => 0,
        };
    }
    let (mut base, mut e, mut acc) = (a, b as u64, 1i64);
    while e > 0 {
        if e & 1 == 1 {
            acc = acc.wrapping_mul(base);
        }
        base = base.wrapping_mul(base);
        e >>= 1;
    }
    acc
}

/// Floor division; 0 for a zero divisor, and `i64::MIN // -1` wraps, as NumPy gives.
fn floor_div(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let q = a.wrapping_div(b);
    if a.wrapping_rem(b) != 0 && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

/// Python's modulo (the sign of the divisor); 0 for a zero divisor, as NumPy gives.
fn modulo(a: i64, b: i64) -> i64 {
    if b == 0 {
        return 0;
    }
    let m = a.wrapping_rem(b);
    if m != 0 && ((m < 0) != (b < 0)) {
        m + b
    } else {
        m
    }
}

/// The value an empty integer reduction starts from.
pub fn identity(op: ReduceOp) -> i64 {
    match op {
        ReduceOp::Sum => 0,
        ReduceOp::Prod => 1,
        ReduceOp::Min => i64::MAX,
        ReduceOp::Max => i64::MIN,
    }
}

/// Combines two partial integer reductions (wrapping, so any order gives the same bits).
#[inline(always)]
pub fn combine(op: ReduceOp, a: i64, b: i64) -> i64 {
    match op {
        ReduceOp::Sum => a.wrapping_add(b),
        ReduceOp::Prod => a.wrapping_mul(b),
        ReduceOp::Min => a.min(b),
        ReduceOp::Max => a.max(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_ops_wrap_and_divide_as_numpy() {
        // (a, b, np.floor_divide(a, b), np.remainder(a, b)) for int64.
        for (a, b, q, m) in [
            (7, 2, 3, 1),
            (-7, 2, -4, 1),
            (7, -2, -4, -1),
            (-7, -2, 3, -1),
            (5, 0, 0, 0),
            (i64::MIN, -1, i64::MIN, 0),
        ] {
            assert_eq!(binary(BinaryOp::IntFloorDiv, a, b), q, "{a} // {b}");
            assert_eq!(binary(BinaryOp::IntMod, a, b), m, "{a} % {b}");
        }
        let big = (1i64 << 53) + 1;
        assert_eq!(binary(BinaryOp::Add, big, 2), (1 << 53) + 3);
        assert_eq!(binary(BinaryOp::Mul, i64::MAX, 2), -2);
        assert_eq!(binary(BinaryOp::Pow, 3, 40), 3i64.wrapping_pow(40));
        assert_eq!(binary(BinaryOp::Pow, -1, -3), -1);
        assert_eq!(binary(BinaryOp::Pow, 2, -1), 0);
        assert_eq!(binary(BinaryOp::Shl, 1, 70), 0);
        assert_eq!(binary(BinaryOp::Shr, -8, 70), -1);
        assert_eq!(binary(BinaryOp::Shr, -8, 1), -4);
        assert_eq!(unary(UnaryOp::CastI32, (1 << 31) + 5), -(1 << 31) + 5);
        assert_eq!(unary(UnaryOp::CastU8, -1), 255);
        assert_eq!(unary(UnaryOp::Abs, i64::MIN), i64::MIN);
        assert_eq!(unary(UnaryOp::Invert, 5), -6);
        assert_eq!(combine(ReduceOp::Sum, i64::MAX, 1), i64::MIN);
    }
}
