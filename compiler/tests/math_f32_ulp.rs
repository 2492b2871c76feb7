//! Accuracy of the f32 math library (`backend::math::f32`, through Cranelift), scalar `F32` and `F32X4`,
//! through a small JIT harness (as `tests/math_ulp.rs` does for the f64 one).
//!
//! Each function is compiled as `extern "C" fn(f32) -> f32` and as a four-lane function, and
//! swept over more than 100k points (special values, subnormals, log-spaced magnitudes of both
//! signs over the whole f32 range, uniform on a few ranges, boundaries). Checked:
//! - the largest distance in f32 ulp from `Func::eval(x as f64) as f32` (NaN for NaN) is at
//!   most 2 (sin, cos: for `|x| <= 1e4`); for logcosh the reference is `log(cosh x)` computed
//!   accurately in f64 (`log1p(2 sinh(x/2)^2)`), since `Func::eval` cancels near 0;
//! - the vector results equal the scalar ones bit for bit (NaNs equal);
//! - the sign of zero results.
//!
//! `cargo test -p hsc --test math_f32_ulp -- --nocapture` prints the table, with the number of
//! IR instructions of each function (scalar) against the f64 library's.

use std::collections::BTreeMap;

mod common;

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, types};
use hsc::backend::cranelift::math;
use hsc::ir::Func;

use common::jit::{Jit, every_func};

const BOUND: u64 = 2;

type Scalar = extern "C" fn(f32) -> f32;
type Vector = extern "C" fn(*const f32, *mut f32);

struct Compiled {
    _jit: Jit,
    unary: BTreeMap<Func, (Scalar, Vector)>,
    /// IR instructions: f32 scalar, f64 scalar (the f64 library).
    counts: BTreeMap<Func, (usize, usize)>,
}

fn compile_all() -> Compiled {
    let mut jit = Jit::new(true);
    let ptr = jit.pointer_type();
    let mut ids = Vec::new();
    let mut counts = BTreeMap::new();
    for f in every_func() {
        let (s, n32) = jit.define(&format!("{}_f32", f.name()), &[types::F32], &[types::F32], |b, a| {
            vec![math::emit_f32(b, f, a[0])]
        });
        let (v, _) = jit.define(&format!("{}_f32x4", f.name()), &[ptr, ptr], &[], |b, a| {
            let flags = MemFlagsData::new().with_notrap();
            let x = b.ins().load(types::F32X4, flags, a[0], 0);
            let y = math::emit_f32(b, f, x);
            b.ins().store(flags, y, a[1], 0);
            vec![]
        });
        let (_, n64) = jit.define(&format!("{}_f64", f.name()), &[types::F64], &[types::F64], |b, a| {
            vec![math::emit(b, f, a[0])]
        });
        ids.push((f, s, v));
        counts.insert(f, (n32, n64));
    }
    jit.finalize();
    // SAFETY: each pointer is a finalized function of the signature it is cast to, and `jit`
    // (which owns the code) lives as long as the pointers, in `Compiled`.
    let unary = ids
        .into_iter()
        .map(|(f, s, v)| unsafe {
            (
                f,
                (
                    std::mem::transmute::<*const u8, Scalar>(jit.ptr(s)),
                    std::mem::transmute::<*const u8, Vector>(jit.ptr(v)),
                ),
            )
        })
        .collect();
    Compiled { _jit: jit, unary, counts }
}

fn ordered(x: f32) -> i64 {
    let b = x.to_bits() as i32;
    i64::from(if b < 0 { -(b & i32::MAX) } else { b })
}

fn ulps(a: f32, b: f32) -> u64 {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => 0,
        (false, false) => (ordered(a) - ordered(b)).unsigned_abs(),
        _ => u64::MAX,
    }
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || a.is_nan() && b.is_nan()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f32 {
        (lo + (hi - lo) * ((self.next() >> 11) as f64 / (1u64 << 53) as f64)) as f32
    }
}

fn neighbours(x: f32, n: usize, out: &mut Vec<f32>) {
    let (mut up, mut down) = (x, x);
    out.push(x);
    for _ in 0..n {
        up = up.next_up();
        down = down.next_down();
        out.extend([up, down]);
    }
}

fn points(f: Func) -> Vec<f32> {
    let mut rng = Rng(0xf32 ^ f as u64);
    let mut v = vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::MAX,
        f32::MIN,
    ];
    for _ in 0..2000 {
        let x = f32::from_bits((rng.next() % (1 << 23)) as u32);
        v.extend([x, -x]);
    }
    // Log-spaced magnitudes over the whole range, both signs.
    let n = 30_000;
    for i in 0..n {
        let e = -45.5 + 84.0 * (i as f64 + 0.5) / n as f64;
        let x = 10f64.powf(e).min(f32::MAX as f64) as f32;
        v.extend([x, -x]);
    }
    for (lo, hi, n) in
        [(-1.0, 1.0, 30_000), (-4.0, 4.0, 20_000), (-30.0, 30.0, 20_000), (-120.0, 120.0, 10_000)]
    {
        for _ in 0..n {
            v.push(rng.uniform(lo, hi));
        }
    }
    for x in [
        88.72284f32,
        89.41599,
        -87.33655,
        -103.27893,
        -103.97208,
        0.625,
        1.0,
        std::f32::consts::LN_2,
        9.0,
        20.0,
        2f32.powi(-12),
        2f32.powi(-24),
        2f32.powi(-63),
    ] {
        neighbours(x, 300, &mut v);
        neighbours(-x, 300, &mut v);
    }
    match f {
        Func::Log => {
            for _ in 0..20_000 {
                v.push(rng.uniform(0.5, 2.0));
            }
            neighbours(1.0, 3000, &mut v);
            neighbours(std::f32::consts::SQRT_2, 300, &mut v);
            neighbours(f32::MIN_POSITIVE, 300, &mut v);
        }
        Func::Sin | Func::Cos => {
            for _ in 0..40_000 {
                v.push(rng.uniform(-1e4, 1e4));
            }
            // Near multiples of pi/2, where the reduction cancels.
            for n in 1..6366 {
                neighbours((n as f64 * std::f64::consts::FRAC_PI_2) as f32, 2, &mut v);
            }
        }
        _ => {}
    }
    v
}

/// Runs both versions on every point, checks vector == scalar bitwise, returns the results.
fn run(s: Scalar, v: Vector, f: Func, xs: &[f32]) -> Vec<f32> {
    let ys: Vec<f32> = xs.iter().map(|&x| s(x)).collect();
    for (quad, want) in xs.chunks(4).zip(ys.chunks(4)) {
        let mut input = [quad[0]; 4];
        input[..quad.len()].copy_from_slice(quad);
        let mut out = [0.0f32; 4];
        v(input.as_ptr(), out.as_mut_ptr());
        for (lane, &w) in want.iter().enumerate() {
            assert!(
                same(out[lane], w),
                "{}: lane {lane} differs from scalar at {:e}: {:e} vs {:e}",
                f.name(),
                input[lane],
                out[lane],
                w
            );
        }
    }
    ys
}

/// The reference in f64, before rounding to f32: `Func::eval`, NaN for NaN; logcosh accurate.
fn reference(f: Func, x: f32) -> f64 {
    let x = x as f64;
    if x.is_nan() {
        return x;
    }
    match f {
        Func::Logcosh if x.abs() < 20.0 => {
            let s = (x / 2.0).sinh();
            (2.0 * s * s).ln_1p()
        }
        _ => f.eval(x),
    }
}

fn measured(f: Func, x: f32) -> bool {
    !matches!(f, Func::Sin | Func::Cos) || x.is_nan() || x.abs() <= 1e4
}

#[test]
fn f32_functions_are_accurate_and_vectors_agree() {
    let compiled = compile_all();
    println!("| function | points | max ulp | at x | ours | reference | IR insts f32 | IR insts f64 |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for f in every_func() {
        let (s, v) = compiled.unary[&f];
        let xs = points(f);
        assert!(xs.len() >= 100_000, "{}: {} points", f.name(), xs.len());
        let ys = run(s, v, f, &xs);
        let (mut worst, mut at, mut ours, mut refr) = (0u64, f32::NAN, f32::NAN, f32::NAN);
        for (&x, &y) in xs.iter().zip(&ys) {
            if !measured(f, x) {
                continue;
            }
            let r = reference(f, x) as f32;
            let d = ulps(y, r);
            if d > worst || at.is_nan() && !x.is_nan() && d == worst {
                (worst, at, ours, refr) = (d, x, y, r);
            }
            if r == 0.0 && y == 0.0 && r.is_sign_negative() != y.is_sign_negative() {
                failures.push(format!("{}({x:e}) = {y:e}, reference {r:e}", f.name()));
            }
        }
        if worst > BOUND {
            failures.push(format!("{}: {worst} ulp at {at:e} (ours {ours:e}, reference {refr:e})", f.name()));
        }
        let (n32, n64) = compiled.counts[&f];
        println!("| {} | {} | {worst} | {at:e} | {ours:e} | {refr:e} | {n32} | {n64} |", f.name(), xs.len());
    }
    println!("(sin, cos measured for |x| <= 1e4; logcosh against log1p(2 sinh(x/2)^2) in f64.)");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Beyond `|x| = 1e4`, `sin` and `cos` by decade: printed, and bounded to `[-1, 1]`.
#[test]
fn sin_cos_far_out() {
    let compiled = compile_all();
    let mut rng = Rng(0xfa5);
    println!("| function | |x| from | to | max ulp | max abs error |");
    println!("|---|---|---|---|---|");
    for f in [Func::Sin, Func::Cos] {
        let (s, _) = compiled.unary[&f];
        for (lo, hi) in [(4, 5), (5, 6), (6, 7), (7, 38)] {
            let (mut max_ulp, mut max_abs) = (0u64, 0.0f64);
            for _ in 0..20_000 {
                let m = 10f64.powf(rng.uniform(lo as f64, hi as f64) as f64);
                let x = (if rng.next() & 1 == 0 { m } else { -m }) as f32;
                let (y, r) = (s(x), f.eval(x as f64));
                assert!(y.abs() <= 1.0, "{}({x:e}) = {y:e}", f.name());
                max_ulp = max_ulp.max(ulps(y, r as f32));
                max_abs = max_abs.max((y as f64 - r).abs());
            }
            println!("| {} | 1e{lo} | 1e{hi} | {max_ulp} | {max_abs:.2e} |", f.name());
        }
        assert!(s(f32::INFINITY).is_nan() && s(f32::NEG_INFINITY).is_nan() && s(f32::NAN).is_nan());
    }
}
