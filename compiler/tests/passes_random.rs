//! Property test of the passes: on randomly generated separable, time-reversible models
//! (random sizes, functions, offsets, wrap-around, constant indices, 2-D params, lets, one or
//! two state pairs, a K with params, leapfrog and Yoshida-4, a fixed or trainable step, with
//! and without an in-model loss), with T up to 200, in f64:
//! - tangent echo = BPTT within 1e-9 relative;
//! - RHEL central at ε = 1e-5 = BPTT within 1e-6, or, on the few models where RHEL's `O(ε²)`
//!   bias has a large constant for some quantity, within 1e-6 once the `ε²` term is removed by
//!   Richardson extrapolation (which shows the error is that bias and nothing else); the test
//!   prints how many needed it;
//! - BPTT = finite differences of the loss within 1e-5;
//!
//! for every param, the inputs and the initial state (`hsc::gradcheck`, which compares them
//! as `max |a - b| / max |b|` per quantity). Every kernel passes the verifier.

mod common;

use hsc::gradcheck::{Options, relative_error, run};
use hsc::kernel::Precision;
use hsc_runtime::Echo;
use proptest::prelude::*;

use common::{fixed_runner, random_model};

/// How a model passed.
enum Passed {
    Directly,
    AfterRichardson,
}

fn check(seed: u64) -> Result<Passed, String> {
    let (src, steps) = random_model(seed);
    let compiled =
        hsc::compile_source("model.ham", src.as_bytes(), &[]).map_err(|e| format!("{src}\n{e}"))?;
    let opts = Options {
        steps,
        eps: 1e-5,
        seed,
        precision: Precision::F64,
        fd_entries: 2,
        backend: hsc::Backend::Interp,
    };
    let report = run(&compiled, &opts).map_err(|e| format!("{src}\n{e}"))?;
    let failure = |pair: &str, worst: f64, tol: f64| {
        let per: Vec<String> =
            report.quantities.iter().map(|q| format!("{}: {:.1e}", q.name, q.errors[pair])).collect();
        format!("{src}\nT = {steps}: {pair} = {worst:.1e} > {tol:.0e} ({})", per.join(", "))
    };
    for (pair, tol) in [("tangent_vs_bptt", 1e-9), ("bptt_vs_fd", 1e-5)] {
        if report.worst[pair].is_nan() || report.worst[pair] > tol {
            return Err(failure(pair, report.worst[pair], tol));
        }
    }
    if report.worst["rhel_vs_bptt"] <= 1e-6 {
        return Ok(Passed::Directly);
    }
    let model = compiled.interpreted(Precision::F64);
    let (params, batch) = (&report.drawn.params, &report.drawn.batch);
    let extrapolated = model.rhel_grad(params, batch, Echo::Richardson(1e-5)).map_err(|e| e.to_string())?;
    let bptt = model.bptt_grad(params, batch).map_err(|e| e.to_string())?;
    let all = |g: &hsc_runtime::Gradients| -> Vec<Vec<f64>> {
        g.params.iter().chain(&g.inputs).chain(&g.initial).cloned().collect()
    };
    let worst =
        all(&extrapolated).iter().zip(all(&bptt)).map(|(a, b)| relative_error(a, &b)).fold(0.0, f64::max);
    if worst <= 1e-6 {
        Ok(Passed::AfterRichardson)
    } else {
        Err(failure("rhel_vs_bptt", report.worst["rhel_vs_bptt"], 1e-6)
            + &format!(", and {worst:.1e} after Richardson extrapolation"))
    }
}

#[test]
fn gradients_agree_on_random_models() {
    let cases = 200;
    let mut runner = fixed_runner(cases, 0xEC40);
    let checked = std::cell::Cell::new(0usize);
    let richardson = std::cell::Cell::new(0usize);
    let result = runner.run(&any::<u64>(), |seed| {
        checked.set(checked.get() + 1);
        match check(seed).map_err(TestCaseError::fail)? {
            Passed::Directly => {}
            Passed::AfterRichardson => richardson.set(richardson.get() + 1),
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    println!(
        "passes_random: {} random models: tangent = BPTT within 1e-9, BPTT = finite differences within 1e-5, \
         RHEL (ε = 1e-5) = BPTT within 1e-6 on {} directly and on {} after removing its ε² bias",
        checked.get(),
        checked.get() - richardson.get(),
        richardson.get()
    );
    assert!(richardson.get() * 10 <= checked.get(), "RHEL missed 1e-6 on more than a tenth of the models");
    assert!(checked.get() >= cases as usize);
}

#[test]
fn the_generator_covers_every_feature() {
    let all: String = (1..300).map(|s| random_model(s).0).collect();
    for needle in [
        "yoshida4",
        "leapfrog",
        "dt = h",
        "state y[M]",
        "loss =",
        "m[i] * logcosh(p[i])",
        "% P]",
        "i in 0..P-1",
        "C[i, j]",
        "q[0] * q[P - 1]",
        "u[0]",
    ] {
        assert!(all.contains(needle), "no random model uses {needle}");
    }
    assert!((1..300).any(|s| !random_model(s).0.contains("loss =")), "every random model has a loss");
    assert!((1..300).any(|s| random_model(s).1 == 200), "no random model runs 200 steps");
}
