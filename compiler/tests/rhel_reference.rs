//! rhel_reference.py's model (NonlinHRU, P = 5, N = 3, T = 200, h = 0.1, losses on q and p)
//! through hsc's kernels: RHEL vs BPTT vs tangent echo vs finite differences of the loss.

use hsc::kernel::Precision;
use hsc_runtime::{Batch, Echo, Gradients, Model, Params};
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};

const MODEL: &str = "
model Reference
dim P = 5
dim N = 3
input u[N]
param W[P] = uniform(0.5, 1.0)
param b[P] = normal(0, 0.3)
param c[P] = normal(0, 1)
param alpha = 0.7
param B[P, N] = normal(0, 0.5)
state q[P] momentum p
target g[P]
target f[P]
let s[i] = sigmoid(c[i])
let drive[i] = sum(j, B[i, j] * u[j]) + b[i]
H = sum(i, 0.5 * p[i]^2) + sum(i, 0.5 * alpha * q[i]^2 + s[i] * logcosh(W[i] * q[i] + drive[i]) / W[i])
loss = sum(i, g[i] * q[i] + f[i] * p[i])
integrator leapfrog(dt = 0.1)
";

const T: usize = 200;

fn model() -> Model {
    let fe = hsc::front_end(MODEL.as_bytes(), &[]);
    let program = fe.program.unwrap_or_else(|| panic!("{:?}", fe.diagnostics));
    hsc::compile(program).expect("compiles").interpreted(Precision::F64)
}

fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    // Box-Muller, enough for test data.
    (0..n)
        .map(|_| {
            let (a, b): (f64, f64) = (rng.random(), rng.random());
            (-2.0 * (1.0 - a).ln()).sqrt() * (std::f64::consts::TAU * b).cos()
        })
        .collect()
}

fn batch() -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    Batch {
        steps: T,
        size: 1,
        inputs: vec![normal(&mut rng, T * 3)],
        targets: vec![normal(&mut rng, T * 5), normal(&mut rng, T * 5)],
        cotangents: vec![],
        initial: None,
    }
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
                    (m.forward(&up, batch).unwrap().loss - m.forward(&down, batch).unwrap().loss) / (2.0 * delta)
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

#[test]
fn rhel_matches_bptt_and_finite_differences() {
    let m = model();
    let params = m.init_params(1);
    let batch = batch();
    let bptt = m.bptt_grad(&params, &batch).unwrap();
    let tangent = m.tangent_grad(&params, &batch).unwrap();
    let rhel = m.rhel_grad(&params, &batch, Echo::Central(1e-4)).unwrap();
    let fd = fd_params(&m, &params, &batch, 1e-6);
    for (i, (x, y)) in bptt.params.iter().zip(&fd).enumerate() {
        println!("bptt vs fd param {i}: {:.1e}", rel(x, y));
    }
    assert!(report("tangent vs bptt", &tangent, &bptt) < 1e-9);
    assert!(report("rhel vs bptt", &rhel, &bptt) < 1e-5);
}
