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
//! - f32: 1e-5 on states and the loss, 1e-4 on the exact gradients (tangent, BPTT) and 1e-3
//!   on RHEL at ε = 1e-3 (a difference of two f32 echoes divided by 2ε). The interpreter rounds
//!   every operation to f32 as the backend computes it, so the two differ only through the
//!   math functions, whose f64 results are rounded to f32 by both.

mod common;

use std::sync::Arc;

use hsc::Compiled;
use hsc::backend::cranelift::{ObjectTarget, abi, object, symbol};
use hsc::gradcheck::{draw, relative_error};
use hsc::kernel::Precision;
use hsc_runtime::{CompiledEngine, Echo, KernelFn, Model};

use common::{fixed_runner, random_model, root};

struct Tolerance {
    states: f64,
    grads: f64,
    rhel: f64,
    eps: f64,
}

fn tolerance(p: Precision) -> Tolerance {
    match p {
        Precision::F64 => Tolerance { states: 1e-12, grads: 1e-10, rhel: 1e-10, eps: 1e-2 },
        Precision::F32 => Tolerance { states: 1e-5, grads: 1e-4, rhel: 1e-3, eps: 1e-3 },
    }
}

/// The worst relative difference of each comparison, checked against its tolerance.
fn agree(reference: &Model, tested: &Model, steps: usize, seed: u64, p: Precision) -> Result<f64, String> {
    let tol = tolerance(p);
    let drawn = draw(reference, steps, seed);
    let (params, batch) = (&drawn.params, &drawn.batch);
    let mut worst: f64 = 0.0;
    let mut check = |what: &str, a: &[f64], b: &[f64], limit: f64| -> Result<(), String> {
        let e = relative_error(a, b);
        worst = worst.max(e);
        if e <= limit { Ok(()) } else { Err(format!("{what}: {e:.2e} > {limit:.0e}")) }
    };
    let run = |m: &Model| -> Result<_, String> {
        let e = |e: hsc_runtime::RunError| e.to_string();
        Ok((
            m.forward(params, batch).map_err(e)?,
            m.trajectory(params, batch).map_err(e)?,
            m.echo_states(params, batch, 0.0).map_err(e)?,
            m.echo_states(params, batch, tol.eps).map_err(e)?,
            m.rhel_grad(params, batch, Echo::Central(tol.eps)).map_err(e)?,
            m.tangent_grad(params, batch).map_err(e)?,
            m.bptt_grad(params, batch).map_err(e)?,
        ))
    };
    let (a, b) = (run(tested)?, run(reference)?);
    check("forward loss", &[a.0.loss], &[b.0.loss], tol.states)?;
    for (x, y) in a.0.state.iter().zip(&b.0.state) {
        check("final state", x, y, tol.states)?;
    }
    for (x, y) in a.1.states.iter().zip(&b.1.states) {
        check("trajectory", x, y, tol.states)?;
    }
    check("energy", &a.1.energy, &b.1.energy, tol.states)?;
    for (x, y) in a.2.iter().flatten().zip(b.2.iter().flatten()) {
        check("unnudged echo", x, y, tol.states)?;
    }
    for (x, y) in a.3.iter().flatten().zip(b.3.iter().flatten()) {
        check("nudged echo", x, y, tol.states)?;
    }
    for (name, x, y, limit) in
        [("rhel", &a.4, &b.4, tol.rhel), ("tangent", &a.5, &b.5, tol.grads), ("bptt", &a.6, &b.6, tol.grads)]
    {
        check(&format!("{name} loss"), &[x.loss], &[y.loss], tol.states)?;
        let arrays = x
            .params
            .iter()
            .zip(&y.params)
            .chain(x.inputs.iter().zip(&y.inputs))
            .chain(x.initial.iter().zip(&y.initial));
        for (i, (g, h)) in arrays.enumerate() {
            check(&format!("{name} gradient {i}"), g, h, limit)?;
        }
    }
    Ok(worst)
}

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
    for k in &module.kernels {
        let sym = symbol(&module.spec.name, k);
        // SAFETY: every kernel symbol has the `KernelFn` signature.
        let f: KernelFn = unsafe { *library.get::<KernelFn>(sym.as_bytes()).map_err(|e| e.to_string())? };
        kernels.push((abi(k), f));
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
    let fe = hsc::front_end(src.as_bytes(), &[]);
    let program = fe.program.ok_or_else(|| format!("does not check: {:?}", fe.diagnostics))?;
    let compiled = hsc::compile(program).map_err(|d| format!("does not compile: {d:?}"))?;
    let mut worst = [0.0; 2];
    for (i, p) in [Precision::F64, Precision::F32].into_iter().enumerate() {
        let reference = compiled.interpreted(p);
        let jit = compiled.jitted(p).map_err(|d| d.message)?;
        worst[i] = agree(&reference, &jit, steps, seed, p).map_err(|e| format!("JIT {}: {e}", p.name()))?;
        if aot_too {
            let aot = aot(&compiled, p, dir)?;
            let w = agree(&reference, &aot, steps, seed, p).map_err(|e| format!("AOT {}: {e}", p.name()))?;
            worst[i] = worst[i].max(w);
        }
    }
    Ok(worst)
}

#[test]
fn every_example_agrees_with_the_interpreter_jit_and_aot() {
    let dir = tempdir("examples");
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ham"))
        .collect();
    files.sort();
    assert!(files.len() >= 9);
    for f in files {
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
