//! Hamiltonian Learning online (`hsc fit --online`, `../shared/spec/hl.md`): one pass over the
//! streams, the params updated as the ticks go, the costates carried forward in time, nothing
//! of the past kept. The model's `hl` kernel runs `chunk` ticks per call with the params fixed,
//! then `w -= δ β Σμ` (or `δ β Σμ_t`, the costates before each tick, with `local`): with
//! `chunk = 1` that is hl.md's per-tick rule exactly; a longer chunk applies a chunk's updates
//! at its end. Memory is the model's state and costates and one chunk's data, whatever the
//! stream's length.

use std::time::Instant;

use hsc_runtime::spec::Step;
use hsc_runtime::{HlState, Model, Params};

use super::Observed;
use crate::train::TrainError;

/// HL's settings (hl.md's names).
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineConfig {
    /// The loss's weight `γ`.
    pub gamma: f64,
    /// The costates' dissipation `θ` in `[0, 1]`.
    pub theta: f64,
    /// The params' learning rate `β`.
    pub beta: f64,
    /// Update with the costate before each tick (`μ_t`) rather than after (`μ_{t+1}`).
    pub local: bool,
    /// Ticks per kernel call (1: the rule exactly).
    pub chunk: usize,
    /// Params held as they are (by name).
    pub frozen: Vec<String>,
}

/// The figures of one stretch of ticks.
#[derive(Clone, Debug, PartialEq)]
pub struct StretchRecord {
    /// Ticks done at its end.
    pub ticks: usize,
    /// The loss per tick and stream over the stretch.
    pub loss: f64,
    /// Ticks per second over the stretch.
    pub rate: f64,
}

/// Where an online run is, for a progress bar.
pub trait Watch {
    /// After each stretch.
    fn stretch(&mut self, _record: &StretchRecord, _total: usize) {}
}

impl Watch for () {}

/// An online run.
pub struct Online {
    /// The model.
    pub model: Model,
    /// Its params, as learnt so far.
    pub params: Params,
    /// The settings.
    pub config: OnlineConfig,
    /// Every stream's state and costates.
    pub hl: HlState,
    /// Ticks done.
    pub ticks: usize,
    /// One record per stretch.
    pub history: Vec<StretchRecord>,
}

impl Online {
    /// A run from `params` at the data's initial states.
    pub fn new(model: Model, params: Params, config: OnlineConfig, data: &Observed) -> Online {
        let hl = model.hl_start(data.sequences, Some(data.initial.clone()));
        Online { model, params, config, hl, ticks: 0, history: Vec::new() }
    }

    /// The model's step `δ` with the current params.
    fn delta(&self) -> f64 {
        match self.model.spec().step {
            Step::Fixed(h) => h,
            Step::Param(i) => self.params.values[i][0],
        }
    }

    /// Runs every tick of `data`, with a record every `stretch` ticks.
    pub fn run(&mut self, data: &Observed, stretch: usize, watch: &mut dyn Watch) -> Result<(), TrainError> {
        let stretch = stretch.max(1);
        let (mut loss, mut done, mut started) = (0.0, 0usize, Instant::now());
        while self.ticks < data.steps {
            let len = self.config.chunk.max(1).min(data.steps - self.ticks).min(stretch - done);
            let batch = data.slice(self.ticks, len);
            let before: Vec<Vec<f64>> =
                if self.config.local { sum_streams(&self.model, &self.hl.param_costate) } else { Vec::new() };
            let ticks = self
                .model
                .hl(&self.params, &batch, &mut self.hl, self.config.gamma, self.config.theta)
                .map_err(TrainError::Run)?;
            let step = self.delta() * self.config.beta;
            let after =
                if self.config.local { sum_streams(&self.model, &self.hl.param_costate) } else { Vec::new() };
            let spec = self.model.spec();
            for (i, (w, u)) in self.params.values.iter_mut().zip(&ticks.update).enumerate() {
                if self.config.frozen.contains(&spec.params[i].name) {
                    continue;
                }
                for (j, (w, u)) in w.iter_mut().zip(u).enumerate() {
                    // Σ_t μ_t = Σ_t μ_{t+1} − μ_end + μ_start.
                    let u = if self.config.local { u - after[i][j] + before[i][j] } else { *u };
                    *w -= step * u;
                }
            }
            if let Some((p, _)) = self
                .model
                .spec()
                .params
                .iter()
                .zip(&self.params.values)
                .find(|(_, v)| v.iter().any(|x| !x.is_finite()))
            {
                return Err(TrainError::NonFinite {
                    what: format!("tick {}: {} is not finite", self.ticks + len, p.name),
                });
            }
            self.ticks += len;
            loss += ticks.loss;
            done += len;
            if done == stretch || self.ticks == data.steps {
                let record = StretchRecord {
                    ticks: self.ticks,
                    loss: loss / (done * data.sequences) as f64,
                    rate: done as f64 / started.elapsed().as_secs_f64().max(1e-9),
                };
                watch.stretch(&record, data.steps);
                self.history.push(record);
                (loss, done, started) = (0.0, 0, Instant::now());
            }
        }
        Ok(())
    }
}

/// Per param, its costate summed over the streams.
fn sum_streams(model: &Model, mu: &[Vec<f64>]) -> Vec<Vec<f64>> {
    model
        .spec()
        .params
        .iter()
        .zip(mu)
        .map(|(p, m)| {
            let n = p.len();
            (0..n).map(|j| m.iter().skip(j).step_by(n.max(1)).sum()).collect()
        })
        .collect()
}
