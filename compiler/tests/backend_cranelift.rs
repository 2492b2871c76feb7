//! Differential test of the Cranelift backend against the reference interpreter, for every
//! pass (forward, trajectory and energy, the unnudged and nudged echo states, RHEL, the tangent
//! echo, BPTT), on every example and on 200 random models (T up to 200), compiled just in time
//! and ahead of time (an object file linked into a shared library and loaded).
//!
//! Tolerances (`max |a - b| / max |b|` per array):
//! - f64: 1e-12 on states and the loss, 1e-10 on gradients. The backend does the interpreter's
//!   arithmetic operation by operation and differs only in the math functions (a few ulp).
//!   RHEL is compared at ε = 1e-2: it divides a difference of echoes by 2ε, which magnifies
//!   those ulps by 1/ε; the comparison is between backends, not against the true gradient;
//! - f32: 1e-4 on states and the loss, 1e-3 on the exact gradients (tangent, BPTT) and 1e-2
//!   on RHEL at ε = 1e-2 (a difference of two f32 echoes divided by 2ε). The interpreter rounds
//!   every operation to f32 as the backend computes it, so the two differ only through the
//!   math functions: the interpreter rounds libm's f64 result, the backend computes them in
//!   f32 (`backend/math/f32.rs`, at most 2 ulp), and those ulps, magnified by 1/ε in RHEL, are what
//!   the f32 tolerances allow for. Where the dynamics magnify them past a tolerance, the
//!   backend must be as close to the f64 interpreter (the truth) as the f32 interpreter is,
//!   within a factor 4 plus the tolerance: as accurate, not bit-identical.

mod common;

use std::sync::Arc;

use hsc::Compiled;
use hsc::backend::cranelift::{ObjectTarget, object, symbol};
use hsc::kernel::Precision;
use hsc_runtime::{CompiledEngine, KernelFn, Model};

use common::differential::agree;
use common::{example_files, fixed_runner, random_model};

/// The kernels compiled into an object file, linked into a shared library with the system C
/// compiler and loaded: the AOT path end to end.
fn aot(compiled: &Compiled, p: Precision, dir: &std::path::Path) -> Result<Model, String> {
    let module = &compiled.module;
    let bytes = object(module, p, ObjectTarget::Portable).map_err(|e| e.to_string())?;
    let name = module.spec.name.to_lowercase();
    let (obj, lib) = (dir.join(format!("{name}.o")), dir.join(format!("lib{name}_{}.so", p.name())));
    std::fs::write(&obj, bytes).map_err(|e| e.to_string())?;
    let status = std::process::Command::new("cc")
        .args(["-shared", "-o"])
        .arg(&lib)
        .arg(&obj)
        .status()
        .map_err(|e| format!("cannot run cc: {e}"))?;
    if !status.success() {
        return Err(format!("cc -shared failed on {}", obj.display()));
    }
    // SAFETY: the library holds only hsc's kernels, which have no initialisers.
    let library = unsafe { libloading::Library::new(&lib) }.map_err(|e| e.to_string())?;
    let mut kernels = Vec::new();
    for (k, info) in module.kernels() {
        let sym = symbol(&module.spec.name, k);
        // SAFETY: every kernel symbol has the `KernelFn` signature.
        let f: KernelFn = unsafe { *library.get::<KernelFn>(sym.as_bytes()).map_err(|e| e.to_string())? };
        kernels.push((info.abi.clone(), f));
    }
    // SAFETY: the kernels are hsc's, verified in bounds; the library lives in the engine.
    let engine = unsafe { CompiledEngine::new(kernels, p, "cranelift-aot", Arc::new(library)) };
    Ok(Model::new(module.spec.clone(), Arc::new(engine)))
}

fn check_model(
    src: &str,
    steps: usize,
    seed: u64,
    dir: &std::path::Path,
    aot_too: bool,
) -> Result<[f64; 2], String> {
    let compiled = hsc::compile_source("model.ham", src.as_bytes(), &[])?;
    let mut worst = [0.0; 2];
    for (i, p) in [Precision::F64, Precision::F32].into_iter().enumerate() {
        let reference = compiled.interpreted(p);
        let truth = compiled.interpreted(Precision::F64);
        let jit = compiled.jitted(p).map_err(|d| d.message)?;
        worst[i] =
            agree(&reference, &jit, &truth, steps, seed, p).map_err(|e| format!("JIT {}: {e}", p.name()))?;
        if aot_too {
            let aot = aot(&compiled, p, dir)?;
            let w = agree(&reference, &aot, &truth, steps, seed, p)
                .map_err(|e| format!("AOT {}: {e}", p.name()))?;
            worst[i] = worst[i].max(w);
        }
    }
    Ok(worst)
}

#[test]
fn every_example_agrees_with_the_interpreter_jit_and_aot() {
    let dir = tempdir("examples");
    for f in example_files() {
        let src = std::fs::read_to_string(&f).unwrap();
        let worst = check_model(&src, 60, 7, &dir, true).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        println!(
            "{:<28} worst f64 {:.1e}, f32 {:.1e}",
            f.file_name().unwrap().to_string_lossy(),
            worst[0],
            worst[1]
        );
    }
}

#[test]
fn random_models_agree_with_the_interpreter_jit_and_aot() {
    let dir = tempdir("random");
    let worst = std::cell::Cell::new([0.0f64; 2]);
    let mut runner = fixed_runner(200, 0x6372_616e);
    runner
        .run(&(1u64..u64::MAX), |seed| {
            let (src, steps) = random_model(seed);
            // AOT on one model in eight: linking is the slow part, and the code is the same.
            let w = check_model(&src, steps, seed, &dir, seed % 8 == 0)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{src}\n{e}")))?;
            let old = worst.get();
            worst.set([old[0].max(w[0]), old[1].max(w[1])]);
            Ok(())
        })
        .unwrap();
    println!(
        "200 random models: worst relative difference f64 {:.1e}, f32 {:.1e}",
        worst.get()[0],
        worst.get()[1]
    );
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("hsc-backend-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
