//! Echoes run in stretches, last stretch first, with their buffers carried between calls
//! (`Model::echo_begin`, `echo_back`, `echo_base`, `echo_anchor`): the same gradients as one
//! echo over the whole sequence, on the interpreter, Cranelift and C, for every example model
//! without a loss of its own (the layers `hsc train` stacks).

mod common;

use common::path;
use hsc::Backend;
use hsc::gradcheck::{draw, relative_error};
use hsc::kernel::Precision;
use hsc_runtime::{Batch, Echo, Gradients, Model, Walk};

/// Rows `from..to` of every per-step array of a batch of one sequence.
fn rows(m: &Model, batch: &Batch, from: usize, to: usize) -> Batch<'static> {
    let spec = m.spec();
    let cut = |a: &[f64], len: usize| a[from * len..to * len].to_vec();
    Batch {
        steps: to - from,
        size: 1,
        inputs: Batch::owned(spec.inputs.iter().zip(&batch.inputs).map(|(s, a)| cut(a, s.len())).collect()),
        cotangents: Batch::owned(
            spec.pairs.iter().zip(&batch.cotangents).map(|(p, a)| cut(a, p.position.len())).collect(),
        ),
        ..Batch::default()
    }
}

/// The echo run back in stretches of `stretch` steps (the first one shorter), anchored to
/// `anchors` (the forward state at every stretch's end) when given.
fn in_stretches(
    m: &Model,
    batch: &Batch,
    params: &hsc_runtime::Params,
    walk: Walk,
    stretch: usize,
    anchors: Option<&[Vec<Vec<f64>>]>,
) -> (Gradients, Vec<Vec<f64>>) {
    let fwd = m.forward(params, batch).unwrap();
    let mut echoing = m.echo_begin(walk, &fwd.state).unwrap();
    let spec = m.spec();
    let mut total = Gradients {
        loss: 0.0,
        params: spec.params.iter().map(|p| vec![0.0; p.len()]).collect(),
        inputs: spec.inputs.iter().map(|a| vec![0.0; batch.steps * a.len()]).collect(),
        initial: Vec::new(),
    };
    let mut end = batch.steps;
    while end > 0 {
        let start = end.saturating_sub(stretch);
        if let Some(anchors) = anchors {
            m.echo_anchor(&mut echoing, &anchors[end]).unwrap();
        }
        let g = m.echo_back(params, &rows(m, batch, start, end), &mut echoing).unwrap();
        for (t, g) in total.params.iter_mut().zip(&g.params) {
            t.iter_mut().zip(g).for_each(|(t, g)| *t += g);
        }
        for ((t, g), a) in total.inputs.iter_mut().zip(&g.inputs).zip(&spec.inputs) {
            t[start * a.len()..end * a.len()].copy_from_slice(g);
        }
        total.initial = g.initial;
        end = start;
    }
    (total, m.echo_base(&echoing))
}

fn worst(a: &Gradients, b: &Gradients) -> f64 {
    let arrays =
        |g: &Gradients| g.params.iter().chain(&g.inputs).chain(&g.initial).cloned().collect::<Vec<_>>();
    arrays(a).iter().zip(arrays(b)).map(|(x, y)| relative_error(x, &y)).fold(0.0, f64::max)
}

#[test]
fn echoes_in_stretches_are_the_whole_echo() {
    let mut backends = vec![Backend::Interp, Backend::Cranelift];
    if hsc::backend::c::Toolchain::find().is_ok() {
        backends.push(Backend::C);
    }
    let models = ["fput_chain", "lin_hru", "nonlin_hru", "pendulum_chain", "ring_lattice"];
    for name in models {
        let file = path(&format!("examples/{name}.ham"));
        let compiled = hsc::load(std::path::Path::new(&file), &[]).expect("the example compiles");
        for &backend in &backends {
            let m = compiled.model(backend, Precision::F64).expect("the backend runs here");
            let steps = 23;
            let drawn = draw(&m, steps, 11);
            let (params, batch) = (&drawn.params, &drawn.batch);
            let trajectory = m.trajectory(params, batch).unwrap();
            // The forward state after each step, per state array.
            let anchors: Vec<Vec<Vec<f64>>> = (0..=steps)
                .map(|t| {
                    m.spec()
                        .sides()
                        .iter()
                        .zip(&trajectory.states)
                        .map(|(&s, x)| {
                            let len = m.spec().side(s).len();
                            x[t * len..(t + 1) * len].to_vec()
                        })
                        .collect()
                })
                .collect();
            let eps = 1e-3;
            let exact = m.tangent_grad(params, batch).unwrap();
            let cases = [
                (Walk::Rhel(eps), m.rhel_grad(params, batch, Echo::Central(eps)).unwrap()),
                (Walk::Tangent, exact.clone()),
            ];
            for (walk, whole) in cases {
                for stretch in [steps, 5, 1] {
                    for anchored in [false, true] {
                        let anchors = anchored.then_some(anchors.as_slice());
                        let (g, base) = in_stretches(&m, batch, params, walk, stretch, anchors);
                        let at = format!(
                            "{name} on {backend:?}, {walk:?} in stretches of {stretch}, anchored {anchored}"
                        );
                        if anchored && matches!(walk, Walk::Rhel(_)) {
                            // Anchoring moves the nudged echoes by their mean's O(ε²) offset
                            // from the forward state: RHEL's own order of error.
                            let (e, own) = (worst(&g, &exact), worst(&whole, &exact));
                            assert!(
                                e < 2.0 * own + 1e-9,
                                "{at}: {e:.2e} from the exact gradient, the whole echo {own:.2e}"
                            );
                        } else {
                            let e = worst(&g, &whole);
                            assert!(e < 1e-11, "{at}: {e:.2e} from the whole echo");
                        }
                        // Back at the start, the echoes stand at the initial state.
                        let start = batch.initial.as_ref().unwrap();
                        for (b, x) in base.iter().zip(start) {
                            let e = relative_error(b, x);
                            // The mean of the two nudged echoes is the unnudged one up to O(ε²).
                            let limit = if matches!(walk, Walk::Rhel(_)) { 10.0 * eps * eps } else { 1e-11 };
                            assert!(e < limit, "{at}: the echo ends {e:.2e} from the initial state");
                        }
                    }
                }
            }
        }
    }
}
