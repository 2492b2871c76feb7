//! The recurrent layer of a block: the user's model run over one sequence. Its input is a
//! matrix `u` of `[T, inputs]` (split among the model's input arrays, in declaration order),
//! its output the positions `q_1 .. q_T` (`[T, positions]`, the pairs' positions side by
//! side), and its backward pass one of the model's gradient passes driven by per-step
//! cotangents of those positions.

use hsc_runtime::{Batch, Echo, Echoing, Gradients, Model, ModelSpec, Params};

use super::{GradMethod, TrainError};

/// Number of input columns and output columns of a model used as a layer.
pub fn widths(spec: &ModelSpec) -> (usize, usize) {
    let inputs = spec.inputs.iter().map(|a| a.len()).sum();
    let positions = spec.pairs.iter().map(|p| p.position.len()).sum();
    (inputs, positions)
}

/// Why a model cannot be a layer, if it cannot.
pub fn check(spec: &ModelSpec) -> Result<(), String> {
    if spec.has_loss {
        return Err(format!(
            "model {} has its own `loss`; a recurrent layer's loss comes from the layers above it, \
             so remove the `loss` and `target` lines to train it with `hsc train`",
            spec.name
        ));
    }
    if spec.inputs.is_empty() {
        return Err(format!(
            "model {} has no `input`, so a layer of it cannot see the data; declare one, as in \
             `input u[N]`",
            spec.name
        ));
    }
    Ok(())
}

/// Runs the model over `u` (`[T, inputs]`) from `initial` (per state array; rest when
/// `None`): the positions `[T, positions]` after each step, and the final state.
pub fn run(
    model: &Model,
    params: &Params,
    u: &[f64],
    steps: usize,
    initial: Option<Vec<Vec<f64>>>,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), TrainError> {
    let states = trajectory(model, params, u, steps, initial)?;
    let q = positions(model.spec(), &states, (1..=steps).collect());
    Ok((q, last(model.spec(), &states, steps)))
}

/// The positions after each step of a stretch of `steps` steps with inputs `u`, retraced
/// from the state `end` the stretch ended in: the model run from `end`, momenta flipped, over
/// the inputs in reverse order, which runs time backwards (the steps are time-reversible).
/// Also the state the stretch started in, as retraced.
pub fn retrace(
    model: &Model,
    params: &Params,
    u: &[f64],
    steps: usize,
    end: Vec<Vec<f64>>,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), TrainError> {
    let spec = model.spec();
    let (inputs, _) = widths(spec);
    let reversed: Vec<f64> = u.chunks(inputs.max(1)).rev().flatten().copied().collect();
    let states = trajectory(model, params, &reversed, steps, Some(flip(spec, end)))?;
    // Step t's positions (after it) are those the reversed run had before its step
    // `steps - 1 - t`; flipping the momenta leaves positions as they are.
    let q = positions(spec, &states, (0..steps).rev().collect());
    Ok((q, flip(spec, last(spec, &states, steps))))
}

/// The recorded states (per state array `[T + 1, ...]`) of the model run over `u` from
/// `initial` (rest when `None`).
fn trajectory(
    model: &Model,
    params: &Params,
    u: &[f64],
    steps: usize,
    initial: Option<Vec<Vec<f64>>>,
) -> Result<Vec<Vec<f64>>, TrainError> {
    let spec = model.spec();
    let cotangents = spec.pairs.iter().map(|p| vec![0.0; steps * p.position.len()].into()).collect();
    let batch = Batch {
        steps,
        size: 1,
        inputs: Batch::owned(split(spec, u, steps)),
        cotangents,
        initial: initial.map(Batch::owned),
        ..Batch::default()
    };
    Ok(model.trajectory(params, &batch).map_err(TrainError::Run)?.states)
}

/// The state after the last of `steps` recorded steps.
fn last(spec: &ModelSpec, states: &[Vec<f64>], steps: usize) -> Vec<Vec<f64>> {
    spec.sides().into_iter().zip(states).map(|(s, x)| x[steps * spec.side(s).len()..].to_vec()).collect()
}

/// A state with its momenta negated (time reversed).
fn flip(spec: &ModelSpec, state: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    spec.sides()
        .into_iter()
        .zip(state)
        .map(|(s, x)| if s.momentum { x.into_iter().map(|v| -v).collect() } else { x })
        .collect()
}

/// The positions at the recorded states `at`, one row each, the pairs side by side.
fn positions(spec: &ModelSpec, states: &[Vec<f64>], at: Vec<usize>) -> Vec<f64> {
    let (_, width) = widths(spec);
    let mut q = vec![0.0; at.len() * width];
    let mut offset = 0;
    for (index, side) in spec.sides().into_iter().enumerate().filter(|(_, s)| !s.momentum) {
        let len = spec.side(side).len();
        for (row, &i) in at.iter().enumerate() {
            q[row * width + offset..row * width + offset + len]
                .copy_from_slice(&states[index][i * len..(i + 1) * len]);
        }
        offset += len;
    }
    q
}

/// Runs `echoing` back over a stretch of `steps` steps with inputs `u`, nudged by the
/// cotangents `dq` of its positions times `scale`: the params' gradients and the inputs'
/// gradient `[steps, inputs]` of `Σ_t ⟨dq_t, q_t⟩` (the `scale` divided out again).
pub fn echo_back(
    model: &Model,
    params: &Params,
    u: &[f64],
    dq: &[f64],
    steps: usize,
    scale: f64,
    echoing: &mut Echoing,
) -> Result<(Vec<Vec<f64>>, Vec<f64>), TrainError> {
    let spec = model.spec();
    let batch = Batch {
        steps,
        size: 1,
        inputs: Batch::owned(split(spec, u, steps)),
        cotangents: Batch::owned(per_pair(spec, dq, steps, scale)),
        ..Batch::default()
    };
    let grads = model.echo_back(params, &batch, echoing).map_err(TrainError::Run)?;
    let param_grads = grads.params.into_iter().map(|g| g.into_iter().map(|x| x / scale).collect()).collect();
    let du = join(spec, &grads.inputs, steps).into_iter().map(|x| x / scale).collect();
    Ok((param_grads, du))
}

/// `[T, positions]` into one `[T, len]` array per pair, times `scale`.
fn per_pair(spec: &ModelSpec, dq: &[f64], steps: usize, scale: f64) -> Vec<Vec<f64>> {
    let (_, width) = widths(spec);
    let mut offset = 0;
    spec.pairs
        .iter()
        .map(|pair| {
            let len = pair.position.len();
            let mut c = Vec::with_capacity(steps * len);
            for t in 0..steps {
                c.extend(dq[t * width + offset..t * width + offset + len].iter().map(|x| x * scale));
            }
            offset += len;
            c
        })
        .collect()
}

/// The gradients of `Σ_t ⟨dq_t, q_t⟩` with respect to the model's params and to `u`
/// (`[T, inputs]`), by `method`. The cotangents are scaled so that the largest is 1 before the
/// echoes run, so `eps` is the nudge relative to the largest one.
pub fn backward(
    model: &Model,
    params: &Params,
    u: &[f64],
    dq: &[f64],
    steps: usize,
    method: GradMethod,
) -> Result<(Vec<Vec<f64>>, Vec<f64>), TrainError> {
    let spec = model.spec();
    let (inputs, _) = widths(spec);
    let largest = dq.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if largest == 0.0 {
        let zeros = spec.params.iter().map(|p| vec![0.0; p.len()]).collect();
        return Ok((zeros, vec![0.0; steps * inputs]));
    }
    let batch = Batch {
        steps,
        size: 1,
        inputs: Batch::owned(split(spec, u, steps)),
        cotangents: Batch::owned(per_pair(spec, dq, steps, 1.0 / largest)),
        ..Batch::default()
    };
    let grads: Gradients = match method {
        GradMethod::Rhel { eps } => model.rhel_grad(params, &batch, Echo::Central(eps)),
        GradMethod::Tangent => model.tangent_grad(params, &batch),
        GradMethod::Bptt => model.bptt_grad(params, &batch),
    }
    .map_err(TrainError::Run)?;
    let param_grads =
        grads.params.into_iter().map(|g| g.into_iter().map(|x| x * largest).collect()).collect();
    let du = join(spec, &grads.inputs, steps).into_iter().map(|x| x * largest).collect();
    Ok((param_grads, du))
}

/// `[T, inputs]` into one `[T, len]` array per model input.
fn split(spec: &ModelSpec, u: &[f64], steps: usize) -> Vec<Vec<f64>> {
    let (width, _) = widths(spec);
    let mut offset = 0;
    spec.inputs
        .iter()
        .map(|a| {
            let len = a.len();
            let mut part = Vec::with_capacity(steps * len);
            for t in 0..steps {
                part.extend_from_slice(&u[t * width + offset..t * width + offset + len]);
            }
            offset += len;
            part
        })
        .collect()
}

/// The inverse of [`split`].
fn join(spec: &ModelSpec, parts: &[Vec<f64>], steps: usize) -> Vec<f64> {
    let (width, _) = widths(spec);
    let mut u = vec![0.0; steps * width];
    let mut offset = 0;
    for (a, part) in spec.inputs.iter().zip(parts) {
        let len = a.len();
        for t in 0..steps {
            u[t * width + offset..t * width + offset + len].copy_from_slice(&part[t * len..(t + 1) * len]);
        }
        offset += len;
    }
    u
}
