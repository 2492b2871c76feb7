//! Hamiltonian Learning's kernel against `../shared/spec/hl_reference.py`'s rule, ported here
//! line by line (its model: double wells whose mean position tracks a sine), tick by tick, on
//! every CPU backend; and its building block, the step's vector-Jacobian product, against BPTT.

mod common;

use common::path;
use hsc::Backend;
use hsc::kernel::Precision;
use hsc_runtime::{Batch, Model, Params};

const P: usize = 3;
const DT: f64 = 0.05;

fn dv_dq(q: &[f64], w: &[f64]) -> Vec<f64> {
    (0..P).map(|i| 4.0 * w[i] * q[i] * (q[i] * q[i] - 1.0) + w[P + i]).collect()
}

/// One kick-drift-kick step (hl_reference.py's `step`).
fn step(x: &[f64], w: &[f64]) -> Vec<f64> {
    let (q, p) = x.split_at(P);
    let f = dv_dq(q, w);
    let p1: Vec<f64> = (0..P).map(|i| p[i] - 0.5 * DT * f[i]).collect();
    let q1: Vec<f64> = (0..P).map(|i| q[i] + DT * p1[i]).collect();
    let f = dv_dq(&q1, w);
    let p2: Vec<f64> = (0..P).map(|i| p1[i] - 0.5 * DT * f[i]).collect();
    [q1, p2].concat()
}

fn loss(x: &[f64], y: f64) -> f64 {
    let mean = x[..P].iter().sum::<f64>() / P as f64;
    0.5 * (mean - y) * (mean - y)
}

fn dloss_dx(x: &[f64], y: f64) -> Vec<f64> {
    let mean = x[..P].iter().sum::<f64>() / P as f64;
    let mut g = vec![(mean - y) / P as f64; P];
    g.extend([0.0; P]);
    g
}

/// `(J_xᵀ v, J_wᵀ v)` of one step at `(x, w)` (hl_reference.py's `vjp`).
fn vjp(x: &[f64], w: &[f64], v: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (q0, p0) = x.split_at(P);
    let f0 = dv_dq(q0, w);
    let p1: Vec<f64> = (0..P).map(|i| p0[i] - 0.5 * DT * f0[i]).collect();
    let q1: Vec<f64> = (0..P).map(|i| q0[i] + DT * p1[i]).collect();
    let (mut vq, mut vp) = (v[..P].to_vec(), v[P..].to_vec());
    let mut gw = vec![0.0; 2 * P];
    for (qs, first) in [(&q1, false), (&q0.to_vec(), true)] {
        if first {
            for i in 0..P {
                vp[i] += DT * vq[i]; // through the drift
            }
        }
        for i in 0..P {
            let hess = 4.0 * w[i] * (3.0 * qs[i] * qs[i] - 1.0);
            vq[i] -= 0.5 * DT * hess * vp[i];
            gw[i] -= 0.5 * DT * 4.0 * qs[i] * (qs[i] * qs[i] - 1.0) * vp[i];
            gw[P + i] -= 0.5 * DT * vp[i];
        }
    }
    ([vq, vp].concat(), gw)
}

/// hl_reference.py's `hl`: per tick the loss and the update `δ μ` (or `δ μ_t` when `local`).
fn reference(
    w0: &[f64],
    x0: &[f64],
    ys: &[f64],
    gamma: f64,
    theta: f64,
    beta: f64,
    local: bool,
) -> Vec<(f64, Vec<f64>)> {
    let (mut w, mut x) = (w0.to_vec(), x0.to_vec());
    let (mut lam, mut mu) = (vec![0.0; 2 * P], vec![0.0; 2 * P]);
    let mut out = Vec::new();
    for &y in ys {
        let xn = step(&x, &w);
        let l = loss(&xn, y);
        let g = dloss_dx(&xn, y);
        let r: Vec<f64> = (0..2 * P).map(|i| lam[i] / DT + gamma * g[i]).collect();
        let (jx, jw) = vjp(&x, &w, &r);
        let before = mu.clone();
        lam = (0..2 * P).map(|i| (1.0 - theta) * lam[i] + DT * (jx[i] - lam[i] / DT)).collect();
        mu = (0..2 * P).map(|i| (1.0 - theta) * mu[i] + DT * jw[i]).collect();
        let used = if local { &before } else { &mu };
        let update: Vec<f64> = used.iter().map(|m| DT * m).collect();
        for i in 0..2 * P {
            w[i] -= beta * update[i];
        }
        out.push((l, update));
        x = xn;
    }
    out
}

fn wells(backend: Backend) -> Model {
    let c =
        hsc::load(std::path::Path::new(&path("examples/fit/hl_wells.ham")), &[]).expect("hl_wells compiles");
    c.model(backend, Precision::F64).expect("the backend runs here")
}

fn targets(ticks: usize) -> Vec<f64> {
    (0..ticks).map(|t| (0.05 * t as f64).sin()).collect()
}

/// The kernel one tick per call with hl.md's per-tick weight update, against the ported rule:
/// every tick's loss and update (relative to the largest update of the run) agree to 1e-12, on
/// the interpreter, C and Cranelift, local and not.
#[test]
fn hl_kernel_matches_the_reference_rule_tick_by_tick() {
    let w0 = [0.61, 0.87, 0.74, 0.12, -0.05, -0.17];
    let x0 = [0.3, -0.45, 0.1, -0.2, 0.5, 0.05];
    let ticks = 400;
    let ys = targets(ticks);
    let mut backends = vec![Backend::Interp, Backend::Cranelift];
    if hsc::backend::c::Toolchain::find().is_ok() {
        backends.push(Backend::C);
    }
    for (theta, beta, local) in [(0.2, 2.0, false), (0.05, 0.5, true), (1.0, 1.0, false)] {
        let want = reference(&w0, &x0, &ys, 1.0, theta, beta, local);
        // The updates' size over the run: an update passing through 0 has no relative error.
        let size = want.iter().flat_map(|(_, u)| u).fold(1e-300f64, |m, w| m.max(w.abs()));
        for &backend in &backends {
            let model = wells(backend);
            let mut params = Params { values: vec![w0[..P].to_vec(), w0[P..].to_vec()] };
            let mut hl = model.hl_start(1, Some(vec![x0[..P].to_vec(), x0[P..].to_vec()]));
            let mut worst = 0.0f64;
            for (t, (l, update)) in want.iter().enumerate() {
                let batch =
                    Batch { steps: 1, size: 1, targets: Batch::owned(vec![vec![ys[t]]]), ..Batch::default() };
                let before: Vec<f64> = hl.param_costate.concat();
                let got = model.hl(&params, &batch, &mut hl, 1.0, theta).unwrap();
                // Local: the update uses μ_t, the costate before the tick.
                let mu: Vec<f64> = if local { before } else { got.update.concat() };
                let got_update: Vec<f64> = mu.iter().map(|m| DT * m).collect();
                for (g, w) in got_update.iter().zip(update) {
                    worst = worst.max((g - w).abs() / size);
                }
                worst = worst.max((got.loss - l).abs() / l.abs().max(1e-3));
                for (i, u) in got_update.iter().enumerate() {
                    params.values[i / P][i % P] -= beta * u;
                }
            }
            eprintln!(
                "HL against hl_reference.py's rule, θ {theta}, β {beta}, local {local}, {}: worst {worst:.1e}",
                backend.name()
            );
            assert!(worst < 1e-12, "{}: {worst:e}", backend.name());
        }
    }
}

/// The building block: one tick from zero costates with θ = 0 is `δγ` times BPTT's gradient of
/// that tick's loss, for the state (`λ`) and the params (`μ`), exactly; and many ticks in one
/// call (the params fixed) equal the same ticks one per call without updates.
#[test]
fn one_tick_is_bptt_and_chunks_are_ticks() {
    let model = wells(Backend::Interp);
    let params = Params { values: vec![vec![0.6, 0.9, 0.7], vec![0.1, -0.1, 0.02]] };
    let x0 = [[0.3, -0.45, 0.1, 0.2, -0.3, 0.4], [-0.2, 0.5, 0.05, 0.1, 0.0, -0.3]];
    let (q0, p0): (Vec<f64>, Vec<f64>) = (
        x0.iter().flat_map(|x| x[..P].to_vec()).collect(),
        x0.iter().flat_map(|x| x[P..].to_vec()).collect(),
    );
    let ys = vec![0.7, -0.4];
    let batch = Batch {
        steps: 1,
        size: 2,
        targets: Batch::owned(vec![ys.clone()]),
        initial: Some(Batch::owned(vec![q0.clone(), p0.clone()])),
        ..Batch::default()
    };
    let bptt = model.bptt_grad(&params, &batch).unwrap();
    let (gamma, theta) = (1.7, 0.0);
    let mut hl = model.hl_start(2, Some(vec![q0.clone(), p0.clone()]));
    let got = model.hl(&params, &batch, &mut hl, gamma, theta).unwrap();
    let scale = DT * gamma;
    let mut worst = 0.0f64;
    for (a, b) in hl.costate.concat().iter().zip(bptt.initial.concat()) {
        worst = worst.max((a - scale * b).abs());
    }
    for (a, b) in got.update.concat().iter().zip(bptt.params.concat()) {
        worst = worst.max((a - scale * b).abs());
    }
    assert!((got.loss - bptt.loss).abs() < 1e-15, "{} {}", got.loss, bptt.loss);
    assert!(worst < 1e-14, "HL's one tick against δγ·BPTT: {worst:e}");

    let ticks = 50;
    let ys = targets(ticks);
    let whole = Batch { steps: ticks, size: 1, targets: Batch::owned(vec![ys.clone()]), ..Batch::default() };
    let mut chunk = model.hl_start(1, Some(vec![x0[0][..P].to_vec(), x0[0][P..].to_vec()]));
    let at_once = model.hl(&params, &whole, &mut chunk, 1.0, 0.3).unwrap();
    let mut single = model.hl_start(1, Some(vec![x0[0][..P].to_vec(), x0[0][P..].to_vec()]));
    let (mut loss, mut sum) = (0.0, vec![0.0; 2 * P]);
    for y in ys {
        let one = Batch { steps: 1, size: 1, targets: Batch::owned(vec![vec![y]]), ..Batch::default() };
        let r = model.hl(&params, &one, &mut single, 1.0, 0.3).unwrap();
        loss += r.loss;
        for (s, u) in sum.iter_mut().zip(r.update.concat()) {
            *s += u;
        }
    }
    assert_eq!(chunk, single);
    assert!(
        (at_once.loss - loss).abs() < 1e-12
            && at_once.update.concat().iter().zip(&sum).all(|(a, b)| (a - b).abs() < 1e-12)
    );
}
