//! `hsc simulate`: a trajectory from a drawn initial state, with the two physical checks:
//! energy drift and the reversibility of the unnudged echo.

use hsc_runtime::{RunError, Trajectory};

use crate::Backend;
use crate::Compiled;
use crate::gradcheck::{Drawn, draw};
use crate::kernel::Precision;

/// A simulation and what was measured on it.
#[derive(Clone, Debug)]
pub struct Report {
    /// States and energy.
    pub trajectory: Trajectory,
    /// `max_t |H_t - H_0| / |H_0|`.
    pub drift: f64,
    /// Whether the model has inputs (then the energy is not conserved, and the drift is only
    /// informative).
    pub driven: bool,
    /// `max |x̂_T - Σ x_0|` of the unnudged echo.
    pub reversibility: f64,
    /// `max |x_0|`, the scale of the reversibility error.
    pub scale: f64,
    /// Params and the sequence.
    pub drawn: Drawn,
}

/// Simulates `steps` steps from a state drawn from `seed`, with standard-normal inputs drawn
/// from the seed, or none (all zero) when `free`.
pub fn run(
    compiled: &Compiled,
    steps: usize,
    seed: u64,
    precision: Precision,
    backend: Backend,
    free: bool,
) -> Result<Report, RunError> {
    let model = crate::gradcheck::build(compiled, backend, precision)?;
    let mut drawn = draw(&model, steps, seed);
    if free {
        for u in &mut drawn.batch.inputs {
            u.to_mut().fill(0.0);
        }
    }
    let (params, batch) = (&drawn.params, &drawn.batch);
    let trajectory = model.trajectory(params, batch)?;
    let h0 = trajectory.energy[0];
    let drift = trajectory.energy.iter().map(|h| (h - h0).abs()).fold(0.0, f64::max)
        / h0.abs().max(f64::MIN_POSITIVE);
    let [echo, _] = model.echo_states(params, batch, 0.0)?;
    let initial = batch.initial.as_ref().expect("drawn with an initial state");
    let mut reversibility: f64 = 0.0;
    let mut scale: f64 = 0.0;
    for (s, (x, x0)) in model.spec().sides().into_iter().zip(echo.iter().zip(initial)) {
        let sign = if s.momentum { -1.0 } else { 1.0 };
        for (a, b) in x.iter().zip(x0.iter()) {
            reversibility = reversibility.max((a - sign * b).abs());
            scale = scale.max(b.abs());
        }
    }
    let driven = !free && !model.spec().inputs.is_empty();
    Ok(Report { trajectory, drift, driven, reversibility, scale, drawn })
}
