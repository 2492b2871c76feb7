//! The language's functions in f64 arithmetic, over [`Ops`]: no calls, no libm, no `fma`.
//!
//! [`apply`] computes `f(x)` for a [`Func`] and [`powf`] computes `x ^ y`, lane-wise. The
//! code is branch-free: every path is computed and the right one is picked with `select`.
//! Rounding to an integer is the magic-number trick (add and subtract `1.5 * 2^52`, which
//! leaves the integer in the low bits), and `2^k` is built from its bits, so there is no
//! conversion and no `nearest`. Nothing depends on the ISA's features (no `fma`; the C
//! backend compiles with `-ffp-contract=off`): scalar and vector code, Cranelift and C, and
//! baseline and AVX-512 x86-64, give the same bits (NaN payloads aside).
//!
//! Methods (kernels and constants are fdlibm's unless said otherwise), and the largest errors
//! measured by `tests/math_ulp.rs` over about 200k points per function (uniform on a few
//! ranges, log-spaced magnitudes of both signs from 1e-300 to overflow, boundaries,
//! subnormals, special values): in ulp (ordered-bits distance) from Rust's `f64` functions
//! (glibc; through [`Func::eval`] for sigmoid, softplus and logcosh), and in ulp from the exact
//! value (a double-double reference, for normal results):
//!
//! | function | method | vs std | vs exact |
//! |---|---|---|---|
//! | exp | `x = k ln2 + r` (ln2 in two parts), fdlibm's kernel summed as a double-double, `2^k` applied as two normal factors so that overflow and gradual underflow round once | 1 | 0.67 |
//! | log | `x = 2^k m`, `m` in `[sqrt2/2, sqrt2)`, fdlibm's kernel in `s = f/(2+f)`, the last sums exact; subnormals scaled by `2^54` first | 1 | 0.78 |
//! | sqrt | `sqrt` (correctly rounded) | 0 | |
//! | sin, cos | Cody–Waite by `pi/2` in three 27-bit parts and a tail (exact for `|x| < 1.05e8`), the remainder a double-double, fdlibm's kernels on `[-pi/4, pi/4]`, quadrant from the integer's bits | 1 (`|x| < 1e8`) | |
//! | tanh | `x + x^3 P(x^2)` (Chebyshev fit) for `|x| < 0.55`; `1 - 2/(E + 1)`, `E = exp(2|x|)` a double-double, quotient corrected by its exact remainder, above | 2 | 0.75 |
//! | sinh | Taylor polynomial for `|x| < 1`; `e - 1/(4e)`, `e = exp(|x|)/2` a double-double (scaled by `2^(k-1)`, so it overflows only where `sinh` does) | 2 | 0.80 |
//! | cosh | Taylor polynomial for `|x| < 0.5`; `e + 1/(4e)` | 2 | 0.79 |
//! | sigmoid | `1/(1+e)` or `e/(1+e)`, `e = exp(-|x|)`, as double-doubles, quotient corrected by its exact remainder | 2 | 0.63 |
//! | softplus | `max(x, 0) + log1p(exp(-|x|))`, the sum exact before one rounding | 1 | 0.87 |
//! | logcosh | `log1p(cosh(x) - 1)` for `|x| < 1`, `cosh(x) - 1` by its Taylor series from the exact `x^2`; `(|x| - ln2) + log1p(exp(-2|x|))` above, the sums exact before one rounding | see below | 0.87; 1.0 where `x^2` nears underflow (`|x|` near 1e-154) |
//! | abs, relu, sign, step | `fabs`, selects | 0 | |
//! | powf | `exp(y log|x|)`: `log|x|` a double-double good to well below `2^-64` (`2^k m`, `m` divided by 1 or 1.5, `2 atanh(s)` with its first two terms double-doubles), `y log|x|` a Dekker product, `exp` taking the low part; C99 special cases | 1 | |
//!
//! "vs std" for tanh, sinh, cosh and sigmoid is 2 where glibc's own error is over 1 ulp (the
//! exact column is ours). Against [`Func::eval`], logcosh is 3 ulp for `|x| >= 1` (where
//! `Func::eval` is itself up to 2.8 ulp off: `|x| + log1p(e^-2|x|) - ln2` cancels) and
//! arbitrarily far for small `|x|` (where `Func::eval` cancels completely). Rounded to `f32`,
//! every result equals `f64` std's rounded to `f32` (logcosh: the exact value's).
//!
//! `sin` and `cos` beyond `1.05e8`: `n * part` is no longer exact and the absolute error grows
//! like `|x| 2^-53` (6e-8 at 1e9, 1e-3 at 1e13); from `2^50` on the reduction means nothing
//! and the result is `sin`/`cos` of 0 in a meaningless quadrant (0 or ±1). Results stay in
//! `[-1, 1]`; `inf` gives NaN.
//!
//! Special values: NaN propagates through every function (so `sign`, `step` and `relu` of NaN
//! are NaN, where [`Func::eval`] gives 0: its comparisons and `f64::max` drop NaN). `exp`
//! overflows to `inf` exactly where the true value does and underflows through the subnormals
//! to 0; `log(0) = -inf`, `log(x < 0) = NaN`, `log(inf) = inf`, subnormals exact to 1 ulp;
//! `tanh(±inf) = ±1`, `sigmoid(-inf) = 0`, `softplus(x) = x` for large `x`; `sinh` and `cosh`
//! overflow only where the true value does. Odd functions keep the sign of zero;
//! `sign(±0) = step(±0) = +0`, and `relu(-0) = -0`, as [`Func::eval`] gives on x86-64.

use super::{Cc, Emitter, Ops};
use crate::ir::Func;

/// `f(x)` lane-wise, in f64 arithmetic. No calls, no libm.
pub fn apply<O: Ops>(o: &mut O, f: Func, x: O::V) -> O::V {
    let mut m = Emitter { o };
    match f {
        Func::Exp => exp(&mut m, x),
        Func::Log => log(&mut m, x),
        Func::Sqrt => m.o.sqrt(x),
        Func::Sin => sin_cos(&mut m, x, false),
        Func::Cos => sin_cos(&mut m, x, true),
        Func::Tanh => tanh(&mut m, x),
        Func::Sinh => sinh(&mut m, x),
        Func::Cosh => cosh(&mut m, x),
        Func::Sigmoid => sigmoid(&mut m, x),
        Func::Softplus => softplus(&mut m, x),
        Func::Logcosh => logcosh(&mut m, x),
        Func::Abs => m.abs(x),
        Func::Relu => relu(&mut m, x),
        Func::Sign => sign(&mut m, x),
        Func::Step => step(&mut m, x),
    }
}

/// `x ^ y` with a real exponent, lane-wise, matching Rust's f64::powf for x > 0,
/// x == 0 (0 for y>0, inf for y<0, 1 for y==0) and NaN for x < 0 with non-integer y; for x < 0
/// with integer y, (-1)^y |x|^y. `x` and `y` have the same type.
///
/// The other special cases follow C99 (and so `f64::powf`): `x^±0 = 1` and `1^y = 1` even for
/// NaN, `(-1)^±inf = 1`, the sign of `±0^y` and `-inf^y` for odd integer `y`, `|x|^±inf` is 0 or
/// inf by `|x| < 1`.
pub fn powf<O: Ops>(o: &mut O, x: O::V, y: O::V) -> O::V {
    pow(&mut Emitter { o }, x, y)
}

// ---------------------------------------------------------------------------------------------
// Constants

/// `1.5 * 2^52`: adding and subtracting it rounds a double of magnitude below `2^51` to the
/// nearest integer, and leaves that integer, two's complement, in the low bits of the sum.
const ROUND_MAGIC: f64 = 6755399441055744.0;
const SIGN_BIT: i64 = i64::MIN;
const EXP_BIAS_BITS: i64 = 1023 << 52;
const MANTISSA_BITS: i64 = (1 << 52) - 1;
const ONE_BITS: i64 = 0x3ff0_0000_0000_0000;

/// `ln 2` in two parts; the high part has 32 significant bits, so `k * LN2_HI` is exact for
/// `|k| < 2^21`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const INV_LN2: f64 = std::f64::consts::LOG2_E;
/// `ln 1.5` as a double-double.
const LN1_5_HI: f64 = f64::from_bits(0x3fd9_f323_ecbf_984c);
const LN1_5_LO: f64 = f64::from_bits(0xbc4a_92e5_1321_7f5c);

/// `pi/2` in three parts of 27 bits (so that `n * part` is exact for `|n| < 2^26`), and the
/// rest rounded (the four good to `2^-140`); `2/pi`.
const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5400_0000);
const PIO2_2: f64 = f64::from_bits(0x3e11_0b46_1000_0000);
const PIO2_3: f64 = f64::from_bits(0x3c5a_6263_3000_0000);
const PIO2_3T: f64 = f64::from_bits(0x3a94_5c06_e0e6_8948);
const INV_PIO2: f64 = f64::from_bits(0x3fe4_5f30_6dc9_c883);

/// `2^27 + 1`, Dekker's splitter.
const SPLITTER: f64 = 134217729.0;

/// fdlibm `e_exp.c`: `R(r^2)`, with `exp(r) = 1 + 2r/(R - r)`.
const EXP_P: [f64; 5] = [
    0.16666666666666602,
    -0.0027777777777015593,
    6.613756321437934e-05,
    -1.6533902205465252e-06,
    4.1381367970572385e-08,
];

/// fdlibm `e_log.c`: odd and even coefficients of `R(z)`, `log(1+f) = f - f^2/2 + s(f^2/2 + R)`.
const LOG_LG_ODD: [f64; 4] =
    [0.6666666666666735, 0.2857142874366239, 0.1818357216161805, 0.14798198605116586];
const LOG_LG_EVEN: [f64; 3] = [0.3999999999940942, 0.22222198432149784, 0.15313837699209373];

/// fdlibm `k_sin.c` and `k_cos.c`.
const SIN_S: [f64; 6] = [
    -0.16666666666666632,
    0.00833333333332249,
    -0.0001984126982985795,
    2.7557313707070068e-06,
    -2.5050760253406863e-08,
    1.58969099521155e-10,
];
const COS_C: [f64; 6] = [
    0.0416666666666666,
    -0.001388888888887411,
    2.480158728947673e-05,
    -2.7557314351390663e-07,
    2.087572321298175e-09,
    -1.1359647557788195e-11,
];

/// `tanh(x) = x + x^3 P(x^2)` for `|x| < 0.55`: a Chebyshev fit (mpmath `chebyfit`, relative
/// error 5e-18 with these coefficients rounded to doubles).
const TANH_P: [f64; 11] = [
    -0.3333333333333333,
    0.13333333333332714,
    -0.053968253967434016,
    0.021869488493666944,
    -0.008863234397814355,
    0.003592110378689024,
    -0.001455661830100716,
    0.0005889360520074057,
    -0.0002346347410887237,
    8.511313685577672e-05,
    -2.060276537636634e-05,
];

/// Taylor coefficients `1/(2n+1)!`, n = 1..=9: `sinh(x) = x + x^3 P(x^2)` for `|x| < 1`.
const SINH_TAYLOR: [f64; 9] = [
    1.6666666666666666e-01,
    8.333333333333333e-03,
    1.984126984126984e-04,
    2.7557319223985893e-06,
    2.505210838544172e-08,
    1.6059043836821613e-10,
    7.647163731819816e-13,
    2.8114572543455206e-15,
    8.22063524662433e-18,
];

/// Taylor coefficients `1/(2n)!`, n = 1..=10: `cosh(x) = 1 + x^2 P(x^2)` for `|x| < 1`.
const COSH_TAYLOR: [f64; 10] = [
    0.5,
    4.1666666666666664e-02,
    1.388888888888889e-03,
    2.48015873015873e-05,
    2.755731922398589e-07,
    2.08767569878681e-09,
    1.1470745597729725e-11,
    4.779477332387385e-14,
    1.5619206968586225e-16,
    4.110317623312165e-19,
];

/// `2/3` as a double-double.
const TWO_THIRDS_HI: f64 = 0.6666666666666666;
const TWO_THIRDS_LO: f64 = 3.700743415417188e-17;

/// `2/(2n+3)`, n = 0..=8: `2 atanh(s) = 2s + s^3 P(s^2)`, for `|s| < 0.102`.
const ATANH_TAYLOR: [f64; 9] = [
    0.6666666666666666,
    0.4,
    0.2857142857142857,
    0.2222222222222222,
    0.18181818181818182,
    0.15384615384615385,
    0.13333333333333333,
    0.11764705882352941,
    0.10526315789473684,
];

// ---------------------------------------------------------------------------------------------
// The helpers only the f64 functions use (the shared ones are `super::Emitter`'s)

impl<O: Ops> Emitter<'_, O> {
    /// `a` clamped to `[lo, hi]`; NaN stays NaN.
    fn clamp(&mut self, a: O::V, lo: f64, hi: f64) -> O::V {
        let (lo, hi) = (self.c(lo), self.c(hi));
        let a = self.o.fmax(a, lo);
        self.o.fmin(a, hi)
    }

    /// `|a|` with the sign of `s`.
    fn copysign(&mut self, a: O::V, s: O::V) -> O::V {
        let a = self.abs(a);
        let a = self.bits(a);
        let s = self.bits(s);
        let s = self.bandc(s, SIGN_BIT);
        let r = self.bor(a, s);
        self.float(r)
    }

    /// `a` rounded to the nearest integer (ties to even), for `|a| < 2^51`, and the bits of
    /// `a + 1.5 * 2^52`, whose low bits hold that integer in two's complement.
    fn round(&mut self, a: O::V) -> (O::V, O::V) {
        let magic = self.c(ROUND_MAGIC);
        let t = self.add(a, magic);
        let n = self.sub(t, magic);
        let bits = self.bits(t);
        (n, bits)
    }

    /// `2^k` for an integer-valued float `k` in `[-1022, 1023]`, built from its bits.
    fn pow2(&mut self, k: O::V) -> O::V {
        let (_, bits) = self.round(k);
        let e = self.shl(bits, 52);
        let bias = self.ci(EXP_BIAS_BITS);
        let e = self.iadd(e, bias);
        self.float(e)
    }

    /// `y * 2^k` for an integer-valued float `k` in `[-2044, 2046]`, rounded once: the scale is
    /// applied as two normal factors, so the result overflows, or goes subnormal, only at the
    /// last multiplication.
    fn scale(&mut self, y: O::V, k: O::V) -> O::V {
        let (s1, s2) = self.scale_factors(k);
        let y = self.mul(y, s1);
        self.mul(y, s2)
    }

    /// `2^k1` and `2^k2`, both normal, with `k1 + k2 = k`, for [`Emitter::scale`].
    fn scale_factors(&mut self, k: O::V) -> (O::V, O::V) {
        let half = self.mulc(k, 0.5);
        let (k1, _) = self.round(half);
        let k2 = self.sub(k, k1);
        (self.pow2(k1), self.pow2(k2))
    }

    /// `a + b` as a double-double `(s, e)`, exactly (Knuth's TwoSum).
    fn two_sum(&mut self, a: O::V, b: O::V) -> (O::V, O::V) {
        let s = self.add(a, b);
        let bb = self.sub(s, a);
        let ab = self.sub(s, bb);
        let ea = self.sub(a, ab);
        let eb = self.sub(b, bb);
        let e = self.add(ea, eb);
        (s, e)
    }

    /// `a + b` as a double-double, exactly, for `|a| >= |b|` (Fast2Sum).
    fn fast_two_sum(&mut self, a: O::V, b: O::V) -> (O::V, O::V) {
        let s = self.add(a, b);
        let t = self.sub(a, s);
        let e = self.add(t, b);
        (s, e)
    }

    /// Dekker's split of `a` into two halves of 26 bits, `a = hi + lo` (for `|a| < 2^996`).
    fn split(&mut self, a: O::V) -> (O::V, O::V) {
        let t = self.mulc(a, SPLITTER);
        let d = self.sub(t, a);
        let hi = self.sub(t, d);
        let lo = self.sub(a, hi);
        (hi, lo)
    }

    /// `a * b` as a double-double `(p, e)`, exactly barring over- and underflow (Dekker).
    fn two_prod(&mut self, a: O::V, b: O::V) -> (O::V, O::V) {
        let p = self.mul(a, b);
        let (ah, al) = self.split(a);
        let (bh, bl) = self.split(b);
        let hh = self.mul(ah, bh);
        let hl = self.mul(ah, bl);
        let lh = self.mul(al, bh);
        let ll = self.mul(al, bl);
        let e = self.sub(hh, p);
        let e = self.add(e, hl);
        let e = self.add(e, lh);
        let e = self.add(e, ll);
        (p, e)
    }
}

// ---------------------------------------------------------------------------------------------
// exp

/// `exp(x + xlo) = (y + yl) 2^k`: `y` in `[0.7, 1.5]` and `yl` its low half (`y + yl` good to
/// about `2^-60`), `k` an integer-valued float; `xlo` is a small correction (the low half of a
/// double-double argument). `x` is clamped to `[-746, 711]`, beyond which `exp` is 0 or inf
/// anyway, so that `k` is in `[-1077, 1026]`.
struct ExpParts<V> {
    y: V,
    yl: V,
    k: V,
}

/// See [`ExpParts`]. fdlibm's reduction and kernel, `exp(r) = 1 + r + r c/(2 - c)` with
/// `c = r - r^2 P(r^2)` and `r = hi - lo`, summed as a double-double.
fn exp_parts<O: Ops>(m: &mut Emitter<O>, x: O::V, xlo: Option<O::V>) -> ExpParts<O::V> {
    let x = m.clamp(x, -746.0, 711.0);
    let t = m.mulc(x, INV_LN2);
    let (k, _) = m.round(t);
    let kh = m.mulc(k, LN2_HI);
    let hi = m.sub(x, kh); // exact
    let mut lo = m.mulc(k, LN2_LO);
    if let Some(xlo) = xlo {
        lo = m.sub(lo, xlo);
    }
    let r = m.sub(hi, lo);
    let z = m.mul(r, r);
    let p = m.poly(z, &EXP_P);
    let zp = m.mul(z, p);
    let c = m.sub(r, zp);
    let rc = m.mul(r, c);
    let two_c = m.csub(2.0, c);
    let q = m.div(rc, two_c);
    // exp(r) = 1 + hi + (r c/(2 - c) - lo), the sum kept exactly.
    let q = m.sub(q, lo);
    let (wh, wl) = m.two_sum(hi, q);
    let one = m.c(1.0);
    let (s, sl) = m.fast_two_sum(one, wh);
    let sl = m.add(sl, wl);
    let (y, yl) = m.fast_two_sum(s, sl);
    ExpParts { y, yl, k }
}

/// `exp(x)`.
fn exp<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let e = exp_parts(m, x, None);
    m.scale(e.y, e.k)
}

/// `exp(x) 2^shift` as a double-double `(h, l)`, `h` rounded once (`l` is not accurate where
/// `h` is subnormal, nor needed there).
fn exp_dd<O: Ops>(m: &mut Emitter<O>, x: O::V, shift: f64) -> (O::V, O::V) {
    let e = exp_parts(m, x, None);
    let k = m.addc(e.k, shift);
    let (s1, s2) = m.scale_factors(k);
    let h = m.mul(e.y, s1);
    let h = m.mul(h, s2);
    let l = m.mul(e.yl, s1);
    let l = m.mul(l, s2);
    (h, l)
}

// ---------------------------------------------------------------------------------------------
// log, log1p

/// `x = 2^k m` for finite `x > 0` (normal or subnormal): `k` an integer-valued float and
/// `m` in `[1, 2)`, `k` from the exponent bits (as the float `2^52 + e`), `m` from the
/// mantissa bits; subnormals are scaled by `2^54` first.
fn exponent_mantissa<O: Ops>(m: &mut Emitter<O>, x: O::V) -> (O::V, O::V) {
    let sub = m.cmpc(Cc::LessThan, x, f64::MIN_POSITIVE);
    let xs = m.mulc(x, 1.8014398509481984e+16);
    let x = m.sel(sub, xs, x);
    let zero = m.c(0.0);
    let k_adj = m.csel(sub, -54.0, zero);
    let bits = m.bits(x);
    let e = m.ushr(bits, 52);
    let two52 = m.ci(0x4330_0000_0000_0000);
    let e = m.bor(e, two52);
    let e = m.float(e);
    let k = m.addc(e, -(4503599627370496.0 + 1023.0));
    let k = m.add(k, k_adj);
    let mant = m.bandc(bits, MANTISSA_BITS);
    let one = m.ci(ONE_BITS);
    let mant = m.bor(mant, one);
    (k, m.float(mant))
}

/// `log(x) + corr = hi + lo` (unrounded, `|lo|` below `|hi|/4`) for finite `x > 0` (normal or
/// subnormal) and a small correction `corr` (added where fdlibm adds the low half of `k ln2`);
/// any other `x` gives finite, wrong values, which the callers replace.
///
/// fdlibm's `log`, `log(1+f) = f - (hfsq - s (hfsq + R))`, with its last two additions,
/// `k ln2_hi + f - (...)`, kept exact so that the caller rounds once.
fn log_parts<O: Ops>(m: &mut Emitter<O>, x: O::V, corr: Option<O::V>) -> (O::V, O::V) {
    let (k, mant) = exponent_mantissa(m, x);
    // m in [sqrt2/2, sqrt2).
    let big = m.cmpc(Cc::GreaterThan, mant, std::f64::consts::SQRT_2);
    let half = m.mulc(mant, 0.5);
    let mant = m.sel(big, half, mant);
    let k1 = m.addc(k, 1.0);
    let k = m.sel(big, k1, k);
    // log(1+f) = f - hfsq + s (hfsq + R), s = f/(2+f).
    let f = m.addc(mant, -1.0);
    let two_f = m.addc(f, 2.0);
    let s = m.div(f, two_f);
    let z = m.mul(s, s);
    let w = m.mul(z, z);
    let t1 = m.poly(w, &LOG_LG_EVEN);
    let t1 = m.mul(w, t1);
    let t2 = m.poly(w, &LOG_LG_ODD);
    let t2 = m.mul(z, t2);
    let r = m.add(t2, t1);
    let hfsq = m.mul(f, f);
    let hfsq = m.mulc(hfsq, 0.5);
    // (k ln2_hi + f) - (hfsq - (s (hfsq + R) + (k ln2_lo + corr)))
    let klo = m.mulc(k, LN2_LO);
    let klo = match corr {
        Some(c) => m.add(klo, c),
        None => klo,
    };
    let t = m.add(hfsq, r);
    let t = m.mul(s, t);
    let t = m.add(t, klo);
    let t = m.sub(hfsq, t);
    let khi = m.mulc(k, LN2_HI);
    let (hi, e) = m.two_sum(khi, f);
    let lo = m.sub(e, t);
    (hi, lo)
}

/// `log(x)`, with `log(0) = -inf`, `log(inf) = inf`, NaN for `x < 0` and NaN.
fn log<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let (hi, lo) = log_parts(m, x, None);
    let y = m.add(hi, lo);
    let is_inf = m.cmpc(Cc::Equal, x, f64::INFINITY);
    let y = m.csel(is_inf, f64::INFINITY, y);
    let is_zero = m.cmpc(Cc::Equal, x, 0.0);
    let y = m.csel(is_zero, f64::NEG_INFINITY, y);
    let bad = m.cmpc(Cc::UnorderedOrLessThan, x, 0.0);
    m.csel(bad, f64::NAN, y)
}

/// `log(1 + x + xlo) = hi + lo` (as [`log_parts`]) for `0 <= x < 2^53` (or NaN) and a small
/// `xlo`: `u = 1 + x` rounded, and the rounding error, divided by `u`, corrects `log(u)`.
fn log1p_parts<O: Ops>(m: &mut Emitter<O>, x: O::V, xlo: Option<O::V>) -> (O::V, O::V) {
    let u = m.addc(x, 1.0);
    // The part of x that did not make it into u: exactly x - (u - 1), or 1 - (u - x) for
    // x >= 1, where u - 1 may round but u - x does not.
    let um1 = m.addc(u, -1.0);
    let c_small = m.sub(x, um1);
    let umx = m.sub(u, x);
    let c_big = m.csub(1.0, umx);
    let ge1 = m.cmpc(Cc::GreaterThanOrEqual, x, 1.0);
    let c = m.sel(ge1, c_big, c_small);
    let c = match xlo {
        Some(l) => m.add(c, l),
        None => c,
    };
    let c = m.div(c, u);
    log_parts(m, u, Some(c))
}

// ---------------------------------------------------------------------------------------------
// sin, cos

/// `x = n pi/2 + (y0 + y1)` with `|y0 + y1| <= pi/4` (about), `n` as an integer-valued float
/// and its two's complement bits. Cody–Waite with `pi/2` in three 27-bit parts and a tail:
/// each `n * part` is exact for `|n| < 2^26` (`|x| < 1.05e8`), and the differences are kept
/// exactly with TwoSum.
fn reduce_pio2<O: Ops>(m: &mut Emitter<O>, x: O::V) -> (O::V, O::V, O::V, O::V) {
    let t = m.mulc(x, INV_PIO2);
    let (n, n_bits) = m.round(t);
    let w1 = m.mulc(n, PIO2_1);
    let r1 = m.sub(x, w1); // exact
    let w2 = m.mulc(n, PIO2_2);
    let nw2 = m.neg(w2);
    let (r2, e2) = m.two_sum(r1, nw2);
    let w3 = m.mulc(n, PIO2_3);
    let nw3 = m.neg(w3);
    let (r3, e3) = m.two_sum(r2, nw3);
    // The exact remainder is r3 + e3 + e2 - n pio2_3t.
    let tail = m.mulc(n, PIO2_3T);
    let e = m.add(e2, e3);
    let tail = m.sub(tail, e);
    let y0 = m.sub(r3, tail);
    let y1 = m.sub(r3, y0);
    let y1 = m.sub(y1, tail);
    (y0, y1, n, n_bits)
}

/// fdlibm's `__kernel_sin(y0, y1, 1)` on `[-pi/4, pi/4]`.
fn kernel_sin<O: Ops>(m: &mut Emitter<O>, x: O::V, y: O::V) -> O::V {
    let z = m.mul(x, x);
    let v = m.mul(z, x);
    let r = m.poly(z, &SIN_S[1..]);
    // x - ((z (y/2 - v r) - y) - v S1)
    let hy = m.mulc(y, 0.5);
    let vr = m.mul(v, r);
    let t = m.sub(hy, vr);
    let t = m.mul(z, t);
    let t = m.sub(t, y);
    let vs1 = m.mulc(v, SIN_S[0]);
    let t = m.sub(t, vs1);
    m.sub(x, t)
}

/// fdlibm's `__kernel_cos(y0, y1)` on `[-pi/4, pi/4]`.
fn kernel_cos<O: Ops>(m: &mut Emitter<O>, x: O::V, y: O::V) -> O::V {
    let z = m.mul(x, x);
    let w = m.mul(z, z);
    // r = z (C1 + z (C2 + z C3)) + w^2 (C4 + z (C5 + z C6))
    let lo = m.poly(z, &COS_C[..3]);
    let lo = m.mul(z, lo);
    let hi = m.poly(z, &COS_C[3..]);
    let ww = m.mul(w, w);
    let hi = m.mul(ww, hi);
    let r = m.add(lo, hi);
    // w = 1 - z/2; w + (((1 - w) - z/2) + (z r - x y))
    let hz = m.mulc(z, 0.5);
    let w = m.csub(1.0, hz);
    let t = m.csub(1.0, w);
    let t = m.sub(t, hz);
    let zr = m.mul(z, r);
    let xy = m.mul(x, y);
    let u = m.sub(zr, xy);
    let t = m.add(t, u);
    m.add(w, t)
}

/// `sin(x)` or `cos(x)`: reduce, evaluate both kernels, pick by the quadrant `n mod 4`.
fn sin_cos<O: Ops>(m: &mut Emitter<O>, x: O::V, cos: bool) -> O::V {
    let (y0, y1, n, n_bits) = reduce_pio2(m, x);
    // From 2^50 on the reduction means nothing (n is no longer exact, n pi/2 may overflow):
    // use 0 there, or NaN for inf, so that the result is in [-1, 1].
    let ax = m.abs(x);
    let huge = m.cmpc(Cc::GreaterThanOrEqual, ax, 1125899906842624.0);
    let zero = m.mulc(x, 0.0);
    let y0 = m.sel(huge, zero, y0);
    let y1 = m.sel(huge, zero, y1);
    let s = kernel_sin(m, y0, y1);
    let c = kernel_cos(m, y0, y1);
    // n odd: the other kernel.
    let h = m.mulc(n, 0.5);
    let (hr, _) = m.round(h);
    let odd = m.cmp(Cc::NotEqual, hr, h);
    let r = if cos { m.sel(odd, s, c) } else { m.sel(odd, c, s) };
    // Negate in quadrants 2 and 3 (sin) or 1 and 2 (cos): bit 1 of n, or of n + 1.
    let q = if cos {
        let one = m.ci(1);
        m.iadd(n_bits, one)
    } else {
        n_bits
    };
    let flip = m.bandc(q, 2);
    let flip = m.shl(flip, 62);
    let r = m.bits(r);
    let r = m.bxor(r, flip);
    m.float(r)
}

// ---------------------------------------------------------------------------------------------
// tanh, sinh, cosh, sigmoid, softplus, logcosh

/// `tanh(x)`: `x + x^3 P(x^2)` for `|x| < 0.55` (where `tanh` is 1/2); above,
/// `1 - 2/(E + 1)` with `E = exp(2|x|)` a double-double and the quotient `q` corrected by its
/// exact remainder; with `x`'s sign. `E` overflows for `|x| > 355`, where `q = 0`.
fn tanh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.abs(x);
    let z = m.mul(a, a);
    let p = m.poly(z, &TANH_P);
    let az = m.mul(a, z);
    let p = m.mul(az, p);
    let small = m.add(a, p);
    let a2 = m.add(a, a);
    let (e, el) = exp_dd(m, a2, 0.0);
    let one = m.c(1.0);
    let (d, dl) = m.fast_two_sum(e, one);
    let dl = m.add(dl, el);
    let two = m.c(2.0);
    let q = m.div(two, d);
    // 2/(d + dl) = q + (2 - q d - q dl)/d, 2 - q d exactly.
    let (qd, qdl) = m.two_prod(q, d);
    let r = m.sub(two, qd);
    let r = m.sub(r, qdl);
    let qdl2 = m.mul(q, dl);
    let r = m.sub(r, qdl2);
    let corr = m.div(r, d);
    // 1 - q - corr, with 1 - q exact.
    let nq = m.neg(q);
    let (s, se) = m.fast_two_sum(one, nq);
    let t = m.sub(se, corr);
    let big = m.add(s, t);
    // From 22 on, 1 (and no inf - inf from E = inf).
    let sat = m.cmpc(Cc::GreaterThan, a, 22.0);
    let big = m.csel(sat, 1.0, big);
    let is_small = m.cmpc(Cc::LessThan, a, 0.55);
    let z = m.sel(is_small, small, big);
    m.copysign(z, x)
}

/// `sinh(x)`: `x + x^3 P(x^2)` (Taylor) for `|x| < 1`, `e - 1/(4e)` with `e = exp(|x|)/2`
/// (a double-double, scaled by `2^(k-1)` so that it overflows only where it should) above,
/// with `x`'s sign.
fn sinh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.abs(x);
    let z = m.mul(a, a);
    let p = m.poly(z, &SINH_TAYLOR);
    let az = m.mul(a, z);
    let p = m.mul(az, p);
    let small = m.add(a, p);
    let (eh, el) = exp_dd(m, a, -1.0);
    let quarter = m.c(0.25);
    let inv = m.div(quarter, eh);
    let t = m.sub(el, inv);
    let big = m.add(eh, t);
    let is_small = m.cmpc(Cc::LessThan, a, 1.0);
    let r = m.sel(is_small, small, big);
    m.copysign(r, x)
}

/// `cosh(x)`: `1 + x^2 P(x^2)` (Taylor) for `|x| < 1`, `e + 1/(4e)` with `e = exp(|x|)/2` (as
/// for `sinh`) above.
fn cosh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.abs(x);
    let z = m.mul(a, a);
    let p = m.poly(z, &COSH_TAYLOR);
    let p = m.mul(z, p);
    let small = m.addc(p, 1.0);
    let (eh, el) = exp_dd(m, a, -1.0);
    let quarter = m.c(0.25);
    let inv = m.div(quarter, eh);
    let t = m.add(el, inv);
    let big = m.add(eh, t);
    let is_small = m.cmpc(Cc::LessThan, a, 0.5);
    m.sel(is_small, small, big)
}

/// `sigmoid(x)`: `1/(1+e)` for `x >= 0`, `e/(1+e)` below, `e = exp(-|x|)`, all as
/// double-doubles: with `1 + e = d + dl` and `n` the rounded quotient of `num` (1 or `e + el`)
/// by `d`, the result is `n + (num - n d - n dl)/d`, `num - n d` exact.
fn sigmoid<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.abs(x);
    let na = m.neg(a);
    let (e, el) = exp_dd(m, na, 0.0);
    let one = m.c(1.0);
    let (d, dl) = m.fast_two_sum(one, e);
    let dl = m.add(dl, el);
    let is_neg = m.cmpc(Cc::LessThan, x, 0.0);
    let zero = m.c(0.0);
    let num = m.sel(is_neg, e, one);
    let num_l = m.sel(is_neg, el, zero);
    let n = m.div(num, d);
    let (nd, ndl) = m.two_prod(n, d);
    let r = m.sub(num, nd);
    let r = m.sub(r, ndl);
    let r = m.add(r, num_l);
    let ndl2 = m.mul(n, dl);
    let r = m.sub(r, ndl2);
    let corr = m.div(r, d);
    m.add(n, corr)
}

/// `softplus(x) = max(x, 0) + log1p(exp(-|x|))`, the exponential as a double-double.
fn softplus<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.abs(x);
    let na = m.neg(a);
    let (e, el) = exp_dd(m, na, 0.0);
    let (hi, lo) = log1p_parts(m, e, Some(el));
    let zero = m.c(0.0);
    let pos = m.o.fmax(x, zero);
    let (s, se) = m.two_sum(pos, hi);
    let t = m.add(se, lo);
    let r = m.add(s, t);
    // inf (whose TwoSum error is NaN).
    let is_inf = m.cmpc(Cc::Equal, x, f64::INFINITY);
    m.sel(is_inf, x, r)
}

/// `logcosh(x)`: for `|x| < 1`, `log1p(y)` with `y = cosh(x) - 1 = x^2/2 + x^4/24 + ...`
/// computed as a double-double from the exact square of `x` (Dekker); above,
/// `(|x| - ln2_hi) + (log1p(exp(-2|x|)) - ln2_lo)`.
fn logcosh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.abs(x);
    // Small: y = (p + pl) (1/2 + d), d = p/24 + p^2/720 + ..., p + pl = a^2.
    let (p, pl) = m.two_prod(a, a);
    let d = m.poly(p, &COSH_TAYLOR[1..]);
    let d = m.mul(p, d);
    let hp = m.mulc(p, 0.5);
    let hpl = m.mulc(pl, 0.5);
    let pd = m.mul(p, d);
    let q = m.add(hpl, pd);
    let (yh, yl) = m.fast_two_sum(hp, q);
    let (hi, lo) = log1p_parts(m, yh, Some(yl));
    let small = m.add(hi, lo);
    // Big: |x| - ln2 + log1p(exp(-2|x|)).
    let a2 = m.mulc(a, -2.0);
    let (e, el) = exp_dd(m, a2, 0.0);
    let (hi, lo) = log1p_parts(m, e, Some(el));
    let nl = m.c(-LN2_HI);
    let (h, he) = m.two_sum(a, nl);
    let (s, se) = m.two_sum(h, hi);
    let t = m.add(se, he);
    let t = m.addc(t, -LN2_LO);
    let t = m.add(t, lo);
    let big = m.add(s, t);
    let is_inf = m.cmpc(Cc::Equal, a, f64::INFINITY);
    let big = m.sel(is_inf, a, big);
    let is_small = m.cmpc(Cc::LessThan, a, 1.0);
    m.sel(is_small, small, big)
}

// ---------------------------------------------------------------------------------------------
// Piecewise functions

/// `relu(x)`: `x < 0 ? 0 : x`, so that `relu(-0) = -0` as `Func::eval`'s `f64::max` gives (on
/// x86-64), and `relu(NaN) = NaN`.
fn relu<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let neg = m.cmpc(Cc::LessThan, x, 0.0);
    m.csel(neg, 0.0, x)
}

/// `sign(x)`: 1, -1, or +0 for `±0`; NaN for NaN.
fn sign<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let zero = m.c(0.0);
    let neg = m.cmpc(Cc::LessThan, x, 0.0);
    let r = m.csel(neg, -1.0, zero);
    let pos = m.cmpc(Cc::GreaterThan, x, 0.0);
    let r = m.csel(pos, 1.0, r);
    let nan = m.cmp(Cc::Unordered, x, x);
    m.sel(nan, x, r)
}

/// `step(x)`: 1 for `x > 0`, +0 otherwise; NaN for NaN.
fn step<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let zero = m.c(0.0);
    let pos = m.cmpc(Cc::GreaterThan, x, 0.0);
    let r = m.csel(pos, 1.0, zero);
    let nan = m.cmp(Cc::Unordered, x, x);
    m.sel(nan, x, r)
}

// ---------------------------------------------------------------------------------------------
// pow

/// `log(a)` as a double-double `(h, l)` for finite `a > 0`, to about `2^-63` absolute:
/// `a = 2^k m b (1+s)/(1-s)` with `b` 1 or 1.5, `|s| < 0.102`, and
/// `log(a) = k ln2 + ln b + 2 atanh(s)`, `2 atanh(s) = 2s + s^3 P(s^2)`, `s` as a double-double.
fn log_dd<O: Ops>(m: &mut Emitter<O>, a: O::V) -> (O::V, O::V) {
    let (k, mant) = exponent_mantissa(m, a);
    // m in [sqrt3/2, sqrt3), then b = 1.5 above sqrt(3/2).
    let big = m.cmpc(Cc::GreaterThan, mant, 1.7320508075688772);
    let half = m.mulc(mant, 0.5);
    let mant = m.sel(big, half, mant);
    let k1 = m.addc(k, 1.0);
    let k = m.sel(big, k1, k);
    let b15 = m.cmpc(Cc::GreaterThan, mant, 1.224744871391589);
    let one_f = m.c(1.0);
    let base = m.csel(b15, 1.5, one_f);
    let zero = m.c(0.0);
    let lb_hi = m.csel(b15, LN1_5_HI, zero);
    let lb_lo = m.csel(b15, LN1_5_LO, zero);
    // s = (m - b)/(m + b) as sh + sl.
    let u = m.sub(mant, base); // exact
    let (vh, vl) = m.two_sum(mant, base);
    let sh = m.div(u, vh);
    let (ph, pl) = m.two_prod(sh, vh);
    let t = m.sub(u, ph);
    let t = m.sub(t, pl);
    let svl = m.mul(sh, vl);
    let t = m.sub(t, svl);
    let sl = m.div(t, vh);
    // 2 atanh(s) = 2s + (2/3) s^3 + s^5 P(s^2)
    //            = 2 sh + (2/3) sh^3 + [2 sl + 2 sh^2 sl + sh^5 P(sh^2)],
    // the first two terms as double-doubles (the cubic is up to 7e-4, so its rounding would
    // cost 2^-64 absolute, too much for |y log x| up to 745).
    let (z, zl) = m.two_prod(sh, sh);
    let (u, ul) = m.two_prod(sh, z);
    let szl = m.mul(sh, zl);
    let ul = m.add(ul, szl);
    let c23 = m.c(TWO_THIRDS_HI);
    let (c3, c3l) = m.two_prod(u, c23);
    let t = m.mulc(u, TWO_THIRDS_LO);
    let c3l = m.add(c3l, t);
    let t = m.mul(ul, c23);
    let c3l = m.add(c3l, t);
    let p = m.poly(z, &ATANH_TAYLOR[1..]);
    let uz = m.mul(u, z);
    let rest = m.mul(uz, p);
    let zsl = m.mul(z, sl);
    let zsl = m.mulc(zsl, 2.0);
    let rest = m.add(rest, zsl);
    let sl2 = m.mulc(sl, 2.0);
    let sh2 = m.mulc(sh, 2.0);
    // Sum: k ln2_hi + ln b_hi + 2 sh + (2/3) sh^3 exactly (as a sum and errors), then the
    // small terms.
    let kh = m.mulc(k, LN2_HI);
    let (t1, e1) = m.two_sum(kh, lb_hi);
    let (t2, e2) = m.two_sum(t1, sh2);
    let (t3, e3) = m.two_sum(t2, c3);
    let kl = m.mulc(k, LN2_LO);
    let lo = m.add(kl, lb_lo);
    let lo = m.add(lo, sl2);
    let lo = m.add(lo, c3l);
    let lo = m.add(lo, e1);
    let lo = m.add(lo, e2);
    let lo = m.add(lo, e3);
    let lo = m.add(lo, rest);
    m.fast_two_sum(t3, lo)
}

/// `x ^ y`; see [`powf`].
fn pow<O: Ops>(m: &mut Emitter<O>, x: O::V, y: O::V) -> O::V {
    let ax = m.abs(x);
    // |x|^y = exp(y log|x|), y log|x| as a double-double.
    let (h, l) = log_dd(m, ax);
    let is_zero = m.cmpc(Cc::Equal, ax, 0.0);
    let h = m.csel(is_zero, f64::NEG_INFINITY, h);
    let is_inf = m.cmpc(Cc::Equal, ax, f64::INFINITY);
    let h = m.csel(is_inf, f64::INFINITY, h);
    let (p, pe) = m.two_prod(y, h);
    let yl = m.mul(y, l);
    let pl = m.add(pe, yl);
    // Far out of range (or inf, NaN), the low half is meaningless: drop it.
    // (|y| >= 1e300 with |p| in range means |x| = 1, where Dekker's split of y overflows.)
    let ap = m.abs(p);
    let in_range = m.cmpc(Cc::LessThan, ap, 1024.0);
    let ay = m.abs(y);
    let y_split = m.cmpc(Cc::LessThan, ay, 1e300);
    let in_range = m.and(in_range, y_split);
    let zero = m.c(0.0);
    let pl = m.sel(in_range, pl, zero);
    let e = exp_parts(m, p, Some(pl));
    let mag = m.scale(e.y, e.k);
    // Integer and odd y (every |y| >= 2^52 is an integer, every |y| >= 2^53 even).
    let two52 = m.c(4503599627370496.0);
    let t = m.add(ay, two52);
    let r = m.sub(t, two52);
    let exact = m.cmp(Cc::Equal, r, ay);
    let huge = m.cmpc(Cc::GreaterThanOrEqual, ay, 4503599627370496.0);
    let is_int = m.or(exact, huge);
    let hy = m.mulc(ay, 0.5);
    let t = m.add(hy, two52);
    let hr = m.sub(t, two52);
    let half_frac = m.cmp(Cc::NotEqual, hr, hy);
    let below = m.cmpc(Cc::LessThan, ay, 9007199254740992.0);
    let odd = m.and(is_int, half_frac);
    let odd = m.and(odd, below);
    // Sign: negative x (sign bit, so -0 and -inf too) to an odd power.
    let one = m.c(1.0);
    let sx = m.copysign(one, x);
    let x_neg = m.cmpc(Cc::LessThan, sx, 0.0);
    let flip = m.and(x_neg, odd);
    let nmag = m.neg(mag);
    let r = m.sel(flip, nmag, mag);
    // NaN: a NaN operand, or finite x < 0 to a non-integer power.
    let neg_finite = m.cmpc(Cc::LessThan, x, 0.0);
    let not_ninf = m.cmpc(Cc::NotEqual, x, f64::NEG_INFINITY);
    let neg_finite = m.and(neg_finite, not_ninf);
    // y neither NaN nor an integer: `not_nan & !is_int`, which is `not_nan ^ is_int` since
    // every integer is not NaN (there is no `not` that works on both kinds of condition).
    let not_nan = m.cmp(Cc::Equal, ay, ay);
    let non_int = m.bxor(not_nan, is_int);
    let nan_case = m.and(neg_finite, non_int);
    let uno = m.cmp(Cc::Unordered, x, y);
    let nan_case = m.or(nan_case, uno);
    let r = m.csel(nan_case, f64::NAN, r);
    // Ones: (-1)^±inf, 1^y, x^±0.
    let unit = m.cmpc(Cc::Equal, ax, 1.0);
    let y_inf = m.cmpc(Cc::Equal, ay, f64::INFINITY);
    let unit_inf = m.and(unit, y_inf);
    let x_one = m.cmpc(Cc::Equal, x, 1.0);
    let y_zero = m.cmpc(Cc::Equal, y, 0.0);
    let ones = m.or(unit_inf, x_one);
    let ones = m.or(ones, y_zero);
    m.csel(ones, 1.0, r)
}
