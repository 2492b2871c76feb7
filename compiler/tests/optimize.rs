//! The kernel optimizer changes no result: on every example and on random models, the
//! interpreter gives the same bits, in f64 and in f32, for every output of every pass, whether
//! it runs the kernels as lowered or as optimized; and the optimized kernels pass the verifier
//! and do no more work.

mod common;

use std::sync::Arc;

use hsc::kernel::{Interpreter, Module, Precision, Stmt, verify};
use hsc_runtime::Model;

use common::differential::outputs;
use common::{example_files, fixed_runner, random_model};

/// The modules of a model: as lowered, and as optimized.
fn modules(src: &str) -> Result<(Module, Module), String> {
    let fe = hsc::front_end(src.as_bytes(), &[]);
    let program = fe.program.ok_or_else(|| format!("does not check: {:?}", fe.diagnostics))?;
    let facts = fe.facts.ok_or("no facts")?;
    let eq = hsc::equations(&program, &facts).map_err(|d| format!("does not differentiate: {d:?}"))?;
    let lowered = hsc::kernel::lower(&program, &eq);
    let optimized = hsc::kernel::build(&program, &eq);
    for k in &optimized.kernels {
        verify(k).map_err(|e| format!("{e:?}"))?;
    }
    Ok((lowered, optimized))
}

fn interpreted(module: &Module, p: Precision) -> Model {
    Model::new(module.spec.clone(), Arc::new(Interpreter::new(Arc::new(module.clone()), p)))
}

/// The operations a module's kernels run per step and per sequence (loads, arithmetic and
/// functions; the time loop counted once).
fn work(module: &Module) -> u64 {
    fn count(stmts: &[Stmt]) -> u64 {
        stmts
            .iter()
            .map(|s| match s {
                Stmt::Let(..) => 1,
                Stmt::Store { .. } => 0,
                Stmt::Steps { body, .. } => count(body),
                Stmt::Loop { lo, hi, body, .. } | Stmt::Reduce { lo, hi, body, .. } => {
                    (hi - lo) as u64 * count(body)
                }
            })
            .sum()
    }
    module.kernels.iter().map(|k| count(&k.body)).sum()
}

/// Checks that the two modules give the same bits; returns their work.
fn check(src: &str, steps: usize, seed: u64) -> Result<(u64, u64), String> {
    let (lowered, optimized) = modules(src)?;
    for p in [Precision::F64, Precision::F32] {
        let a = outputs(&interpreted(&lowered, p), steps, seed, 1e-3)?;
        let b = outputs(&interpreted(&optimized, p), steps, seed, 1e-3)?;
        assert_eq!(a.len(), b.len());
        for ((name, x, ..), (_, y, ..)) in a.iter().zip(&b) {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                if u.to_bits() != v.to_bits() && !(u.is_nan() && v.is_nan()) {
                    return Err(format!("{}: {name}[{i}]: lowered {u:e}, optimized {v:e}", p.name()));
                }
            }
        }
    }
    Ok((work(&lowered), work(&optimized)))
}

#[test]
fn every_example_gives_the_same_bits_with_less_work() {
    for f in example_files() {
        let src = std::fs::read_to_string(&f).unwrap();
        let (before, after) = check(&src, 30, 3).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        println!("{:<28} operations per step {before} -> {after}", f.file_name().unwrap().to_string_lossy());
        assert!(after <= before, "{}: the optimizer added work", f.display());
    }
}

#[test]
fn random_models_give_the_same_bits() {
    let mut runner = fixed_runner(100, 0x6f70_7469);
    runner
        .run(&(1u64..u64::MAX), |seed| {
            let (src, steps) = random_model(seed);
            check(&src, steps.min(40), seed)
                .map(|_| ())
                .map_err(|e| proptest::test_runner::TestCaseError::fail(format!("{src}\n{e}")))
        })
        .unwrap();
}

#[test]
fn every_example_kernel_reaches_a_fixpoint() {
    for f in example_files() {
        let src = std::fs::read_to_string(&f).unwrap();
        let (_, optimized) = modules(&src).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let rounds: Vec<usize> = optimized
            .optimized
            .iter()
            .map(|r| r.unwrap_or_else(|stop| panic!("{}: {stop}", f.display())))
            .collect();
        println!("{:<28} rounds per kernel {rounds:?}", f.file_name().unwrap().to_string_lossy());
        assert_eq!(rounds.len(), optimized.kernels.len());
    }
}

/// The functions the echo of NonlinHRU calls per step, by name.
fn calls_per_step(module: &Module) -> std::collections::BTreeMap<String, u64> {
    fn count(stmts: &[Stmt], trips: u64, in_steps: bool, out: &mut std::collections::BTreeMap<String, u64>) {
        for s in stmts {
            match s {
                Stmt::Let(_, hsc::kernel::Op::Call(f, _)) if in_steps => {
                    *out.entry(format!("{f:?}")).or_default() += trips;
                }
                Stmt::Let(..) | Stmt::Store { .. } => {}
                Stmt::Steps { body, .. } => count(body, trips, true, out),
                Stmt::Loop { lo, hi, body, .. } | Stmt::Reduce { lo, hi, body, .. } => {
                    count(body, trips * (hi - lo) as u64, in_steps, out)
                }
            }
        }
    }
    let mut out = Default::default();
    count(&module.kernel(hsc_runtime::Pass::Echo).body, 1, false, &mut out);
    out
}

#[test]
fn the_echo_of_nonlin_hru_computes_each_force_once_per_kick() {
    let src = std::fs::read_to_string(common::root().join("examples/nonlin_hru.ham")).unwrap();
    let (lowered, optimized) = modules(&src).unwrap();
    let (before, after) = (calls_per_step(&lowered), calls_per_step(&optimized));
    println!("calls per step: lowered {before:?}, optimized {after:?}");
    // Two echoes, two kicks a step, 64 elements: one tanh and one logcosh each.
    let once = 2 * 2 * 64;
    assert_eq!(after.get("Tanh"), Some(&once), "{after:?}");
    assert_eq!(after.get("Logcosh"), Some(&once), "{after:?}");
    assert_eq!(after.len(), 2, "sigmoid(c) is computed once per kernel, not per step: {after:?}");
    assert!(before["Tanh"] >= 5 * once, "{before:?}");
}
