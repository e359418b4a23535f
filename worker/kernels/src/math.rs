//! Scalar element functions written so that LLVM vectorizes loops over them: no branches
//! (only selects), no table look-ups, no calls. They are `#[inline(always)]` so that a
//! loop calling them is compiled with the target features of the function that contains
//! the loop (see `eval.rs` for the run-time dispatch to AVX2 + FMA).
//!
//! `f64::mul_add` is a fused multiply-add everywhere: the FMA instruction where the CPU
//! has it, a correctly rounded software fma otherwise, so every code path gives the same
//! bits.

use kaon_graph::{BinaryOp, ReduceOp, UnaryOp};

// ---------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------

/// The golden-ratio increment of SplitMix64.
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
/// Mixed into the seed before hashing, so that seed 0 does not start from the fixed point 0.
pub const SEED_SALT: u64 = 0x5851_F42D_4C95_7F2D;

/// SplitMix64's output function (Stafford's "Mix13"), a bijection on u64.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The per-(seed, chunk) key of the counter-based generator.
#[inline(always)]
pub fn stream_key(seed: u64, chunk: u64) -> u64 {
    mix64(mix64(seed ^ SEED_SALT) ^ chunk)
}

/// The top 53 bits of `z` as a double in [0, 1): exactly `(z >> 11) as f64 * 2^-53`.
///
/// `HW_CONVERT` picks how: the u64 -> f64 instruction (AVX-512DQ) or, where x86 has
/// none, two exact magic-number conversions of the high 21 and low 32 bits. Both give
/// the same bits.
#[inline(always)]
pub fn unit_from_bits<const HW_CONVERT: bool>(z: u64) -> f64 {
    let v = z >> 11; // < 2^53
    if HW_CONVERT {
        v as f64 * (1.0 / 9_007_199_254_740_992.0)
    } else {
        // 2^31 + hi·2^-21 and 0.5 + lo·2^-53, exact; the sum below is exact too.
        let hi = f64::from_bits(0x41E0_0000_0000_0000 | (v >> 32)) - (2_147_483_648.0 + 0.5);
        let lo = f64::from_bits(0x3FE0_0000_0000_0000 | (v & 0xFFFF_FFFF));
        hi + lo
    }
}

/// The uniform values of elements `first, first + 1, ...` of the stream `key`: an
/// endless iterator, so that a loop can apply an op to the values as they are made
/// instead of reading them back from a buffer.
#[derive(Clone, Copy, Debug)]
pub struct Uniform<const HW_CONVERT: bool> {
    state: u64,
}

impl<const HW_CONVERT: bool> Uniform<HW_CONVERT> {
    #[inline(always)]
    pub fn new(key: u64, first: u64) -> Self {
        Uniform {
            state: key.wrapping_add(first.wrapping_mul(GOLDEN)),
        }
    }

    /// The same stream from `n` elements further on.
    #[inline(always)]
    pub fn ahead(self, n: u64) -> Self {
        Uniform {
            state: self.state.wrapping_add(n.wrapping_mul(GOLDEN)),
        }
    }
}

impl<const HW_CONVERT: bool> Iterator for Uniform<HW_CONVERT> {
    type Item = f64;

    #[inline(always)]
    fn next(&mut self) -> Option<f64> {
        let u = unit_from_bits::<HW_CONVERT>(mix64(self.state));
        // The counter advances by GOLDEN per element: a linear induction LLVM vectorizes.
        self.state = self.state.wrapping_add(GOLDEN);
        Some(u)
    }
}

// ---------------------------------------------------------------------------------------
// arcsin / arccos
// ---------------------------------------------------------------------------------------

const PIO2: f64 = std::f64::consts::FRAC_PI_2;
const PI: f64 = std::f64::consts::PI;

/// `P(z)` with `asin(d) = d + d·z·P(z)` for `z = d² ∈ [0, 1/4]`: the degree-11 Chebyshev
/// interpolant (relative error 1.3e-15 with the coefficients rounded to double). The
/// `d·z·P(z)` term is below 5% of `d`, so this costs about 0.1 ulp of the result; degree
/// 12 would cost one more fma per element for that.
#[inline(always)]
fn asin_poly(z: f64) -> f64 {
    const C: [f64; 12] = [
        0.166_666_666_666_666_5,
        0.075_000_000_000_207_64,
        0.044_642_857_103_423_646,
        0.030_381_947_367_098_48,
        0.022_372_047_631_744_51,
        0.017_355_259_955_786_323,
        0.013_929_652_902_326_633,
        0.011_875_494_382_636_922,
        0.007_802_949_477_353_317_5,
        0.016_035_514_349_148_82,
        -0.010_749_050_339_697_808,
        0.028_169_218_060_881_414,
    ];
    // Even and odd coefficients in two chains: half the latency of one Horner chain for
    // one multiply more (measured: 3% faster than Horner, 7% faster than Estrin's scheme).
    let z2 = z * z;
    let even = C[10]
        .mul_add(z2, C[8])
        .mul_add(z2, C[6])
        .mul_add(z2, C[4])
        .mul_add(z2, C[2])
        .mul_add(z2, C[0]);
    let odd = C[11]
        .mul_add(z2, C[9])
        .mul_add(z2, C[7])
        .mul_add(z2, C[5])
        .mul_add(z2, C[3])
        .mul_add(z2, C[1]);
    odd.mul_add(z, even)
}

/// The part shared by arcsin and arccos of `x`: whether |x| < 1/2, and `r = asin(d)`
/// (within about 1 ulp) where `d` is `x` (`signed_small`) or |x| when |x| < 1/2, and
/// otherwise `s = sqrt((1-|x|)/2)` (NaN for |x| > 1 or NaN x).
#[inline(always)]
fn asin_parts(x: f64, signed_small: bool) -> (bool, f64) {
    let a = x.abs();
    let small = a < 0.5;
    // (1 - a) / 2, exact for a in [1/2, 1] (Sterbenz): z = s² up to s's rounding.
    let zb = (-0.5f64).mul_add(a, 0.5);
    let s = zb.sqrt();
    let small_d = if signed_small { x } else { a };
    let d = if small { small_d } else { s };
    let z = if small { a * a } else { zb };
    (small, (d * z).mul_add(asin_poly(z), d))
}

/// arcsin(x), branch-free, within 3 ulp of glibc's (tested on many points; of uniform
/// random x in [-1, 1], 72% match glibc, 27% are 1 ulp off, 0.9% 2 ulp and 1 in 10^5
/// 3 ulp); NaN outside [-1, 1]; exact at 0 and ±1.
///
/// |x| < 1/2: `x + x·x²·P(x²)`; otherwise `π/2 - 2·asin(s)` with `s = sqrt((1-|x|)/2)`.
/// Unlike glibc's, this carries neither the square root's rounding error nor π/2's low
/// part: arcsin and arccos bound the seed expression's throughput, and those steps made
/// them 25% slower (measured) for at most 2 ulp.
#[inline(always)]
pub fn asin(x: f64) -> f64 {
    let (small, r) = asin_parts(x, false);
    let big = (-2.0f64).mul_add(r, PIO2);
    let v = if small { r } else { big };
    v.copysign(x)
}

/// arccos(x), branch-free, within 1 ulp of glibc's (tested on many points; 27% of
/// uniform random x in [-1, 1] are 1 ulp off); NaN outside [-1, 1]; exact at ±1 (0 and π
/// rounded) and 0 (π/2 rounded).
///
/// |x| < 1/2: `π/2 - asin(x)`; x ≥ 1/2: `2·asin(s)`; x ≤ -1/2: `π - 2·asin(s)`, with
/// `s = sqrt((1-|x|)/2)`. The errors that cost [`asin`] its extra ulp are small here next
/// to the result (`asin(x)` next to π/2, `asin(s)` next to itself or π).
#[inline(always)]
pub fn acos(x: f64) -> f64 {
    let (small, r) = asin_parts(x, true);
    let big = if x < 0.0 {
        (-2.0f64).mul_add(r, PI)
    } else {
        r + r
    };
    if small { PIO2 - r } else { big }
}

// ---------------------------------------------------------------------------------------
// Element-wise ops with NumPy's semantics
// ---------------------------------------------------------------------------------------

/// NumPy's `maximum`: NaN in either operand propagates.
#[inline(always)]
pub fn maximum(a: f64, b: f64) -> f64 {
    if a >= b || a.is_nan() { a } else { b }
}

/// NumPy's `minimum`: NaN in either operand propagates.
#[inline(always)]
pub fn minimum(a: f64, b: f64) -> f64 {
    if a <= b || a.is_nan() { a } else { b }
}

/// NumPy's `sign`: -1, 0 or 1; NaN and signed zeros pass through.
#[inline(always)]
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

#[inline(always)]
fn truth(x: f64) -> f64 {
    if x != 0.0 { 1.0 } else { 0.0 }
}

#[inline(always)]
fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// A float truncated toward zero to an int64 (saturating; NaN gives 0).
#[inline(always)]
fn as_i64(x: f64) -> i64 {
    x as i64
}

/// NumPy's floor division of floats (`npy_floor_divide`): `a / b` for `b == 0`.
pub fn floor_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a / b;
    }
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div != 0.0 {
        let f = div.floor();
        if div - f > 0.5 { f + 1.0 } else { f }
    } else {
        0.0f64.copysign(a / b)
    }
}

/// NumPy's `remainder` of floats (the sign of the divisor; NaN for `b == 0`).
pub fn modulo(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return a % b;
    }
    let m = a % b;
    if m != 0.0 {
        if (b < 0.0) != (m < 0.0) { m + b } else { m }
    } else {
        0.0f64.copysign(b)
    }
}

/// Floor division of integer values; 0 for a zero divisor, as NumPy gives.
pub fn int_floor_div(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return 0.0;
    }
    let m = int_mod(a, b);
    // a - m is an exact multiple of b: the quotient is exact.
    (a - m) / b
}

/// Python's (floor) modulo of integer values; 0 for a zero divisor, as NumPy gives.
pub fn int_mod(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        return 0.0;
    }
    let m = a % b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        m + b
    } else {
        m
    }
}

fn shl(a: f64, b: f64) -> f64 {
    let (a, b) = (as_i64(a), as_i64(b));
    if (0..64).contains(&b) {
        a.wrapping_shl(b as u32) as f64
    } else {
        0.0
    }
}

fn shr(a: f64, b: f64) -> f64 {
    let (a, b) = (as_i64(a), as_i64(b));
    if (0..64).contains(&b) {
        (a >> b) as f64
    } else if b >= 64 && a < 0 {
        -1.0
    } else {
        0.0
    }
}

/// One unary op on one value (the scalar reference and the constant folder).
#[inline(always)]
pub fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Exp => x.exp(),
        // The same functions as the vectorized loops, so constants fold to their bits.
        UnaryOp::Log => crate::fastmath::log(x),
        UnaryOp::Sin if x.abs() < crate::fastmath::TRIG_BOUND => crate::fastmath::sin(x),
        UnaryOp::Cos if x.abs() < crate::fastmath::TRIG_BOUND => crate::fastmath::cos(x),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tan => x.tan(),
        UnaryOp::Arcsin => asin(x),
        UnaryOp::Arccos => acos(x),
        UnaryOp::Arctan => x.atan(),
        UnaryOp::Sign => sign(x),
        UnaryOp::Cbrt => x.cbrt(),
        UnaryOp::Square => x * x,
        UnaryOp::Expm1 => x.exp_m1(),
        UnaryOp::Log1p => x.ln_1p(),
        UnaryOp::Log10 => x.log10(),
        UnaryOp::Log2 => x.log2(),
        UnaryOp::Sinh => x.sinh(),
        UnaryOp::Cosh => x.cosh(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Arcsinh => x.asinh(),
        UnaryOp::Arccosh => x.acosh(),
        UnaryOp::Arctanh => x.atanh(),
        UnaryOp::Floor => x.floor(),
        UnaryOp::Ceil => x.ceil(),
        UnaryOp::Rint => x.round_ties_even(),
        UnaryOp::Trunc => x.trunc(),
        UnaryOp::IsNan => flag(x.is_nan()),
        UnaryOp::IsInf => flag(x.is_infinite()),
        UnaryOp::IsFinite => flag(x.is_finite()),
        UnaryOp::LogicalNot => flag(x == 0.0),
        UnaryOp::Invert => (!as_i64(x)) as f64,
        UnaryOp::CastF32 => x as f32 as f64,
        UnaryOp::CastI64 => as_i64(x) as f64,
        UnaryOp::CastI32 => as_i64(x) as i32 as f64,
        UnaryOp::CastU8 => as_i64(x) as u8 as f64,
        UnaryOp::CastBool => truth(x),
        UnaryOp::CastF64 => x,
    }
}

/// One binary op on two values.
#[inline(always)]
pub fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Max => maximum(a, b),
        BinaryOp::Min => minimum(a, b),
        BinaryOp::FloorDiv => floor_div(a, b),
        BinaryOp::Mod => modulo(a, b),
        BinaryOp::IntFloorDiv => int_floor_div(a, b),
        BinaryOp::IntMod => int_mod(a, b),
        BinaryOp::Eq => flag(a == b),
        BinaryOp::Ne => flag(a != b),
        BinaryOp::Lt => flag(a < b),
        BinaryOp::Le => flag(a <= b),
        BinaryOp::Gt => flag(a > b),
        BinaryOp::Ge => flag(a >= b),
        BinaryOp::LogicalAnd => flag(a != 0.0 && b != 0.0),
        BinaryOp::LogicalOr => flag(a != 0.0 || b != 0.0),
        BinaryOp::LogicalXor => flag((a != 0.0) != (b != 0.0)),
        BinaryOp::BitAnd => (as_i64(a) & as_i64(b)) as f64,
        BinaryOp::BitOr => (as_i64(a) | as_i64(b)) as f64,
        BinaryOp::BitXor => (as_i64(a) ^ as_i64(b)) as f64,
        BinaryOp::Shl => shl(a, b),
        BinaryOp::Shr => shr(a, b),
        BinaryOp::Arctan2 => a.atan2(b),
        BinaryOp::Hypot => a.hypot(b),
    }
}

/// Combines two partial reductions; min and max propagate NaN like NumPy's.
#[inline(always)]
pub fn combine(op: ReduceOp, a: f64, b: f64) -> f64 {
    match op {
        ReduceOp::Sum => a + b,
        ReduceOp::Prod => a * b,
        ReduceOp::Min => minimum(a, b),
        ReduceOp::Max => maximum(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn division_modulo_and_casts_follow_numpy() {
        // (a, b, np.floor_divide(a, b), np.remainder(a, b)) for floats.
        for (a, b, q, m) in [
            (7.0, 2.0, 3.0, 1.0),
            (-7.0, 2.0, -4.0, 1.0),
            (7.0, -2.0, -4.0, -1.0),
            (-7.5, -2.0, 3.0, -1.5),
            (0.3, 0.1, 2.0, 0.09999999999999998),
        ] {
            assert_eq!(floor_div(a, b), q, "{a} // {b}");
            assert_eq!(modulo(a, b), m, "{a} % {b}");
        }
        assert_eq!(floor_div(1.0, 0.0), f64::INFINITY);
        assert!(modulo(1.0, 0.0).is_nan());
        assert_eq!(int_floor_div(-7.0, 2.0), -4.0);
        assert_eq!(int_mod(-7.0, 2.0), 1.0);
        assert_eq!(int_floor_div(5.0, 0.0), 0.0);
        assert_eq!(int_mod(5.0, 0.0), 0.0);
        assert_eq!(unary(UnaryOp::CastU8, -1.0), 255.0);
        assert_eq!(unary(UnaryOp::CastI32, 2.0f64.powi(31)), -(2.0f64.powi(31)));
        assert_eq!(unary(UnaryOp::CastI64, -2.7), -2.0);
        assert_eq!(unary(UnaryOp::CastBool, f64::NAN), 1.0);
        assert_eq!(unary(UnaryOp::CastF32, 0.1), 0.1f32 as f64);
        assert_eq!(unary(UnaryOp::Invert, 5.0), -6.0);
        assert_eq!(unary(UnaryOp::Rint, 2.5), 2.0);
        assert_eq!(unary(UnaryOp::Rint, -3.5), -4.0);
        assert_eq!(unary(UnaryOp::Sign, -0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(binary(BinaryOp::Shl, 1.0, 70.0), 0.0);
        assert_eq!(binary(BinaryOp::Shr, -8.0, 70.0), -1.0);
        assert_eq!(binary(BinaryOp::Shr, -8.0, 1.0), -4.0);
        assert_eq!(binary(BinaryOp::BitXor, 6.0, 3.0), 5.0);
        assert_eq!(binary(BinaryOp::Lt, f64::NAN, 1.0), 0.0);
        assert_eq!(binary(BinaryOp::Ne, f64::NAN, f64::NAN), 1.0);
    }

    /// Distance in units in the last place between two doubles of the same sign class.
    fn ulps(a: f64, b: f64) -> u64 {
        if a.is_nan() || b.is_nan() {
            return if a.is_nan() && b.is_nan() {
                0
            } else {
                u64::MAX
            };
        }
        let key = |x: f64| {
            let i = x.to_bits() as i64;
            if i < 0 { i64::MIN - i } else { i }
        };
        key(a).abs_diff(key(b))
    }

    fn points() -> Vec<f64> {
        let mut v = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.5,
            -0.5,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1e-310,
            1e-200,
            1e-20,
            1e-8,
            1.0 - f64::EPSILON / 2.0,
            -(1.0 - f64::EPSILON / 2.0),
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.0 + f64::EPSILON,
            -1.0 - f64::EPSILON,
            2.0,
            -3.5,
        ];
        // Neighbours of the interesting points, in ulp steps.
        for base in [0.5f64, 1.0, 0.975, 0.625, 0.25, 1e-5] {
            let mut up = base;
            let mut down = base;
            for _ in 0..2000 {
                up = f64::from_bits(up.to_bits() + 1);
                down = f64::from_bits(down.to_bits() - 1);
                for x in [up, down] {
                    if x <= 1.0 {
                        v.push(x);
                        v.push(-x);
                    }
                }
            }
        }
        // A dense uniform sweep and a logarithmic sweep towards 0 and towards 1.
        let n = 400_000;
        for i in 0..=n {
            let x = -1.0 + 2.0 * i as f64 / n as f64;
            v.push(x);
        }
        let mut key = 7u64;
        for _ in 0..400_000 {
            key = key.wrapping_add(GOLDEN);
            let u = unit_from_bits::<true>(mix64(key));
            v.push(u);
            v.push(-u);
            v.push(1.0 - u * 1e-6);
            let t = 10f64.powf(-300.0 * u);
            v.push(t);
            v.push(1.0 - t);
            v.push(-(1.0 - t));
        }
        v
    }

    #[test]
    fn asin_is_within_three_ulp_and_acos_within_one_ulp_of_libm() {
        let mut worst_asin = (0u64, 0.0);
        let mut worst_acos = (0u64, 0.0);
        let (mut differ, mut total) = (0usize, 0usize);
        for x in points() {
            total += 2;
            differ += usize::from(ulps(asin(x), x.asin()) != 0)
                + usize::from(ulps(acos(x), x.acos()) != 0);
            let u = ulps(asin(x), x.asin());
            if u > worst_asin.0 {
                worst_asin = (u, x);
            }
            let u = ulps(acos(x), x.acos());
            if u > worst_acos.0 {
                worst_acos = (u, x);
            }
        }
        eprintln!(
            "worst vs libm: asin {} ulp at {:e}, acos {} ulp at {:e}; {} of {} points differ",
            worst_asin.0, worst_asin.1, worst_acos.0, worst_acos.1, differ, total
        );
        assert!(
            worst_asin.0 <= 3,
            "asin: {} ulp at {:e}",
            worst_asin.0,
            worst_asin.1
        );
        assert!(
            worst_acos.0 <= 1,
            "acos: {} ulp at {:e}",
            worst_acos.0,
            worst_acos.1
        );
    }

    #[test]
    fn asin_and_acos_special_values_are_exact() {
        assert_eq!(asin(0.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(asin(-0.0).to_bits(), (-0.0f64).to_bits());
        assert_eq!(asin(1.0), std::f64::consts::FRAC_PI_2);
        assert_eq!(asin(-1.0), -std::f64::consts::FRAC_PI_2);
        assert_eq!(acos(1.0).to_bits(), 0.0f64.to_bits());
        assert_eq!(acos(-1.0), std::f64::consts::PI);
        assert_eq!(acos(0.0), std::f64::consts::FRAC_PI_2);
        assert_eq!(acos(-0.0), std::f64::consts::FRAC_PI_2);
        assert_eq!(asin(5e-324), 5e-324);
        assert_eq!(asin(-1e-310), -1e-310);
        for x in [
            f64::NAN,
            1.0 + f64::EPSILON,
            -1.0 - f64::EPSILON,
            2.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert!(asin(x).is_nan(), "asin({x})");
            assert!(acos(x).is_nan(), "acos({x})");
        }
    }

    #[test]
    fn unit_conversion_is_exact() {
        let mut z = 1u64;
        for _ in 0..100_000 {
            z = mix64(z.wrapping_add(GOLDEN));
            let want = (z >> 11) as f64 / 9_007_199_254_740_992.0;
            assert_eq!(unit_from_bits::<true>(z).to_bits(), want.to_bits());
            assert_eq!(unit_from_bits::<false>(z).to_bits(), want.to_bits());
        }
        for z in [
            0,
            1 << 11,
            u64::MAX,
            u64::MAX >> 1,
            0xFFFF_FFFF << 11,
            1 << 43,
        ] {
            let want = (z >> 11) as f64 / 9_007_199_254_740_992.0;
            assert_eq!(
                unit_from_bits::<true>(z).to_bits(),
                want.to_bits(),
                "{z:#x}"
            );
            assert_eq!(
                unit_from_bits::<false>(z).to_bits(),
                want.to_bits(),
                "{z:#x}"
            );
        }
        assert_eq!(unit_from_bits::<false>(u64::MAX), 1.0 - f64::EPSILON / 2.0);
    }

    #[test]
    fn minimum_and_maximum_propagate_nan() {
        assert!(maximum(f64::NAN, 1.0).is_nan());
        assert!(maximum(1.0, f64::NAN).is_nan());
        assert!(minimum(f64::NAN, 1.0).is_nan());
        assert!(minimum(1.0, f64::NAN).is_nan());
        assert_eq!(maximum(1.0, 2.0), 2.0);
        assert_eq!(minimum(1.0, 2.0), 1.0);
        assert_eq!(maximum(-1.0, f64::NEG_INFINITY), -1.0);
    }
}
