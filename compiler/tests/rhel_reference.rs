//! rhel_reference.py's model (examples/rhel_reference.ham: NonlinHRU, P = 5, N = 3, T = 200,
//! h = 0.1, losses on q and p) through hsc's kernels: RHEL vs BPTT vs tangent echo vs finite
//! differences of the loss. (scripts/check_reference.py compares the same model with the
//! reference NumPy code itself.)

use hsc::kernel::Precision;
use hsc_runtime::{Batch, Echo, Gradients, Model, Params};

const T: usize = 200;

fn model() -> Model {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/rhel_reference.ham");
    let fe = hsc::front_end(&std::fs::read(path).expect("examples/rhel_reference.ham"), &[]);
    let program = fe.program.unwrap_or_else(|| panic!("{:?}", fe.diagnostics));
    hsc::compile(program, &fe.facts.expect("facts")).expect("compiles").interpreted(Precision::F64)
}

/// Standard-normal inputs and targets and an initial state, drawn as `hsc gradcheck` draws them.
fn batch(m: &Model) -> Batch<'static> {
    hsc::gradcheck::draw(m, T, 0).batch
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let num = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let den = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    num / den
}

fn fd_params(m: &Model, params: &Params, batch: &Batch, delta: f64) -> Vec<Vec<f64>> {
    params
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            (0..v.len())
                .map(|e| {
                    let mut up = params.clone();
                    up.values[i][e] += delta;
                    let mut down = params.clone();
                    down.values[i][e] -= delta;
                    (m.forward(&up, batch).unwrap().loss - m.forward(&down, batch).unwrap().loss)
                        / (2.0 * delta)
                })
                .collect()
        })
        .collect()
}

fn report(name: &str, a: &Gradients, b: &Gradients) -> f64 {
    let mut worst: f64 = 0.0;
    for (i, (x, y)) in a.params.iter().zip(&b.params).enumerate() {
        let e = rel(x, y);
        println!("{name} param {i}: {e:.1e}");
        worst = worst.max(e);
    }
    for (x, y) in a.inputs.iter().zip(&b.inputs) {
        let e = rel(x, y);
        println!("{name} inputs: {e:.1e}");
        worst = worst.max(e);
    }
    for (x, y) in a.initial.iter().zip(&b.initial) {
        let e = rel(x, y);
        println!("{name} initial: {e:.1e}");
        worst = worst.max(e);
    }
    worst
}

/// Finite differences of the loss for every input and initial-state entry.
fn fd_data(m: &Model, params: &Params, batch: &Batch, delta: f64) -> (Vec<f64>, Vec<Vec<f64>>) {
    let loss = |b: &Batch| m.forward(params, b).unwrap().loss;
    let inputs = (0..batch.inputs[0].len())
        .map(|e| {
            let (mut up, mut down) = (batch.clone(), batch.clone());
            up.inputs[0].to_mut()[e] += delta;
            down.inputs[0].to_mut()[e] -= delta;
            (loss(&up) - loss(&down)) / (2.0 * delta)
        })
        .collect();
    let initial = (0..2)
        .map(|s| {
            (0..5)
                .map(|e| {
                    let (mut up, mut down) = (batch.clone(), batch.clone());
                    up.initial.as_mut().unwrap()[s].to_mut()[e] += delta;
                    down.initial.as_mut().unwrap()[s].to_mut()[e] -= delta;
                    (loss(&up) - loss(&down)) / (2.0 * delta)
                })
                .collect()
        })
        .collect();
    (inputs, initial)
}

/// The figure: ε = 1e-4, RHEL vs finite differences within 1e-5 for every param, the
/// inputs and the initial state; and tangent = BPTT, RHEL = BPTT on the same data.
#[test]
fn rhel_matches_bptt_and_finite_differences() {
    let m = model();
    let params = m.init_params(1);
    let batch = batch(&m);
    let bptt = m.bptt_grad(&params, &batch).unwrap();
    let tangent = m.tangent_grad(&params, &batch).unwrap();
    let rhel = m.rhel_grad(&params, &batch, Echo::Central(1e-4)).unwrap();
    let fd = fd_params(&m, &params, &batch, 1e-6);
    let (fd_u, fd_x0) = fd_data(&m, &params, &batch, 1e-6);
    let names = ["W", "b", "c", "alpha", "B"];
    for (i, (x, y)) in rhel.params.iter().zip(&fd).enumerate() {
        let e = rel(x, y);
        println!(
            "dL/d{:<6} RHEL (ε = 1e-4) vs finite differences: {e:.1e}   BPTT vs finite differences: {:.1e}",
            names[i],
            rel(&bptt.params[i], y)
        );
        assert!(e < 1e-5);
    }
    let e = rel(&rhel.inputs[0], &fd_u);
    println!("dL/du      RHEL vs finite differences: {e:.1e}");
    assert!(e < 1e-5);
    for (s, name) in ["q0", "p0"].iter().enumerate() {
        let e = rel(&rhel.initial[s], &fd_x0[s]);
        println!("dL/d{name:<6} RHEL vs finite differences: {e:.1e}");
        assert!(e < 1e-5);
    }
    assert!(report("tangent vs bptt", &tangent, &bptt) < 1e-9);
    assert!(report("rhel vs bptt", &rhel, &bptt) < 1e-5);
}

/// rhel.md's table: RHEL's error against BPTT falls as ε² down to a rounding floor.
#[test]
fn rhel_error_falls_as_eps_squared() {
    let m = model();
    let params = m.init_params(1);
    let batch = batch(&m);
    let bptt = m.bptt_grad(&params, &batch).unwrap();
    let names = ["W", "b", "c", "alpha", "B"];
    println!("{:>6} {}", "ε", names.map(|n| format!("{n:>9}")).join(""));
    let mut worst = Vec::new();
    for eps in [1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7] {
        let g = m.rhel_grad(&params, &batch, Echo::Central(eps)).unwrap();
        let errs: Vec<f64> = g.params.iter().zip(&bptt.params).map(|(a, b)| rel(a, b)).collect();
        println!("{eps:>6.0e} {}", errs.iter().map(|e| format!("{e:>9.1e}")).collect::<String>());
        worst.push(errs.iter().copied().fold(0.0, f64::max));
    }
    // From 1e-2 to 1e-4 the error is the ε² bias: each decade divides it by about 100.
    for w in worst[..3].windows(2) {
        let ratio = w[0] / w[1];
        assert!((70.0..140.0).contains(&ratio), "a decade of ε divided the error by {ratio}, not ~100");
    }
    // Then it meets the rounding floor of f64, near 1e-10.
    assert!(worst[4] < 1e-8, "ε = 1e-6: {}", worst[4]);
}
