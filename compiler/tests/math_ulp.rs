//! Accuracy of the Cranelift math library (`backend::cranelift::math`) against Rust's `f64`
//! functions, scalar and `F64X2`, through a small JIT harness.
//!
//! Each function is compiled twice: a scalar `extern "C" fn(f64) -> f64` and a vector
//! `extern "C" fn(*const f64, *mut f64)` that loads two lanes, applies `emit` and stores two
//! lanes. Both are verified, then swept over about 200k points (uniform on a few ranges,
//! log-spaced magnitudes of both signs, boundaries, subnormals, special values). Checked:
//! - the largest distance in ulp (ordered bits) from std, through `Func::eval` (NaN for NaN),
//!   against a bound per function (not for logcosh, where `Func::eval` cancels);
//! - the largest error in ulp from an exact double-double reference, where there is one;
//! - the sign of zero results;
//! - the vector results equal the scalar ones bit for bit (NaN payloads aside);
//! - the f64 results rounded to f32 are within 1 f32 ulp of the reference rounded to f32;
//! - `powf` the same way on a grid of `(x, y)`, special cases included;
//! - `sin` and `cos` far out (printed by decade);
//! - baseline x86-64 (SSE2) and the host's features give the same bits.
//!
//! `cargo test -p hsc --test math_ulp -- --nocapture` prints the tables.

use std::collections::BTreeMap;
use std::fmt::Write as _;

mod common;

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, types};
use hsc::backend::cranelift::math;
use hsc::ir::Func;

use common::jit::{Jit, every_func};

/// The bound asserted on the largest ulp distance from std (`Func::eval`), per function. Not
/// for logcosh, where `Func::eval`'s formula cancels (it is bounded against the exact value).
fn bound(f: Func) -> u64 {
    match f {
        Func::Sqrt | Func::Abs | Func::Relu | Func::Sign | Func::Step => 0,
        Func::Logcosh => u64::MAX,
        _ => 2,
    }
}

// ---------------------------------------------------------------------------------------------
// The JIT harness

type Scalar = extern "C" fn(f64) -> f64;
type Vector = extern "C" fn(*const f64, *mut f64);
type Scalar2 = extern "C" fn(f64, f64) -> f64;
type Vector2 = extern "C" fn(*const f64, *const f64, *mut f64);

/// `emit(f)` as a scalar function and as a two-lane function.
fn define_unary(jit: &mut Jit, f: Func) -> (cranelift_module::FuncId, cranelift_module::FuncId) {
    let ptr = jit.pointer_type();
    let (s, _) = jit.define(&format!("{}_f64", f.name()), &[types::F64], &[types::F64], |b, args| {
        vec![math::emit(b, f, args[0])]
    });
    let (v, _) = jit.define(&format!("{}_f64x2", f.name()), &[ptr, ptr], &[], |b, args| {
        let flags = MemFlagsData::new().with_notrap();
        let x = b.ins().load(types::F64X2, flags, args[0], 0);
        let y = math::emit(b, f, x);
        b.ins().store(flags, y, args[1], 0);
        vec![]
    });
    (s, v)
}

/// `powf` as a scalar function and as a two-lane function.
fn define_pow(jit: &mut Jit) -> (cranelift_module::FuncId, cranelift_module::FuncId) {
    let ptr = jit.pointer_type();
    let (s, _) = jit.define("pow_f64", &[types::F64, types::F64], &[types::F64], |b, args| {
        vec![math::powf(b, args[0], args[1])]
    });
    let (v, _) = jit.define("pow_f64x2", &[ptr, ptr, ptr], &[], |b, args| {
        let flags = MemFlagsData::new().with_notrap();
        let x = b.ins().load(types::F64X2, flags, args[0], 0);
        let y = b.ins().load(types::F64X2, flags, args[1], 0);
        let r = math::powf(b, x, y);
        b.ins().store(flags, r, args[2], 0);
        vec![]
    });
    (s, v)
}

struct Compiled {
    _jit: Jit,
    unary: BTreeMap<Func, (Scalar, Vector)>,
    pow: (Scalar2, Vector2),
}

fn compile_all(native: bool) -> Compiled {
    let mut jit = Jit::new(native);
    let ids: Vec<_> = every_func().map(|f| (f, define_unary(&mut jit, f))).collect();
    let pow_ids = define_pow(&mut jit);
    jit.finalize();
    // SAFETY: each pointer is a finalized function of the signature it is cast to, and `jit`
    // (which owns the code) lives as long as the pointers, in `Compiled`.
    let unary = ids
        .into_iter()
        .map(|(f, (s, v))| unsafe {
            (
                f,
                (
                    std::mem::transmute::<*const u8, Scalar>(jit.ptr(s)),
                    std::mem::transmute::<*const u8, Vector>(jit.ptr(v)),
                ),
            )
        })
        .collect();
    let pow = unsafe {
        (
            std::mem::transmute::<*const u8, Scalar2>(jit.ptr(pow_ids.0)),
            std::mem::transmute::<*const u8, Vector2>(jit.ptr(pow_ids.1)),
        )
    };
    Compiled { _jit: jit, unary, pow }
}

// ---------------------------------------------------------------------------------------------
// Ulps

/// The bits of `x` mapped to integers in the order of the reals (`-0` and `+0` both 0).
fn ordered(x: f64) -> i64 {
    let b = x.to_bits() as i64;
    if b < 0 { -(b & i64::MAX) } else { b }
}

/// Distance in ulps between two doubles, in the ordered representation; NaN and NaN are equal,
/// NaN and a number are infinitely far.
fn ulps(a: f64, b: f64) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => (ordered(a) as i128 - ordered(b) as i128).unsigned_abs() as u64,
        _ => u64::MAX,
    }
}

fn ordered32(x: f32) -> i32 {
    let b = x.to_bits() as i32;
    if b < 0 { -(b & i32::MAX) } else { b }
}

fn ulps32(a: f32, b: f32) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => (ordered32(a) as i64 - ordered32(b) as i64).unsigned_abs(),
        _ => u64::MAX,
    }
}

/// The error of `x` in ulps of the exact value `r = hi + lo` (a double-double), signed; the ulp
/// is the spacing of doubles just above `|hi|`.
fn ulps_dd(x: f64, r: Dd) -> f64 {
    if x.is_nan() && r.0.is_nan() {
        return 0.0;
    }
    if x == r.0 && (r.1 == 0.0 || x.is_infinite()) {
        return 0.0;
    }
    if !x.is_finite() || !r.0.is_finite() {
        return f64::INFINITY;
    }
    let a = r.0.abs();
    let ulp = if a == f64::MAX { a - a.next_down() } else { a.next_up() - a };
    ((x - r.0) - r.1) / ulp
}

// ---------------------------------------------------------------------------------------------
// Double-double arithmetic for the exact references

#[derive(Clone, Copy, Debug)]
struct Dd(f64, f64);

fn two_sum(a: f64, b: f64) -> Dd {
    let s = a + b;
    let bb = s - a;
    Dd(s, (a - (s - bb)) + (b - bb))
}

fn two_prod(a: f64, b: f64) -> Dd {
    let p = a * b;
    Dd(p, a.mul_add(b, -p))
}

impl Dd {
    fn from(x: f64) -> Dd {
        Dd(x, 0.0)
    }
    fn add(self, o: Dd) -> Dd {
        let s = two_sum(self.0, o.0);
        let t = two_sum(self.1, o.1);
        let s = two_sum(s.0, s.1 + t.0);
        two_sum(s.0, s.1 + t.1)
    }
    fn neg(self) -> Dd {
        Dd(-self.0, -self.1)
    }
    fn sub(self, o: Dd) -> Dd {
        self.add(o.neg())
    }
    fn mul(self, o: Dd) -> Dd {
        let p = two_prod(self.0, o.0);
        two_sum(p.0, p.1 + (self.0 * o.1 + self.1 * o.0))
    }
    fn div(self, o: Dd) -> Dd {
        let q1 = self.0 / o.0;
        let r = self.sub(o.mul(Dd::from(q1)));
        let q2 = r.0 / o.0;
        let r = r.sub(o.mul(Dd::from(q2)));
        let q3 = r.0 / o.0;
        two_sum(q1, q2).add(Dd::from(q3))
    }
}

const LN2_DD: Dd = Dd(std::f64::consts::LN_2, 2.3190468138462996e-17);

/// `log1p(y)` for `0 <= y`, `y` not too large, as `2 atanh(y/(2+y))`.
fn log1p_dd(y: Dd) -> Dd {
    let z = y.div(Dd::from(2.0).add(y));
    let z2 = z.mul(z);
    let mut term = z;
    let mut sum = Dd::from(0.0);
    for k in 0..400 {
        let t = term.div(Dd::from((2 * k + 1) as f64));
        sum = sum.add(t);
        if t.0.abs() <= 1e-36 * sum.0.abs() {
            break;
        }
        term = term.mul(z2);
    }
    sum.add(sum)
}

/// `cosh(a) - 1` by its Taylor series, for moderate `a`.
fn cosh_m1_dd(a: f64) -> Dd {
    let a2 = two_prod(a, a);
    let mut term = a2.div(Dd::from(2.0));
    let mut sum = Dd::from(0.0);
    let mut n = 1.0;
    loop {
        sum = sum.add(term);
        if term.0.abs() <= 1e-36 * sum.0.abs() || sum.0 == 0.0 {
            break;
        }
        term = term.mul(a2).div(Dd::from((2.0 * n + 1.0) * (2.0 * n + 2.0)));
        n += 1.0;
    }
    sum
}

/// `exp(x)`, to about `2^-85` relative: the Taylor series at `x/2^20`, squared 20 times.
/// Only for results in the normal range.
fn exp_exact(x: f64) -> Dd {
    let r = Dd::from(x / 1048576.0);
    let mut term = Dd::from(1.0);
    let mut sum = Dd::from(1.0);
    for n in 1..16 {
        term = term.mul(r).div(Dd::from(n as f64));
        sum = sum.add(term);
    }
    for _ in 0..20 {
        sum = sum.mul(sum);
    }
    sum
}

/// `log(x)` for finite `x > 0`: `x = 2^k m`, `m` in `[sqrt2/2, sqrt2)`, `k ln2 + log1p(m - 1)`.
fn log_exact(x: f64) -> Dd {
    let (mut m, mut k) = (x, 0);
    if m < f64::MIN_POSITIVE {
        m *= 2f64.powi(100);
        k -= 100;
    }
    let e = ((m.to_bits() >> 52) as i32) - 1023;
    m = f64::from_bits((m.to_bits() & ((1 << 52) - 1)) | (1023 << 52));
    k += e;
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        k += 1;
    }
    LN2_DD.mul(Dd::from(k as f64)).add(log1p_dd(Dd::from(m - 1.0)))
}

/// `sinh(a)` by its Taylor series, for moderate `a`.
fn sinh_taylor(a: f64) -> Dd {
    let a2 = two_prod(a, a);
    let mut term = Dd::from(a);
    let mut sum = Dd::from(0.0);
    let mut n = 1.0;
    loop {
        sum = sum.add(term);
        if term.0.abs() <= 1e-36 * sum.0.abs() || sum.0 == 0.0 {
            break;
        }
        term = term.mul(a2).div(Dd::from((2.0 * n) * (2.0 * n + 1.0)));
        n += 1.0;
    }
    sum
}

fn sinh_exact(x: f64) -> Dd {
    let a = x.abs();
    let r = if a < 1.0 {
        sinh_taylor(a)
    } else {
        let e = exp_exact(a).div(Dd::from(2.0));
        e.sub(Dd::from(0.25).div(e))
    };
    if x < 0.0 { r.neg() } else { r }
}

fn cosh_exact(x: f64) -> Dd {
    let a = x.abs();
    if a < 1.0 {
        return Dd::from(1.0).add(cosh_m1_dd(a));
    }
    let e = exp_exact(a).div(Dd::from(2.0));
    e.add(Dd::from(0.25).div(e))
}

fn tanh_exact(x: f64) -> Dd {
    let a = x.abs();
    let r = if a < 1.0 {
        sinh_taylor(a).div(Dd::from(1.0).add(cosh_m1_dd(a)))
    } else if a < 40.0 {
        let e2 = exp_exact(2.0 * a);
        e2.sub(Dd::from(1.0)).div(e2.add(Dd::from(1.0)))
    } else {
        Dd::from(1.0)
    };
    if x < 0.0 { r.neg() } else { r }
}

/// `logcosh(x)`, to about `2^-85` relative.
fn logcosh_exact(x: f64) -> Dd {
    let a = x.abs();
    if a < 1.0 {
        log1p_dd(cosh_m1_dd(a))
    } else if a < 300.0 {
        Dd::from(a).sub(LN2_DD).add(log1p_dd(exp_exact(-2.0 * a)))
    } else {
        Dd::from(a).sub(LN2_DD)
    }
}

fn sigmoid_exact(x: f64) -> Dd {
    let e = exp_exact(-x.abs());
    let d = Dd::from(1.0).add(e);
    if x >= 0.0 { Dd::from(1.0).div(d) } else { e.div(d) }
}

fn softplus_exact(x: f64) -> Dd {
    Dd::from(x.max(0.0)).add(log1p_dd(exp_exact(-x.abs())))
}

// ---------------------------------------------------------------------------------------------
// Points

/// A small deterministic generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
}

/// `n` doubles on each side of `x` (and `x`).
fn neighbours(x: f64, n: u64, out: &mut Vec<f64>) {
    let mut up = x;
    let mut down = x;
    out.push(x);
    for _ in 0..n {
        up = up.next_up();
        down = down.next_down();
        out.push(up);
        out.push(down);
    }
}

/// The points every function is swept over.
fn common_points(rng: &mut Rng) -> Vec<f64> {
    let mut v = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
    ];
    // Subnormals.
    for _ in 0..2000 {
        let x = f64::from_bits(rng.next() % (1u64 << 52));
        v.push(x);
        v.push(-x);
    }
    // Log-spaced magnitudes, both signs, 1e-300 to the largest double.
    let n = 40_000;
    for i in 0..n {
        let e = -300.0 + (308.25 + 300.0) * (i as f64 + rng.unit()) / n as f64;
        let x = 10f64.powf(e).min(f64::MAX);
        v.push(x);
        v.push(-x);
    }
    // Uniform on a few ranges.
    for (lo, hi, n) in
        [(-1.0, 1.0, 30_000), (-4.0, 4.0, 20_000), (-30.0, 30.0, 20_000), (-750.0, 750.0, 20_000)]
    {
        for _ in 0..n {
            v.push(rng.uniform(lo, hi));
        }
    }
    // Boundaries: overflow and underflow of exp, sinh and cosh, the thresholds of the methods.
    for x in [
        709.782712893384,
        -708.3964185322641,
        -745.1332191019411,
        -745.1332191019412,
        710.4758600739439,
        -710.4758600739439,
        22.0,
        44.0,
        1.0,
        0.34657359027997264,
        0.5 * std::f64::consts::LN_2,
        std::f64::consts::LN_2,
        1.5 * std::f64::consts::LN_2,
        38.0,
        19.0 * std::f64::consts::LN_2,
        56.0 * std::f64::consts::LN_2,
        36.0,
        37.0,
        711.0,
        746.0,
        1e-300,
        2.0f64.powi(-28),
        2.0f64.powi(-54),
    ] {
        neighbours(x, 200, &mut v);
        neighbours(-x, 200, &mut v);
    }
    v
}

/// Points for one function: the common ones and its own.
fn points(f: Func) -> Vec<f64> {
    let mut rng = Rng(0x5eed ^ f as u64);
    let mut v = common_points(&mut rng);
    match f {
        Func::Log => {
            for _ in 0..20_000 {
                v.push(rng.uniform(0.5, 2.0));
            }
            for _ in 0..10_000 {
                v.push(1.0 + rng.uniform(-1e-6, 1e-6));
            }
            neighbours(1.0, 2000, &mut v);
            neighbours(std::f64::consts::SQRT_2, 200, &mut v);
            neighbours(f64::MIN_POSITIVE, 200, &mut v);
        }
        Func::Sin | Func::Cos => {
            for _ in 0..40_000 {
                v.push(rng.uniform(-1e5, 1e5));
            }
            // Near multiples of pi/2, where the reduction cancels.
            for n in (1..63_662).step_by(13) {
                let x = n as f64 * std::f64::consts::FRAC_PI_2;
                neighbours(x, 1, &mut v);
            }
        }
        _ => {}
    }
    v
}

// ---------------------------------------------------------------------------------------------
// The sweeps

/// The largest distance of `ours` from `reference` over `xs`, and where.
struct Worst {
    ulps: u64,
    at: f64,
    ours: f64,
    reference: f64,
}

fn worst(xs: &[f64], ours: &[f64], reference: impl Fn(f64) -> f64) -> Worst {
    let mut w = Worst { ulps: 0, at: f64::NAN, ours: f64::NAN, reference: f64::NAN };
    for (&x, &y) in xs.iter().zip(ours) {
        let r = reference(x);
        let d = ulps(y, r);
        if d > w.ulps || w.at.is_nan() && d == w.ulps && !x.is_nan() {
            w = Worst { ulps: d, at: x, ours: y, reference: r };
        }
    }
    w
}

/// The same bits, or both NaN (whose sign and payload `fmin`, `fmax` and the arithmetic leave
/// unspecified, and which x86-64 sets differently in scalar and vector code).
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
}

/// Runs the scalar function on every point and checks the vector one against it, bit for bit.
fn run(s: Scalar, v: Vector, xs: &[f64]) -> Vec<f64> {
    let ys: Vec<f64> = xs.iter().map(|&x| s(x)).collect();
    for (pair, want) in xs.chunks(2).zip(ys.chunks(2)) {
        let input = [pair[0], *pair.get(1).unwrap_or(&pair[0])];
        let mut out = [0.0; 2];
        v(input.as_ptr(), out.as_mut_ptr());
        for (lane, &w) in want.iter().enumerate() {
            assert!(
                same(out[lane], w),
                "vector lane {lane} differs from scalar at {:e}: {:e} vs {:e}",
                input[lane],
                out[lane],
                w
            );
        }
    }
    ys
}

/// The reference of the table: Rust's f64 function, through `Func::eval`.
fn reference(f: Func, x: f64) -> f64 {
    f.eval(x)
}

/// Where ours is NaN-propagating and `Func::eval` is not.
fn reference_with_nan(f: Func, x: f64) -> f64 {
    if x.is_nan() { x } else { reference(f, x) }
}

/// The exact reference (to about `2^-85`), where there is one and where it is valid: finite
/// `x` and results in the normal range (elsewhere the tables use std alone).
fn exact(f: Func, x: f64) -> Option<Dd> {
    if !x.is_finite() {
        return None;
    }
    let r = match f {
        Func::Exp if x.abs() < 700.0 => exp_exact(x),
        Func::Log if x > 0.0 => log_exact(x),
        Func::Tanh => tanh_exact(x),
        Func::Sinh if x.abs() < 709.0 => sinh_exact(x),
        Func::Cosh if x.abs() < 709.0 => cosh_exact(x),
        Func::Sigmoid if x > -700.0 => sigmoid_exact(x),
        Func::Softplus if x > -700.0 => softplus_exact(x),
        Func::Logcosh => logcosh_exact(x),
        _ => return None,
    };
    (r.0.is_normal() || x == 0.0).then_some(r)
}

/// Where the distance from std is measured: sin and cos only to `|x| = 1e5` (see
/// `sin_cos_far_out` beyond).
fn compared_with_std(f: Func, x: f64) -> bool {
    !matches!(f, Func::Sin | Func::Cos) || x.is_nan() || x.abs() <= 1e5
}

/// The bound on the error against the exact reference, in ulp.
const EXACT_BOUND: f64 = 1.0;

#[test]
fn functions_are_accurate_and_vectors_agree() {
    let compiled = compile_all(true);
    let mut table = String::new();
    writeln!(table, "| function | points | max ulp vs std | at x | max ulp vs exact | at x | f32: max ulp |")
        .unwrap();
    writeln!(table, "|---|---|---|---|---|---|---|").unwrap();
    let mut failures = Vec::new();
    let mut logcosh_note = String::new();
    for f in every_func() {
        let (s, v) = compiled.unary[&f];
        let xs = points(f);
        let ys = run(s, v, &xs);

        // Against std (Func::eval), NaN for NaN.
        let (xs_std, ys_std): (Vec<f64>, Vec<f64>) =
            xs.iter().zip(&ys).filter(|(x, _)| compared_with_std(f, **x)).map(|(x, y)| (*x, *y)).unzip();
        let w = worst(&xs_std, &ys_std, |x| reference_with_nan(f, x));
        if w.ulps > bound(f) {
            failures.push(format!(
                "{}: {} ulp at {:e} (ours {:e}, std {:e})",
                f.name(),
                w.ulps,
                w.at,
                w.ours,
                w.reference
            ));
        }

        // Against the exact reference.
        let (mut max_exact, mut at_exact) = (0.0f64, f64::NAN);
        for (&x, &y) in xs.iter().zip(&ys) {
            if let Some(r) = exact(f, x) {
                let e = ulps_dd(y, r).abs();
                if e > max_exact {
                    (max_exact, at_exact) = (e, x);
                }
            }
        }
        if max_exact > EXACT_BOUND {
            failures.push(format!("{}: {max_exact} ulp from the exact value at {at_exact:e}", f.name()));
        }

        // Signs of zeros.
        for (&x, &y) in xs.iter().zip(&ys) {
            let r = reference(f, x);
            if r == 0.0 && y == 0.0 && r.is_sign_negative() != y.is_sign_negative() {
                failures.push(format!("{}({x:e}) = {y:e}, std {r:e}", f.name()));
            }
        }

        // f32: ours rounded to f32 within one f32 ulp of the reference rounded to f32.
        let xs32: Vec<f64> = xs
            .iter()
            .map(|&x| x as f32 as f64)
            .filter(|&x| !matches!(f, Func::Sin | Func::Cos) || x.is_nan() || x.abs() <= 1e5)
            .collect();
        let ys32 = run(s, v, &xs32);
        let (mut max32, mut at32) = (0, 0.0);
        for (&x, &y) in xs32.iter().zip(&ys32) {
            let r = match f {
                Func::Logcosh if x.is_finite() => logcosh_exact(x).0,
                _ => reference_with_nan(f, x),
            };
            let d = ulps32(y as f32, r as f32);
            if d > max32 {
                (max32, at32) = (d, x);
            }
        }
        if max32 > 1 {
            failures.push(format!("{} in f32: {max32} ulp at {at32:e}", f.name()));
        }

        if f == Func::Logcosh {
            // Func::eval against the exact value, for |x| >= 1 (below, it cancels).
            let (mut max_eval, mut at_eval) = (0.0f64, 0.0);
            let (mut max_ours, mut at_ours) = (0u64, 0.0);
            for (&x, &y) in xs.iter().zip(&ys) {
                if x.abs() >= 1.0 && x.is_finite() {
                    let e = ulps_dd(f.eval(x), logcosh_exact(x)).abs();
                    if e > max_eval {
                        (max_eval, at_eval) = (e, x);
                    }
                    let d = ulps(y, f.eval(x));
                    if d > max_ours {
                        (max_ours, at_ours) = (d, x);
                    }
                }
            }
            logcosh_note = format!(
                "logcosh vs Func::eval: all x {} ulp (at {:e}: eval cancels near 0); |x| >= 1: {max_ours} ulp \
                 (at {at_ours:e}), where Func::eval itself is {max_eval:.2} ulp from exact (at {at_eval:e})",
                w.ulps, w.at
            );
        }

        let exact_cols =
            if at_exact.is_nan() { "- | -".to_string() } else { format!("{max_exact:.4} | {at_exact:e}") };
        writeln!(table, "| {} | {} | {} | {:e} | {exact_cols} | {max32} |", f.name(), xs.len(), w.ulps, w.at)
            .unwrap();
    }
    println!("{table}");
    println!(
        "(sin, cos: |x| <= 1e5. Exact references: double-double evaluations good to about 2^-85, \
         for finite x with normal results.)\n{logcosh_note}\n"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// powf

/// A grid of special and ordinary `(x, y)` and random pairs, results near overflow and
/// underflow included.
fn pow_pairs() -> Vec<(f64, f64)> {
    let mut rng = Rng(0x90f);
    let mut xs = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        1.0,
        -1.0,
        0.5,
        -0.5,
        2.0,
        -2.0,
        10.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MAX,
        -f64::MAX,
        -f64::from_bits(1),
    ];
    for i in 0..200 {
        let e = -310.0 + 618.0 * (i as f64 + rng.unit()) / 200.0;
        xs.push(10f64.powf(e).min(f64::MAX));
    }
    for i in 0..100 {
        let e = -310.0 + 618.0 * (i as f64 + rng.unit()) / 100.0;
        xs.push(-(10f64.powf(e).min(f64::MAX)));
    }
    for k in 1..=53 {
        let d = 2f64.powi(-k);
        xs.extend([1.0 + d, 1.0 - d, -1.0 - d, -1.0 + d]);
    }
    for _ in 0..100 {
        xs.push(rng.uniform(0.0, 4.0));
    }
    let mut ys = vec![
        0.0,
        -0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        0.5,
        -0.5,
        1.5,
        -1.5,
        0.1,
        1e-300,
        -1e-300,
        f64::from_bits(1),
        1e300,
        -1e300,
        4503599627370496.0,
        4503599627370497.0,
        -4503599627370497.0,
        9007199254740992.0,
        9007199254740994.0,
        -9007199254740994.0,
        f64::MAX,
        f64::MIN,
    ];
    for n in -20..=20 {
        ys.push(n as f64);
    }
    for _ in 0..150 {
        ys.push(rng.uniform(-10.0, 10.0));
    }
    for i in 0..100 {
        let y = 10f64.powf(-5.0 + 10.0 * (i as f64 + rng.unit()) / 100.0);
        ys.extend([y, -y]);
    }
    let mut pairs: Vec<(f64, f64)> = xs.iter().flat_map(|&x| ys.iter().map(move |&y| (x, y))).collect();
    // Random pairs, including results near overflow and underflow.
    for _ in 0..50_000 {
        pairs.push((rng.uniform(0.0, 10.0), rng.uniform(-400.0, 400.0)));
        pairs.push((rng.uniform(0.5, 2.0), rng.uniform(-2500.0, 2500.0)));
        pairs.push((-rng.uniform(0.0, 10.0), (rng.uniform(-300.0, 300.0)).round()));
    }
    pairs
}

#[test]
fn powf_is_accurate_and_vectors_agree() {
    let compiled = compile_all(true);
    let (s, v) = compiled.pow;

    let pairs = pow_pairs();
    let mut worst = (0u64, 0.0, 0.0, 0.0, 0.0);
    let mut worst_moderate = (0u64, 0.0, 0.0);
    let mut zero_sign = Vec::new();
    for chunk in pairs.chunks(2) {
        let x = [chunk[0].0, chunk.get(1).unwrap_or(&chunk[0]).0];
        let y = [chunk[0].1, chunk.get(1).unwrap_or(&chunk[0]).1];
        let mut out = [0.0; 2];
        v(x.as_ptr(), y.as_ptr(), out.as_mut_ptr());
        for lane in 0..2 {
            let ours = s(x[lane], y[lane]);
            assert!(same(out[lane], ours), "vector lane differs at pow({:e}, {:e})", x[lane], y[lane]);
            let r = x[lane].powf(y[lane]);
            let d = ulps(ours, r);
            if d > worst.0 {
                worst = (d, x[lane], y[lane], ours, r);
            }
            // Moderate: |y log|x|| <= 100 and a normal result.
            if (y[lane] * x[lane].abs().ln()).abs() <= 100.0 && r.is_normal() && d > worst_moderate.0 {
                worst_moderate = (d, x[lane], y[lane]);
            }
            if r == 0.0 && ours == 0.0 && r.is_sign_negative() != ours.is_sign_negative() {
                zero_sign.push((x[lane], y[lane]));
            }
            // f32
            let (x32, y32) = (x[lane] as f32 as f64, y[lane] as f32 as f64);
            let d32 = ulps32(s(x32, y32) as f32, x32.powf(y32) as f32);
            assert!(d32 <= 1, "pow({x32:e}, {y32:e}) in f32: {d32} ulp");
        }
    }
    println!(
        "| powf | {} pairs | max {} ulp at ({:e}, {:e}): {:e} vs {:e} | with |y log x| <= 100, normal results: {} ulp at ({:e}, {:e}) |",
        pairs.len(),
        worst.0,
        worst.1,
        worst.2,
        worst.3,
        worst.4,
        worst_moderate.0,
        worst_moderate.1,
        worst_moderate.2
    );
    assert!(zero_sign.is_empty(), "sign of zero differs at {zero_sign:?}");
    assert!(
        worst.0 <= 2,
        "powf: {} ulp at ({:e}, {:e}): {:e} vs {:e}",
        worst.0,
        worst.1,
        worst.2,
        worst.3,
        worst.4
    );
}

/// Beyond `|x| = 1e5`, the accuracy of `sin` and `cos` by decade, printed and bounded: within
/// 2 ulp of std while the reduction is exact (`|x| < 1.05e8`, near multiples of `pi/2`
/// included), then about `|x| 2^-53` absolute, and in `[-1, 1]` always.
#[test]
fn sin_cos_far_out() {
    let compiled = compile_all(true);
    let mut rng = Rng(0xfa5);
    println!("| function | |x| from | to | max ulp | max abs error |");
    println!("|---|---|---|---|---|");
    for f in [Func::Sin, Func::Cos] {
        let (s, _) = compiled.unary[&f];
        for (lo, hi) in [(5, 6), (6, 7), (7, 8), (8, 9), (9, 10), (12, 13), (15, 300)] {
            let (mut max_ulp, mut max_abs) = (0u64, 0.0f64);
            let mut xs: Vec<f64> = (0..20_000)
                .map(|_| {
                    10f64.powf(rng.uniform(lo as f64, hi as f64))
                        * if rng.next() & 1 == 0 { 1.0 } else { -1.0 }
                })
                .collect();
            if hi <= 8 {
                // Near multiples of pi/2, where the reduction cancels most.
                for _ in 0..2000 {
                    let n = rng.uniform(10f64.powi(lo), 10f64.powi(hi)) / std::f64::consts::FRAC_PI_2;
                    neighbours(n.round() * std::f64::consts::FRAC_PI_2, 2, &mut xs);
                }
            }
            for x in xs {
                let (ours, r) = (s(x), f.eval(x));
                assert!(ours.abs() <= 1.0, "{}({x:e}) = {ours:e}", f.name());
                max_ulp = max_ulp.max(ulps(ours, r));
                max_abs = max_abs.max((ours - r).abs());
                if hi <= 8 {
                    assert!(ulps(ours, r) <= 2, "{}({x:e}): {ours:e} vs {r:e}", f.name());
                } else if hi <= 13 {
                    assert!(
                        (ours - r).abs() <= x.abs() * 2f64.powi(-51),
                        "{}({x:e}): {ours:e} vs {r:e}",
                        f.name()
                    );
                }
            }
            println!("| {} | 1e{lo} | 1e{hi} | {max_ulp} | {max_abs:.2e} |", f.name());
        }
        assert!(s(f64::INFINITY).is_nan() && s(f64::NEG_INFINITY).is_nan() && s(f64::NAN).is_nan());
    }
}

/// The same code on baseline x86-64 (SSE2 only) gives the same bits as with the host's
/// features (AVX-512 and FMA here): nothing depends on the ISA.
#[test]
fn results_do_not_depend_on_the_isa() {
    let native = compile_all(true);
    let baseline = compile_all(false);
    for f in every_func() {
        let (s1, v1) = native.unary[&f];
        let (s2, v2) = baseline.unary[&f];
        let xs = points(f);
        let y1 = run(s1, v1, &xs);
        let y2 = run(s2, v2, &xs);
        for ((x, a), b) in xs.iter().zip(&y1).zip(&y2) {
            assert!(same(*a, *b), "{}({x:e}): {a:e} native, {b:e} baseline", f.name());
        }
    }
    for (x, y) in pow_pairs() {
        let (a, b) = (native.pow.0(x, y), baseline.pow.0(x, y));
        assert!(same(a, b), "pow({x:e}, {y:e}): {a:e} native, {b:e} baseline");
    }
}
