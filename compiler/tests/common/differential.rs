//! The differential comparison of a backend with the reference interpreter: every output of
//! every pass on one drawn problem, and the tolerances (see `backend_cranelift.rs` for why
//! they are what they are).

use hsc::gradcheck::{draw, relative_error};
use hsc::kernel::Precision;
use hsc_runtime::{Echo, Forcing, Model};

pub struct Tolerance {
    pub states: f64,
    pub grads: f64,
    pub rhel: f64,
    pub eps: f64,
}

pub fn tolerance(p: Precision) -> Tolerance {
    match p {
        Precision::F64 => Tolerance { states: 1e-12, grads: 1e-10, rhel: 1e-10, eps: 1e-2 },
        Precision::F32 => Tolerance { states: 1e-4, grads: 1e-3, rhel: 1e-2, eps: 1e-2 },
    }
}

/// One output of a pass: what it is, its values, whether it is a RHEL gradient, whether it is
/// a gradient.
pub type Output = (String, Vec<f64>, bool, bool);

/// Every output of every pass on one drawn problem.
pub fn outputs(m: &Model, steps: usize, seed: u64, eps: f64) -> Result<Vec<Output>, String> {
    let drawn = draw(m, steps, seed);
    let (params, batch) = (&drawn.params, &drawn.batch);
    let e = |e: hsc_runtime::RunError| e.to_string();
    let mut out = Vec::new();
    let forward = m.forward(params, batch).map_err(e)?;
    out.push(("forward loss".to_owned(), vec![forward.loss], false, false));
    out.extend(forward.state.into_iter().map(|x| ("final state".to_owned(), x, false, false)));
    let t = m.trajectory(params, batch).map_err(e)?;
    // Generalized teacher forcing toward the trajectory after each step, moved by 0.1: the
    // positions forced, the momenta not.
    let sides = m.spec().sides();
    let forcing = Forcing {
        alpha: sides.iter().map(|s| if s.momentum { 0.0 } else { 0.3 }).collect(),
        states: sides
            .iter()
            .zip(&t.states)
            .map(|(&s, x)| x[m.spec().side(s).len()..].iter().map(|v| v + 0.1).collect::<Vec<f64>>().into())
            .collect(),
    };
    out.extend(t.states.into_iter().map(|x| ("trajectory".to_owned(), x, false, false)));
    out.push(("energy".to_owned(), t.energy, false, false));
    for (name, eps) in [("unnudged echo", 0.0), ("nudged echo", eps)] {
        let [a, b] = m.echo_states(params, batch, eps).map_err(e)?;
        out.extend(a.into_iter().chain(b).map(|x| (name.to_owned(), x, false, false)));
    }
    let grads = [
        ("rhel", m.rhel_grad(params, batch, Echo::Central(eps)).map_err(e)?),
        ("tangent", m.tangent_grad(params, batch).map_err(e)?),
        ("bptt", m.bptt_grad(params, batch).map_err(e)?),
        ("forced bptt", m.forced_bptt_grad(params, batch, &forcing).map_err(e)?),
    ];
    for (name, g) in grads {
        out.push((format!("{name} loss"), vec![g.loss], false, false));
        let arrays = g.params.into_iter().chain(g.inputs).chain(g.initial);
        out.extend(
            arrays.enumerate().map(|(i, x)| (format!("{name} gradient {i}"), x, name == "rhel", true)),
        );
    }
    // Hamiltonian Learning's ticks (hl.md), the params fixed: the state, the costates, the update.
    let initial = batch.initial.as_ref().map(|i| i.iter().map(|a| a.to_vec()).collect());
    let mut hl = m.hl_start(1, initial);
    let ticks = m.hl(params, batch, &mut hl, 1.0, 0.2).map_err(e)?;
    out.push(("hl loss".to_owned(), vec![ticks.loss], false, false));
    out.extend(hl.state.into_iter().map(|x| ("hl state".to_owned(), x, false, false)));
    let costates = hl.costate.into_iter().chain(hl.param_costate).chain(ticks.update);
    out.extend(costates.enumerate().map(|(i, x)| (format!("hl costate {i}"), x, false, true)));
    Ok(out)
}

/// Checks `tested` against `reference` (the interpreter in the same precision). In f64 the two
/// must agree within the tolerances. In f32, where ulps of the math functions are magnified
/// by the dynamics, `tested` must be as close to `truth` (the f64 interpreter) as the f32
/// interpreter is, within a factor 4 plus the tolerance (or within the tolerance of the f32 interpreter
/// directly). Returns the worst relative difference from `reference`.
pub fn agree(
    reference: &Model,
    tested: &Model,
    truth: &Model,
    steps: usize,
    seed: u64,
    p: Precision,
) -> Result<f64, String> {
    let tol = tolerance(p);
    let (a, b) = (outputs(tested, steps, seed, tol.eps)?, outputs(reference, steps, seed, tol.eps)?);
    let c = if p == Precision::F32 { Some(outputs(truth, steps, seed, tol.eps)?) } else { None };
    let mut worst: f64 = 0.0;
    for (i, ((what, x, rhel, grad), (_, y, _, _))) in a.iter().zip(&b).enumerate() {
        let limit = if *rhel {
            tol.rhel
        } else if *grad {
            tol.grads
        } else {
            tol.states
        };
        let e = relative_error(x, y);
        worst = worst.max(e);
        if e <= limit {
            continue;
        }
        if let Some(c) = &c {
            let (to_truth, interp_to_truth) = (relative_error(x, &c[i].1), relative_error(y, &c[i].1));
            if to_truth <= 4.0 * interp_to_truth + limit {
                continue;
            }
            return Err(format!(
                "{what}: {e:.2e} from the f32 interpreter (> {limit:.0e}), and {to_truth:.2e} from f64 where the f32 interpreter is {interp_to_truth:.2e}"
            ));
        }
        return Err(format!("{what}: {e:.2e} > {limit:.0e}"));
    }
    Ok(worst)
}
