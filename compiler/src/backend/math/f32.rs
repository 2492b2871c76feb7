//! The language's functions in f32 arithmetic, over [`Ops`]: fast, not correctly rounded.
//!
//! [`apply`] computes `f(x)` for a [`Func`], lane-wise. Like [`super::f64`] (the f64
//! library), the code is branch-free (every path computed, the right one picked with
//! `select`), uses no calls, no `fma`, no conversion and no `nearest`, so scalar and vector
//! code, and every backend, give the same bits (NaN payloads aside). Integers are rounded with
//! the magic number `1.5 * 2^23` (adding it leaves the integer, two's complement, in the low
//! bits), and `2^k` is built from its bits.
//!
//! Accuracy is measured by `tests/math_f32_ulp.rs` (≥ 100k points per function, scalar and
//! `F32X4`): the largest distance, in f32 ulp, from `Func::eval(x as f64) as f32`:
//!
//! | function | method | max ulp |
//! |---|---|---|
//! | exp | `x = k ln2 + r` (Cody–Waite, 2 parts), Cephes' degree-6 `expf` polynomial, `2^k` as two normal factors (gradual underflow rounds once) | 1 |
//! | log | `x = 2^k m` from the bits (subnormals scaled by `2^23`), `m` in `[sqrt2/2, sqrt2)`, musl's `logf` kernel in `s = f/(2+f)` | 1 |
//! | sin, cos | `x = n pi/2 + r`, `pi/2` in five parts (the first four short, so `n * part` is exact for `|n| < 2^13`), Cephes' `sinf`/`cosf` kernels, quadrant from the integer's bits | 2 (`|x| <= 1e4`) |
//! | tanh | `x + x^3 P(x^2)` (Cephes) for `|x| < 0.625`; `(1 - e)/(1 + e)`, `e = exp(-2|x|)` above (`2|x|` clamped to 80, so `2^k` is one normal factor; logcosh's `e`, so the two share it); sign from the bits | 1 |
//! | sinh | `x + x^3 P(x^2)` (Cephes) for `|x| < 1`; `e - 1/(4e)`, `e = exp(|x|)/2` (scaled by `2^(k-1)`, so it overflows only where `sinh` does) | 1 |
//! | cosh | `e + 1/(4e)` | 1 |
//! | sigmoid | `1/(1+e)` for `x >= 0`, `e/(1+e)` below, `e = exp(-|x|)` | 2 |
//! | softplus | `max(x, 0) + log1p(exp(-|x|))`, `log1p(y) = log(u) - ((u-1)-y)/u`, `u = 1+y` | 2 |
//! | logcosh | `x^2/2 (1 + x^2 R(x^2))` (Chebyshev fit, degree 4) for `|x| < ln 2`; `(|x| - ln2_hi) + (log1p(exp(-2|x|)) - ln2_lo)` above | 2 (vs an exact reference; see below) |
//! | abs, sqrt, relu, sign, step | `fabs`, `sqrt`, selects | 0 |
//!
//! For logcosh the reference is `log(cosh(x))` computed accurately in f64 (`Func::eval`'s
//! formula cancels near 0, where it is off by far more than an f32 ulp).
//!
//! `sin` and `cos` beyond `|x| = 1e4`: `n * part` stops being exact and the absolute error
//! grows with `|x|` (measured: 1e-6 up to 1e5, 3e-2 up to 1e6, meaningless beyond); for
//! `|x| >= 2^22` the argument is replaced by 0, so the results are `sin 0 = 0` and
//! `cos 0 = 1`. Results stay in `[-1, 1]` always, and `±inf` gives NaN.
//!
//! Special values: NaN propagates through every function (`sign`, `step`, `relu` included, where
//! `Func::eval` gives 0). `exp` overflows to `inf` and underflows through the subnormals to 0;
//! `log(±0) = -inf`, `log(x < 0) = NaN`, `log(inf) = inf`; `tanh(±inf) = ±1`,
//! `sigmoid(-inf) = 0`, `softplus(x) = x` for large `x`; `sinh`/`cosh` overflow only where
//! the true value does. Odd functions keep the sign of zero; `sign(±0) = step(±0) = +0`,
//! `relu(-0) = -0`, as in [`super::f64`].

// The coefficients are written as published (Cephes, musl) or fitted, some with a digit more
// than an f32 holds.
#![allow(clippy::excessive_precision)]

use super::{Cc, Emitter, Ops};
use crate::ir::Func;

/// `f(x)` lane-wise, in f32 arithmetic: fast, at most 2 ulp
/// (f32) from the f64 std result rounded to f32 (sin/cos: for `|x| <= 1e4`; see the module
/// documentation beyond, and for logcosh's reference).
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
        Func::Abs => m.o.fabs(x),
        Func::Relu => {
            let neg = m.cmpc(Cc::LessThan, x, 0.0);
            m.csel(neg, 0.0, x)
        }
        Func::Sign => {
            let zero = m.c(0.0);
            let neg = m.cmpc(Cc::LessThan, x, 0.0);
            let r = m.csel(neg, -1.0, zero);
            let pos = m.cmpc(Cc::GreaterThan, x, 0.0);
            let r = m.csel(pos, 1.0, r);
            let nan = m.o.fcmp(Cc::Unordered, x, x);
            m.sel(nan, x, r)
        }
        Func::Step => {
            let zero = m.c(0.0);
            let pos = m.cmpc(Cc::GreaterThan, x, 0.0);
            let r = m.csel(pos, 1.0, zero);
            let nan = m.o.fcmp(Cc::Unordered, x, x);
            m.sel(nan, x, r)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Constants

/// `1.5 * 2^23` and its bits: `y + MAGIC` holds `round(y)` in its low bits, for `|y| < 2^22`.
const MAGIC: f32 = 12582912.0;
const MAGIC_BITS: i64 = 0x4b40_0000;
const SIGN_BIT: i64 = 0x8000_0000;

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// `ln 2` in two parts for the reduction of `exp` (Cephes): the first has 9 bits.
const EXP_LN2_HI: f32 = 0.693_359_4;
const EXP_LN2_LO: f32 = -2.121_944_4e-4;
/// Cephes `expf`: `exp(r) = 1 + r + r^2 P(r)`.
const EXP_P: [f32; 6] =
    [5.000_000_1e-1, 1.666_666_5e-1, 4.166_579_6e-2, 8.333_452e-3, 1.398_2e-3, 1.987_569_1e-4];

/// `ln 2` in two parts for `log` (musl): the first has 16 bits, so `k * LN2_HI` is exact.
const LOG_LN2_HI: f32 = 6.931_381_2e-1;
const LOG_LN2_LO: f32 = 9.058_000_6e-6;
/// musl `logf`.
const LG1: f32 = 0.666_666_6;
const LG2: f32 = 0.400_009_72;
const LG3: f32 = 0.284_987_87;
const LG4: f32 = 0.242_790_79;
const SQRT_HALF_BITS: i64 = 0x3f35_04f3;

/// `pi/2` in five parts; the first four have 8, 11, 11 and 11 bits, so `n * part` is exact
/// for `|n| < 2^13`, and the differences are exact where the result is small.
const PIO2: [f32; 5] = [
    f32::from_bits(0x3fc9_0000),
    f32::from_bits(0x39fd_a000),
    f32::from_bits(0x33a2_2000),
    f32::from_bits(0x2c34_6000),
    f32::from_bits(0x248d_3132),
];
const TWO_OVER_PI: f32 = std::f32::consts::FRAC_2_PI;
/// Beyond this, `sin`/`cos` take 0 for the argument (the reduction means nothing there).
const TRIG_LIMIT: f32 = 4194304.0;
/// Cephes `sinf`, `cosf` on `[-pi/4, pi/4]`.
const SIN_P: [f32; 3] = [-1.666_665_5e-1, 8.332_161e-3, -1.951_529_6e-4];
const COS_P: [f32; 3] = [4.166_664_6e-2, -1.388_731_6e-3, 2.443_315_7e-5];

/// Cephes `tanhf`: `tanh(x) = x + x^3 P(x^2)` for `|x| < 0.625`.
const TANH_P: [f32; 5] = [-3.333_328_2e-1, 1.333_144_2e-1, -5.373_971_6e-2, 2.063_908_9e-2, -5.704_988_7e-3];
/// Cephes `sinhf`: `sinh(x) = x + x^3 P(x^2)` for `|x| < 1`.
const SINH_P: [f32; 3] = [1.666_671_6e-1, 8.330_284e-3, 2.037_219_1e-4];
/// `logcosh(x) = x^2/2 (1 + x^2 R(x^2))` for `|x| < ln 2`: Chebyshev interpolation of `R` on
/// `[0, 0.48]` (its error adds under 0.2 ulp).
const LOGCOSH_R: [f32; 5] = [-0.166_666_66, 0.044_442_65, -0.013_461_623, 0.004_189_429_3, -0.000_998_807_1];
const LOGCOSH_SPLIT: f32 = LN2_HI;
const LN2_HI: f32 = std::f32::consts::LN_2;
const LN2_LO: f32 = (std::f64::consts::LN_2 - std::f32::consts::LN_2 as f64) as f32;

// ---------------------------------------------------------------------------------------------
// The helpers only the f32 functions use (the shared ones are `super::Emitter`'s)

impl<O: Ops> Emitter<'_, O> {
    fn iaddc(&mut self, a: O::V, c: i64) -> O::V {
        let c = self.ci(c);
        self.o.iadd(a, c)
    }
    /// `max(x, c)`, NaN propagating: a compare and a select, where `fmax` (which orders
    /// `-0 < +0` and propagates NaN in either operand) takes seven instructions on x86-64.
    fn at_least(&mut self, x: O::V, c: f32) -> O::V {
        let below = self.cmpc(Cc::LessThan, x, c);
        self.csel(below, c, x)
    }
    /// `min(x, c)`, NaN propagating (see [`Emitter::at_least`]).
    fn at_most(&mut self, x: O::V, c: f32) -> O::V {
        let above = self.cmpc(Cc::GreaterThan, x, c);
        self.csel(above, c, x)
    }
    /// `r | sign(s)`, for `r` with its sign bit clear.
    fn or_sign(&mut self, r: O::V, s: O::V) -> O::V {
        let sb = self.bits(s);
        let sb = self.bandc(sb, SIGN_BIT);
        let rb = self.bits(r);
        let rb = self.o.bor(rb, sb);
        self.float(rb)
    }
    /// `2^k` for an integer `k` (not an integer-valued float) in `[-126, 127]`.
    fn pow2_int(&mut self, k: O::V) -> O::V {
        let e = self.iaddc(k, 127);
        let e = self.o.shl(e, 23);
        self.float(e)
    }
}

// ---------------------------------------------------------------------------------------------
// exp and log

/// `exp(x) = 2^k p`, `p` in about `[0.7, 1.42]`, for `|x| < 2^21`: `(p, k)` with `k` an integer
/// of the shape. NaN gives NaN `p`.
fn exp_parts<O: Ops>(m: &mut Emitter<O>, x: O::V) -> (O::V, O::V) {
    let y = m.mulc(x, LOG2E);
    let t = m.addc(y, MAGIC);
    let kf = m.addc(t, -MAGIC);
    let tb = m.bits(t);
    let k = m.iaddc(tb, -MAGIC_BITS);
    let hi = m.mulc(kf, EXP_LN2_HI);
    let r = m.sub(x, hi);
    let lo = m.mulc(kf, EXP_LN2_LO);
    let r = m.sub(r, lo);
    let z = m.mul(r, r);
    let p = m.poly(r, &EXP_P);
    let p = m.mul(p, z);
    let p = m.add(p, r);
    let p = m.addc(p, 1.0);
    (p, k)
}

/// `p 2^k` for `k` in `[-252, 254]`, rounded once: `2^k` as two normal factors.
fn scale2<O: Ops>(m: &mut Emitter<O>, p: O::V, k: O::V) -> O::V {
    let k1 = m.o.sshr(k, 1);
    let k2 = m.o.isub(k, k1);
    let s1 = m.pow2_int(k1);
    let s2 = m.pow2_int(k2);
    let p = m.mul(p, s1);
    m.mul(p, s2)
}

/// `exp(x)` for `x` clamped to `[lo, hi]` (`lo >= -104`, `hi <= 89.5`), NaN propagating.
fn exp_clamped<O: Ops>(m: &mut Emitter<O>, x: O::V, lo: Option<f32>, hi: Option<f32>) -> O::V {
    let mut x = x;
    if let Some(lo) = lo {
        x = m.at_least(x, lo);
    }
    if let Some(hi) = hi {
        x = m.at_most(x, hi);
    }
    let (p, k) = exp_parts(m, x);
    scale2(m, p, k)
}

/// `exp(x)`: clamped to `[-104, 89]` (0 and inf there), NaN propagating.
fn exp<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    exp_clamped(m, x, Some(-104.0), Some(89.0))
}

/// musl's `logf` kernel: `log(2^k (1 + f))` for `f` in `[sqrt2/2 - 1, sqrt2 - 1)`, with
/// `k ln2_hi` and `k ln2_lo` given.
fn log_kernel<O: Ops>(m: &mut Emitter<O>, f: O::V, k_hi: O::V, k_lo: O::V) -> O::V {
    let two_f = m.addc(f, 2.0);
    let s = m.div(f, two_f);
    let z = m.mul(s, s);
    let w = m.mul(z, z);
    let t1 = m.mulc(w, LG4);
    let t1 = m.addc(t1, LG2);
    let t1 = m.mul(w, t1);
    let t2 = m.mulc(w, LG3);
    let t2 = m.addc(t2, LG1);
    let t2 = m.mul(z, t2);
    let r = m.add(t2, t1);
    let hf = m.mulc(f, 0.5);
    let hfsq = m.mul(hf, f);
    let a = m.add(hfsq, r);
    let a = m.mul(s, a);
    let a = m.add(a, k_lo);
    let a = m.sub(a, hfsq);
    let a = m.add(a, f);
    m.add(a, k_hi)
}

fn log<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let sub = m.cmpc(Cc::LessThan, x, f32::MIN_POSITIVE);
    let scaled = m.mulc(x, 8388608.0);
    let xs = m.sel(sub, scaled, x);
    let bits = m.bits(xs);
    let i = m.iaddc(bits, -SQRT_HALF_BITS);
    let k = m.o.sshr(i, 23);
    let mb = m.bandc(i, 0x007f_ffff);
    let mb = m.iaddc(mb, SQRT_HALF_BITS);
    let mf = m.float(mb);
    let f = m.addc(mf, -1.0);
    // k as a float, by the magic number, less 23 for the scaled subnormals.
    let kb = m.iaddc(k, MAGIC_BITS);
    let kf = m.float(kb);
    let kf = m.addc(kf, -MAGIC);
    let zero = m.c(0.0);
    let adj = m.csel(sub, 23.0, zero);
    let kf = m.sub(kf, adj);
    let k_hi = m.mulc(kf, LOG_LN2_HI);
    let k_lo = m.mulc(kf, LOG_LN2_LO);
    let r = log_kernel(m, f, k_hi, k_lo);
    let is_zero = m.cmpc(Cc::Equal, x, 0.0);
    let r = m.csel(is_zero, f32::NEG_INFINITY, r);
    let is_inf = m.cmpc(Cc::Equal, x, f32::INFINITY);
    let r = m.csel(is_inf, f32::INFINITY, r);
    let bad = m.cmpc(Cc::UnorderedOrLessThan, x, 0.0);
    m.csel(bad, f32::NAN, r)
}

/// `log1p(y)` for `y` in `[0, 1]` (or NaN): `log(u) - ((u - 1) - y)/u`, `u = 1 + y`.
fn log1p_unit<O: Ops>(m: &mut Emitter<O>, y: O::V) -> O::V {
    let u = m.addc(y, 1.0);
    let big = m.cmpc(Cc::GreaterThan, u, std::f32::consts::SQRT_2);
    let half = m.mulc(u, 0.5);
    let mm = m.sel(big, half, u);
    let f = m.addc(mm, -1.0);
    let zero = m.c(0.0);
    let k_hi = m.csel(big, LOG_LN2_HI, zero);
    let k_lo = m.csel(big, LOG_LN2_LO, zero);
    let l = log_kernel(m, f, k_hi, k_lo);
    let um1 = m.addc(u, -1.0);
    let c = m.sub(um1, y);
    let c = m.div(c, u);
    m.sub(l, c)
}

// ---------------------------------------------------------------------------------------------
// sin and cos

fn sin_cos<O: Ops>(m: &mut Emitter<O>, x: O::V, cos: bool) -> O::V {
    // Far out, 0 for the argument (inf: NaN).
    let ax = m.o.fabs(x);
    let far = m.cmpc(Cc::GreaterThanOrEqual, ax, TRIG_LIMIT);
    let zero = m.sub(x, x);
    let x = m.sel(far, zero, x);

    let y = m.mulc(x, TWO_OVER_PI);
    let t = m.addc(y, MAGIC);
    let n = m.addc(t, -MAGIC);
    let q = m.bits(t);
    let mut r = x;
    for part in PIO2 {
        let p = m.mulc(n, part);
        r = m.sub(r, p);
    }

    let z = m.mul(r, r);
    // sin(r) = r + r z S(z)
    let s = m.poly(z, &SIN_P);
    let rz = m.mul(r, z);
    let s = m.mul(rz, s);
    let s = m.add(r, s);
    // cos(r) = 1 - z/2 + z^2 C(z)
    let c = m.poly(z, &COS_P);
    let zz = m.mul(z, z);
    let c = m.mul(zz, c);
    let hz = m.mulc(z, 0.5);
    let c1 = m.csub(1.0, hz);
    let c = m.add(c1, c);

    let q = if cos { m.iaddc(q, 1) } else { q };
    let odd = m.bandc(q, 1);
    let zero_i = m.ci(0);
    let odd = m.o.ine(odd, zero_i);
    let r = m.sel(odd, c, s);
    // Negate in quadrants 2 and 3: bit 1 of q to the sign bit.
    let neg = m.bandc(q, 2);
    let neg = m.o.shl(neg, 30);
    let rb = m.bits(r);
    let rb = m.o.bxor(rb, neg);
    let r = m.float(rb);
    if cos {
        r
    } else {
        // sin(-0) = -0 (the polynomial gives +0).
        let is_zero = m.cmpc(Cc::Equal, x, 0.0);
        m.sel(is_zero, x, r)
    }
}

// ---------------------------------------------------------------------------------------------
// Hyperbolic functions

fn tanh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.o.fabs(x);
    // Small: a + a z P(z).
    let z = m.mul(a, a);
    let p = m.poly(z, &TANH_P);
    let az = m.mul(a, z);
    let p = m.mul(az, p);
    let small = m.add(a, p);
    // Large: (1 - e)/(1 + e), e = exp(-2a): the same instructions as logcosh's, so a kernel
    // that needs both of one argument computes the exponential once (Cranelift merges them).
    let e = exp_minus_twice(m, a);
    let d = m.addc(e, 1.0);
    let n = m.csub(1.0, e);
    let large = m.div(n, d);
    let is_small = m.cmpc(Cc::LessThan, a, 0.625);
    let r = m.sel(is_small, small, large);
    m.or_sign(r, x)
}

/// `exp(-2a)` for `a >= 0` (or NaN), with `2a` clamped to 80: about `1.8e-35` there, far
/// below what either user (`1 - e` in tanh, `log1p(e)` beside `a - ln2` in logcosh) can see,
/// and a normal number, so `2^k` is one factor, not [`scale2`]'s two.
fn exp_minus_twice<O: Ops>(m: &mut Emitter<O>, a: O::V) -> O::V {
    let a2 = m.add(a, a);
    let na2 = m.o.fneg(a2);
    let x = m.at_least(na2, -80.0);
    let (p, k) = exp_parts(m, x);
    let s = m.pow2_int(k);
    m.mul(p, s)
}

/// `exp(a)/2` for `a >= 0` (or NaN), overflowing only where it should (`a` clamped to 89.5).
fn half_exp<O: Ops>(m: &mut Emitter<O>, a: O::V) -> O::V {
    let a = m.at_most(a, 89.5);
    let (p, k) = exp_parts(m, a);
    let k = m.iaddc(k, -1);
    scale2(m, p, k)
}

fn sinh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.o.fabs(x);
    let z = m.mul(a, a);
    let p = m.poly(z, &SINH_P);
    let az = m.mul(a, z);
    let p = m.mul(az, p);
    let small = m.add(a, p);
    let e = half_exp(m, a);
    let quarter = m.c(0.25);
    let inv = m.div(quarter, e);
    let large = m.sub(e, inv);
    let is_small = m.cmpc(Cc::LessThan, a, 1.0);
    let r = m.sel(is_small, small, large);
    m.or_sign(r, x)
}

fn cosh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.o.fabs(x);
    let e = half_exp(m, a);
    let quarter = m.c(0.25);
    let inv = m.div(quarter, e);
    m.add(e, inv)
}

fn sigmoid<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.o.fabs(x);
    let na = m.o.fneg(a);
    let e = exp_clamped(m, na, Some(-104.0), None);
    let d = m.addc(e, 1.0);
    let pos = m.cmpc(Cc::GreaterThanOrEqual, x, 0.0);
    let num = m.csel(pos, 1.0, e);
    m.div(num, d)
}

fn softplus<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.o.fabs(x);
    let na = m.o.fneg(a);
    let e = exp_clamped(m, na, Some(-104.0), None);
    let l = log1p_unit(m, e);
    let zero = m.c(0.0);
    let pos = m.o.fmax(x, zero);
    m.add(pos, l)
}

fn logcosh<O: Ops>(m: &mut Emitter<O>, x: O::V) -> O::V {
    let a = m.o.fabs(x);
    // Small: h (1 + z R(z)), h = x^2/2 rounded once.
    let z = m.mul(a, a);
    let ha = m.mulc(a, 0.5);
    let h = m.mul(ha, a);
    let r = m.poly(z, &LOGCOSH_R);
    let hz = m.mul(h, z);
    let r = m.mul(hz, r);
    let small = m.add(h, r);
    // Large: (a - ln2_hi) + (log1p(exp(-2a)) - ln2_lo).
    let e = exp_minus_twice(m, a);
    let l = log1p_unit(m, e);
    let l = m.addc(l, -LN2_LO);
    let b = m.addc(a, -LN2_HI);
    let large = m.add(b, l);
    let is_small = m.cmpc(Cc::LessThan, a, LOGCOSH_SPLIT);
    m.sel(is_small, small, large)
}
