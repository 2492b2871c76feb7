//! The C backend's math functions, each compiled by the system's C compiler with the backend's
//! flags into a loop the compiler vectorises at the host's width (AVX-512 where there is one),
//! over about 60k points per function (uniform on a few ranges, log-spaced magnitudes of both
//! signs, subnormals, special values):
//! - f64 (no contraction): the bits of Cranelift's scalar code, NaN payloads aside, `pow`
//!   included, so every accuracy figure of `math_ulp.rs` holds for them;
//! - f32 (compiled as f32 kernels are, multiplies and adds contracted into fused
//!   multiply-adds where the compiler chooses): within 3 f32 ulp of the f64 value rounded
//!   (Rust's std through `Func::eval`; for logcosh an accurate formula), where Cranelift's
//!   are within 2 (`math_f32_ulp.rs`); sin and cos for `|x| <= 1e4`, in `[-1, 1]` beyond.
//!   The table of the largest distances is printed.
//!
//! Skips, saying so, where there is no C compiler.

mod common;

use std::path::Path;

use cranelift_codegen::ir::types;
use hsc::backend::c::{Toolchain, flags, library};
use hsc::backend::cranelift::math;
use hsc::ir::Func;
use hsc_runtime::Real;

use common::jit::{Jit, every_func};

fn points(seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut v =
        vec![0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, f64::MIN_POSITIVE, 5e-324, -5e-324];
    for (lo, hi, n) in
        [(-1.0, 1.0, 10_000), (-20.0, 20.0, 20_000), (-800.0, 800.0, 10_000), (-1e5, 1e5, 5_000)]
    {
        v.extend((0..n).map(|_| lo + (hi - lo) * next()));
    }
    for _ in 0..15_000 {
        let m = 10f64.powf(-300.0 + 600.0 * next());
        v.push(if next() < 0.5 { -m } else { m });
    }
    v
}

/// The same bits, or both NaN.
fn same(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `f(x)` in f64, rounded to f32: std's functions through `Func::eval`, and for logcosh a
/// formula that does not cancel; NaN for NaN (where `Func::eval`'s `sign`, `step` and `relu`
/// give 0, the kernels propagate it).
fn reference32(f: Func, x: f32) -> f32 {
    if x.is_nan() {
        return f32::NAN;
    }
    let x = f64::from(x);
    let a = x.abs();
    let r = match f {
        Func::Logcosh if a < 1e-2 => x * x / 2.0 - x.powi(4) / 12.0 + x.powi(6) / 45.0,
        Func::Logcosh => a - std::f64::consts::LN_2 + (-2.0 * a).exp().ln_1p(),
        _ => f.eval(x),
    };
    r as f32
}

/// The distance in f32 ulp (ordered bits); 0 for two NaNs.
fn ulps32(a: f32, b: f32) -> u64 {
    if a.is_nan() && b.is_nan() {
        return 0;
    }
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    let ord = |x: f32| {
        let i = x.to_bits() as i32;
        if i < 0 { i32::MIN - i } else { i }
    };
    (i64::from(ord(a)) - i64::from(ord(b))).unsigned_abs()
}

type Scalar = extern "C" fn(f64) -> f64;
type Scalar32 = extern "C" fn(f32) -> f32;
type Scalar2 = extern "C" fn(f64, f64) -> f64;
type Apply = unsafe extern "C" fn(*const u8, *const u8, *mut u8, i64);

/// The C library of `real` with, per function, `apply_<name>(x, y, out, n)`: a loop over
/// arrays that the compiler vectorises.
fn c_source(real: Real) -> String {
    let (ty, suffix) = if real == Real::F32 { ("float", "_f32") } else { ("double", "") };
    let mut text = library(real);
    for f in every_func().filter(|f| !matches!(f, Func::Abs | Func::Sqrt)) {
        text += &format!(
            "void apply_{n}(const uint8_t *x, const uint8_t *unused, uint8_t *out, int64_t n) {{\n\
             (void)unused; const {ty} *restrict a = (const {ty} *)x; {ty} *restrict r = ({ty} *)out;\n\
             HSC_LANES\nfor (int64_t i = 0; i < n; i++) r[i] = hsc_{n}{suffix}(a[i]);\n}}\n",
            n = f.name()
        );
    }
    if real == Real::F64 {
        text += "void apply_pow(const uint8_t *x, const uint8_t *y, uint8_t *out, int64_t n) {\n\
                 const double *restrict a = (const double *)x, *restrict b = (const double *)y;\n\
                 double *restrict r = (double *)out;\n\
                 HSC_LANES\nfor (int64_t i = 0; i < n; i++) r[i] = hsc_pow(a[i], b[i]);\n}\n";
    }
    text
}

fn build(t: &Toolchain, real: Real, dir: &Path) -> libloading::Library {
    let (c, so) = (dir.join(format!("math_{}.c", real.name())), dir.join(format!("math_{}.so", real.name())));
    std::fs::write(&c, c_source(real)).unwrap();
    let out = std::process::Command::new(&t.command)
        .args(flags(real == Real::F32))
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // SAFETY: our own library, without initialisers.
    unsafe { libloading::Library::new(&so) }.unwrap()
}

fn apply(lib: &libloading::Library, name: &str, x: &[u8], y: &[u8], out: &mut [u8], n: usize) {
    // SAFETY: `apply_<name>` has the `Apply` signature and reads and writes n elements.
    unsafe {
        let f: libloading::Symbol<Apply> = lib.get(format!("apply_{name}").as_bytes()).unwrap();
        f(x.as_ptr(), y.as_ptr(), out.as_mut_ptr(), n as i64);
    }
}

fn bytes<T: Copy>(v: &[T]) -> Vec<u8> {
    // SAFETY: plain numbers, read as bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), std::mem::size_of_val(v)) }.to_vec()
}

#[test]
fn c_functions_match_cranelift_in_f64_and_are_accurate_in_f32() {
    let Ok(t) = Toolchain::find() else {
        println!(
            "skipping: no C compiler ({})",
            Toolchain::find().err().map_or(String::new(), |e| e.to_string())
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("hsc-math-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (lib64, lib32) = (build(t, Real::F64, &dir), build(t, Real::F32, &dir));
    let mut jit = Jit::new(true);
    let mut ids = Vec::new();
    for f in every_func().filter(|f| !matches!(f, Func::Abs | Func::Sqrt)) {
        let (s, _) = jit.define(&format!("{}_f64", f.name()), &[types::F64], &[types::F64], |b, a| {
            vec![math::emit(b, f, a[0])]
        });
        let (s32, _) = jit.define(&format!("{}_f32", f.name()), &[types::F32], &[types::F32], |b, a| {
            vec![math::emit_f32(b, f, a[0])]
        });
        ids.push((f, s, s32));
    }
    let (pow, _) =
        jit.define("pow", &[types::F64, types::F64], &[types::F64], |b, a| vec![math::powf(b, a[0], a[1])]);
    jit.finalize();
    for (f, s, s32) in ids {
        // SAFETY: defined above with these signatures.
        let (s, s32) = unsafe {
            (
                std::mem::transmute::<*const u8, Scalar>(jit.ptr(s)),
                std::mem::transmute::<*const u8, Scalar32>(jit.ptr(s32)),
            )
        };
        let x = points(f as u64 + 1);
        let mut out = vec![0u8; x.len() * 8];
        apply(&lib64, f.name(), &bytes(&x), &[], &mut out, x.len());
        for (i, &xi) in x.iter().enumerate() {
            let c = f64::from_le_bytes(out[i * 8..i * 8 + 8].try_into().unwrap());
            assert!(same(c, s(xi)), "{}({xi:e}): C {c:e}, Cranelift {:e}", f.name(), s(xi));
        }
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let mut out = vec![0u8; x32.len() * 4];
        apply(&lib32, f.name(), &bytes(&x32), &[], &mut out, x32.len());
        let mut worst = (0u64, 0u64);
        for (i, &xi) in x32.iter().enumerate() {
            let c = f32::from_le_bytes(out[i * 4..i * 4 + 4].try_into().unwrap());
            let trig = matches!(f, Func::Sin | Func::Cos);
            if trig && xi.abs() > 1e4 {
                assert!(c.is_nan() || c.abs() <= 1.0, "{}_f32({xi:e}) = {c:e}", f.name());
                continue;
            }
            let r = reference32(f, xi);
            let (d, dc) = (ulps32(c, r), ulps32(s32(xi), r));
            assert!(d <= 3, "{}_f32({xi:e}): C {c:e}, reference {r:e} ({d} ulp)", f.name());
            worst = (worst.0.max(d), worst.1.max(dc));
        }
        println!("{:<10} f32 ulp: C {}, Cranelift {}", f.name(), worst.0, worst.1);
    }
    // SAFETY: defined above with this signature.
    let pow = unsafe { std::mem::transmute::<*const u8, Scalar2>(jit.ptr(pow)) };
    let (x, y) = (points(7), points(8));
    let x: Vec<f64> = x.iter().map(|v| v.abs().min(1e3)).chain(x.iter().copied()).collect();
    let y: Vec<f64> = y.iter().map(|v| v.clamp(-50.0, 50.0)).chain(y.iter().map(|v| v.round())).collect();
    let mut out = vec![0u8; x.len() * 8];
    apply(&lib64, "pow", &bytes(&x), &bytes(&y), &mut out, x.len());
    for i in 0..x.len() {
        let c = f64::from_le_bytes(out[i * 8..i * 8 + 8].try_into().unwrap());
        assert!(
            same(c, pow(x[i], y[i])),
            "pow({:e}, {:e}): C {c:e}, Cranelift {:e}",
            x[i],
            y[i],
            pow(x[i], y[i])
        );
    }
    println!("{}: every function and pow in f64: Cranelift's bits", t.identity);
    let _ = std::fs::remove_dir_all(&dir);
}
