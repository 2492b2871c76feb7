//! Uses a model compiled ahead of time by `build.rs`: typed params, a batch of sequences, the
//! forward pass and the gradient three ways (RHEL, the tangent echo, BPTT), which must agree.

mod nonlin_hru {
    include!(concat!(env!("OUT_DIR"), "/nonlin_hru.rs"));
}

use hsc_runtime::{Batch, Echo};

fn main() {
    let model = nonlin_hru::Model::new();
    let params = model.init_params(0);
    println!(
        "{}: P = {}, N = {}, alpha = {:.4}",
        model.spec().name,
        nonlin_hru::P,
        nonlin_hru::N,
        params.alpha[0]
    );

    let (size, steps) = (4, 200);
    // A deterministic, input-driven batch: a chirp per feature, cotangents that reward q.
    let inputs = (0..size * steps * nonlin_hru::N)
        .map(|i| {
            let (b, t, n) = (i / (steps * nonlin_hru::N), (i / nonlin_hru::N) % steps, i % nonlin_hru::N);
            ((t as f64) * 0.01 * (n + 1) as f64 + b as f64).sin()
        })
        .collect();
    let cotangents = (0..size * steps * nonlin_hru::P).map(|i| ((i % 7) as f64 - 3.0) * 1e-3).collect();
    let batch = Batch {
        steps,
        size,
        inputs: vec![inputs],
        targets: vec![],
        cotangents: vec![cotangents],
        initial: None,
    };

    let forward = model.forward(&params, &batch).expect("the batch fits the model");
    println!("loss over {size} sequences of {steps} steps: {:.6}", forward.loss);

    let rhel = model.rhel_grad(&params, &batch, Echo::Central(1e-5)).expect("runs");
    let tangent = model.tangent_grad(&params, &batch).expect("runs");
    let bptt = model.bptt_grad(&params, &batch).expect("runs");
    let error = |a: &[f64], b: &[f64]| {
        let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
    };
    let rhel_error = error(&rhel.params.W, &bptt.params.W);
    let tangent_error = error(&tangent.params.W, &bptt.params.W);
    println!("dL/dW: RHEL vs BPTT {rhel_error:.1e}, tangent vs BPTT {tangent_error:.1e}");
    assert!(rhel_error < 1e-6 && tangent_error < 1e-9, "the gradients disagree");

    // A wrong shape is an error that says what was expected, not a crash.
    let bad = Batch { steps: steps + 1, ..batch };
    match model.forward(&params, &bad) {
        Err(e) => println!("a malformed batch is refused: {e}"),
        Ok(_) => panic!("a malformed batch was accepted"),
    }
}
