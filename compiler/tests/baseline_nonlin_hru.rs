//! The hand-written NonlinHRU baseline (benches/baseline/nonlin_hru.rs) against hsc's kernels
//! on the interpreter: the same forward pass and the same fused central RHEL echo pair, so the
//! loss, the final state and the RHEL gradients must agree to rounding (far below RHEL's own
//! `O(ε²)` bias), and the baseline in f32 must track itself in f64.

#[path = "../benches/baseline/nonlin_hru.rs"]
mod baseline;

use hsc::kernel::Precision;
use hsc_runtime::{Batch, Echo, Model, Params};

const STEPS: usize = 40;
const DT: f64 = 0.1;
const EPS: f64 = 1e-4;

fn model(overrides: &[(&str, &str)]) -> Model {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/nonlin_hru.ham");
    let overrides: Vec<hsc::Override> =
        overrides.iter().map(|(n, v)| hsc::Override { name: (*n).into(), value: (*v).into() }).collect();
    let fe = hsc::front_end(&std::fs::read(path).expect("examples/nonlin_hru.ham"), &overrides);
    let program = fe.program.unwrap_or_else(|| panic!("{:?}", fe.diagnostics));
    hsc::compile(program, &fe.facts.expect("facts")).expect("compiles").interpreted(Precision::F64)
}

/// `max |a - b| / max |b|`.
fn rel(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
    let den = b.iter().map(|y| y.abs()).fold(0.0, f64::max);
    assert!(num.is_finite() && den > 0.0, "{num} / {den}");
    num / den
}

/// The baseline's view of one drawn problem, in precision `R`.
struct Problem<R> {
    dims: baseline::Dims,
    params: baseline::Params<R>,
    u: Vec<R>,
    cot: Vec<R>,
    q0: Vec<R>,
    p0: Vec<R>,
}

fn problem<R: baseline::Real>(m: &Model, params: &Params, batch: &Batch) -> Problem<R> {
    let spec = m.spec();
    let get = |name: &str| -> Vec<R> {
        params
            .get(spec, name)
            .unwrap_or_else(|| panic!("param {name}"))
            .iter()
            .map(|&x| R::from_f64(x))
            .collect()
    };
    let cast = |v: &[f64]| -> Vec<R> { v.iter().map(|&x| R::from_f64(x)).collect() };
    let w = get("W");
    let bmat = get("B");
    let (p, n) = (w.len(), bmat.len() / w.len());
    let initial = batch.initial.as_ref().expect("an initial state");
    Problem {
        dims: baseline::Dims { p, n },
        params: baseline::Params { w, b: get("b"), c: get("c"), alpha: get("alpha")[0], bmat },
        u: cast(&batch.inputs[0]),
        cot: cast(&batch.cotangents[0]),
        q0: cast(&initial[0]),
        p0: cast(&initial[1]),
    }
}

/// Runs the baseline: the loss, the final state and the gradients.
fn run<R: baseline::Real>(pr: &Problem<R>, dt: R, eps: R) -> (R, Vec<R>, Vec<R>, baseline::Grads<R>) {
    let (mut q, mut p) = (pr.q0.clone(), pr.p0.clone());
    let loss = baseline::forward(&pr.dims, &pr.params, dt, &pr.u, &pr.cot, &mut q, &mut p);
    let g = baseline::rhel(&pr.dims, &pr.params, dt, eps, &pr.u, &pr.cot, &q, &p);
    (loss, q, p, g)
}

/// The baseline's gradients as hsc orders them: params in declaration order, then q0, p0.
fn arrays(g: &baseline::Grads<f64>) -> [(&'static str, Vec<f64>); 7] {
    [
        ("W", g.w.clone()),
        ("b", g.b.clone()),
        ("c", g.c.clone()),
        ("alpha", vec![g.alpha]),
        ("B", g.bmat.clone()),
        ("q0", g.q0.clone()),
        ("p0", g.p0.clone()),
    ]
}

/// The baseline in f64 against hsc's interpreter in f64; returns the worst gradient error.
fn against_hsc(overrides: &[(&str, &str)], seed: u64) -> f64 {
    let m = model(overrides);
    let drawn = hsc::gradcheck::draw(&m, STEPS, seed);
    let (params, batch) = (&drawn.params, &drawn.batch);
    let pr = problem::<f64>(&m, params, batch);

    let (loss, q, p, g) = run(&pr, DT, EPS);
    let fwd = m.forward(params, batch).expect("hsc forward");
    let loss_err = (loss - fwd.loss).abs() / fwd.loss.abs();
    let state_err = rel(&q, &fwd.state[0]).max(rel(&p, &fwd.state[1]));
    println!(
        "P={} N={} T={STEPS} seed {seed}: loss {loss:.6} vs {:.6} (rel {loss_err:.1e}), final state {state_err:.1e}",
        pr.dims.p, pr.dims.n, fwd.loss
    );
    assert!(loss_err <= 1e-12, "loss: {loss} vs hsc {} (rel {loss_err:.1e})", fwd.loss);
    assert!(state_err <= 1e-12, "final state: {state_err:.1e}");

    let hsc_g = m.rhel_grad(params, batch, Echo::Central(EPS)).expect("hsc rhel");
    assert!((hsc_g.loss - fwd.loss).abs() <= 1e-12 * fwd.loss.abs());
    let spec = m.spec();
    let mut worst: f64 = 0.0;
    for (name, ours) in arrays(&g) {
        let theirs: &[f64] = match name {
            "q0" => &hsc_g.initial[0],
            "p0" => &hsc_g.initial[1],
            _ => &hsc_g.params[spec.params.iter().position(|x| x.name == name).expect("param")],
        };
        let e = rel(&ours, theirs);
        println!("  rhel d/d{name}: rel {e:.1e}");
        assert!(e <= 1e-9, "dL/d{name}: baseline vs hsc rel {e:.1e}");
        worst = worst.max(e);
    }
    worst
}

#[test]
fn matches_hsc_at_the_default_sizes() {
    for seed in [0, 1] {
        against_hsc(&[], seed);
    }
}

#[test]
fn matches_hsc_at_odd_sizes() {
    // N = 7 leaves a remainder in the baseline's four-way dot product.
    against_hsc(&[("P", "5"), ("N", "7")], 3);
}

/// The same baseline in f32 against f64, both at hsc's f32 default ε = 1e-3 (the bias
/// cancels, so what is left is f32 rounding, amplified by 1/(2ε) in the gradients). Measured:
/// loss 1.6e-7, final state 3.2e-7, gradients 4e-6 to 3.7e-5; allowed 1e-5 and 3e-4.
#[test]
fn f32_tracks_f64() {
    const EPS32: f64 = hsc::gradcheck::F32_DEFAULT_EPS;
    let m = model(&[]);
    let drawn = hsc::gradcheck::draw(&m, STEPS, 0);
    let p64 = problem::<f64>(&m, &drawn.params, &drawn.batch);
    let p32 = problem::<f32>(&m, &drawn.params, &drawn.batch);
    let (l64, q64, _, g64) = run(&p64, DT, EPS32);
    let (l32, q32, _, g32) = run(&p32, DT as f32, EPS32 as f32);
    let wide = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| f64::from(x)).collect() };
    let loss_err = (f64::from(l32) - l64).abs() / l64.abs();
    let state_err = rel(&wide(&q32), &q64);
    println!("f32 vs f64: loss rel {loss_err:.1e}, final q {state_err:.1e}");
    assert!(loss_err <= 1e-5, "loss {loss_err:.1e}");
    assert!(state_err <= 1e-5, "final q {state_err:.1e}");
    let g32 = baseline::Grads {
        w: wide(&g32.w),
        b: wide(&g32.b),
        c: wide(&g32.c),
        alpha: f64::from(g32.alpha),
        bmat: wide(&g32.bmat),
        q0: wide(&g32.q0),
        p0: wide(&g32.p0),
    };
    for ((name, a), (_, b)) in arrays(&g32).into_iter().zip(arrays(&g64)) {
        let e = rel(&a, &b);
        println!("  rhel d/d{name}: f32 vs f64 rel {e:.1e}");
        assert!(e <= 3e-4, "dL/d{name}: f32 vs f64 rel {e:.1e}");
    }
}
