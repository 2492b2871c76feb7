//! Fitting a model's own params to observed sequences (what `hsc fit` runs): epochs of
//! windows, the model's in-model loss, its gradient by RHEL, the tangent echo or BPTT, AdamW.
//!
//! Each sequence is cut into windows of `W` steps (the last may be shorter). A window starts
//! from the data's state where the data give it ([`Observed::forced`]), else from the state the
//! model reached at the end of the window before (carried over, computed with the params of the
//! moment; no gradient flows across windows), and the first window from the data's initial
//! state. When every window can start from data (one window per sequence, or every state
//! array forced), the windows of all sequences are shuffled together; otherwise the epoch
//! walks the windows in time order, a minibatch of sequences at a time.
//!
//! With [`FitConfig::forcing`], generalized teacher forcing pulls the forced state arrays
//! toward the data after every step and the gradient is the forced map's BPTT
//! ([`Model::forced_bptt_grad`]); [`Rate::Auto`] sets `α` from the step's Jacobian.

mod observed;
pub mod online;
pub mod store;

use std::borrow::Cow;
use std::time::Instant;

use hsc_runtime::{Batch, Echo, Forcing, Gradients, Model, Params, Trajectory};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

pub use observed::Observed;

use crate::nn::optim::{AdamState, AdamW, Schedule};
use crate::train::{GradMethod, Observer, Progress, TrainError, mix};

/// What a fit is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct FitConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Peak learning rate (warm-up over 5 % of the updates, cosine decay to a tenth).
    pub lr: f64,
    /// Windows per update.
    pub batch: usize,
    /// Steps per window (`None`: the whole sequence).
    pub window: Option<usize>,
    /// How the gradient is computed; RHEL's `eps` is the absolute nudge of the in-model loss.
    pub grad: GradMethod,
    /// Seed of the shuffles.
    pub seed: u64,
    /// Params held as they are (by name).
    pub frozen: Vec<String>,
    /// Generalized teacher forcing of the state arrays the data give (BPTT only).
    pub forcing: Option<Rate>,
}

/// How strongly generalized teacher forcing pulls the state toward the data.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    /// A fixed `α` in `[0, 1]`.
    Fixed(f64),
    /// `α = max(0, 1 − 1/‖J‖)`, set at the start of every epoch from the step's Jacobian along
    /// the model's trajectory ([`Fitter::jacobian_norm`]).
    Auto,
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct FitRecord {
    /// From 1.
    pub epoch: usize,
    /// The in-model loss per step and sequence, averaged over the epoch's windows.
    pub loss: f64,
    /// The norm of the gradient of the loss per step (all params together), averaged over
    /// the epoch's updates.
    pub grad_norm: f64,
    /// The forcing `α` of the epoch (0 without forcing).
    pub alpha: f64,
    /// The learning rate of the epoch's last update.
    pub lr: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
}

/// A fit in progress, with everything needed to go on.
#[derive(Clone)]
pub struct Fitter {
    /// The model.
    pub model: Model,
    /// Its params, as fitted so far.
    pub params: Params,
    /// The run's settings.
    pub config: FitConfig,
    /// The optimizer's moments and step count.
    pub adam: AdamState,
    /// Every finished epoch.
    pub history: Vec<FitRecord>,
}

/// A window: steps `start..start + len` of sequence `sequence`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Window {
    sequence: usize,
    start: usize,
    len: usize,
}

impl Fitter {
    /// A fresh fit from `params`.
    pub fn new(model: Model, params: Params, config: FitConfig) -> Fitter {
        let lengths: Vec<usize> = params.values.iter().map(Vec::len).collect();
        Fitter { model, params, config, adam: AdamState::new(&lengths), history: Vec::new() }
    }

    /// Epochs done.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// Steps per window on `data`.
    pub fn window(&self, data: &Observed) -> usize {
        self.config.window.unwrap_or(data.steps).clamp(1, data.steps)
    }

    /// Whether every window starts from the data (so windows are independent).
    fn independent(&self, data: &Observed) -> bool {
        self.window(data) >= data.steps || data.forced.iter().all(Option::is_some)
    }

    /// Minibatches per epoch.
    pub fn batches(&self, data: &Observed) -> usize {
        let (w, b) = (self.window(data), self.config.batch.max(1));
        let (full, short) = (data.steps / w, usize::from(!data.steps.is_multiple_of(w)));
        if self.independent(data) {
            (full * data.sequences).div_ceil(b) + (short * data.sequences).div_ceil(b)
        } else {
            (full + short) * data.sequences.div_ceil(b)
        }
    }

    /// The learning rate over the whole run.
    pub fn schedule(&self, data: &Observed) -> Schedule {
        let total = (self.config.epochs * self.batches(data)) as u64;
        Schedule { base: self.config.lr, warmup: (total / 20).max(1), total, floor: 0.1 }
    }

    /// The minibatches of one epoch, in order.
    fn plan(&self, data: &Observed, epoch: usize) -> Vec<Vec<Window>> {
        let w = self.window(data);
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.config.seed, epoch as u64, u64::MAX));
        let b = self.config.batch.max(1);
        let starts: Vec<usize> = (0..data.steps).step_by(w).collect();
        let window = |sequence, start: usize| Window { sequence, start, len: w.min(data.steps - start) };
        if self.independent(data) {
            let mut all: Vec<Window> =
                (0..data.sequences).flat_map(|s| starts.iter().map(move |&t| window(s, t))).collect();
            all.shuffle(&mut rng);
            // Windows of one length per minibatch: the full ones, then the short last ones.
            let (full, short): (Vec<Window>, Vec<Window>) = all.into_iter().partition(|x| x.len == w);
            full.chunks(b).chain(short.chunks(b)).map(<[Window]>::to_vec).collect()
        } else {
            let mut order: Vec<usize> = (0..data.sequences).collect();
            order.shuffle(&mut rng);
            starts
                .iter()
                .flat_map(|&t| order.chunks(b).map(move |c| c.iter().map(|&s| window(s, t)).collect()))
                .collect()
        }
    }

    /// One pass over every window of `data`.
    pub fn epoch(&mut self, data: &Observed, observer: &mut dyn Observer) -> Result<FitRecord, TrainError> {
        let started = Instant::now();
        let epoch = self.epochs_done() + 1;
        let schedule = self.schedule(data);
        let plan = self.plan(data, epoch);
        let alpha = match self.config.forcing {
            None => 0.0,
            Some(Rate::Fixed(a)) => a,
            Some(Rate::Auto) => (1.0 - 1.0 / self.jacobian_norm(data)?).max(0.0),
        };
        let sides = self.model.spec().sides();
        // The state each sequence reached at the end of its last window (carried windows).
        let mut carried = data.initial.clone();
        let (mut total, mut steps, mut lr) = (0.0, 0usize, schedule.lr(self.adam.step + 1));
        let mut norms = 0.0;
        let batches = plan.len();
        for (done, windows) in plan.iter().enumerate() {
            let step = self.adam.step + 1;
            let stopped = |what: String| TrainError::Stopped { epoch, step, what };
            let batch = self.batch(data, windows, &carried);
            let grads = self.gradients(data, windows, &batch, alpha).map_err(TrainError::Run)?;
            if !self.independent(data) {
                let end = self.model.forward(&self.params, &batch).map_err(TrainError::Run)?;
                for (k, side) in sides.iter().enumerate() {
                    let n = self.model.spec().side(*side).len();
                    for (i, x) in windows.iter().enumerate() {
                        carried[k][x.sequence * n..(x.sequence + 1) * n]
                            .copy_from_slice(&end.state[k][i * n..(i + 1) * n]);
                    }
                }
            }
            let counted = windows.len() * windows[0].len;
            if !grads.loss.is_finite() {
                return Err(stopped(format!("the loss is {}", grads.loss)));
            }
            let scale = 1.0 / counted as f64;
            let mean: Vec<Vec<f64>> = grads
                .params
                .iter()
                .zip(&self.model.spec().params)
                .map(|(g, p)| {
                    let held = self.config.frozen.contains(&p.name);
                    g.iter().map(|x| if held { 0.0 } else { x * scale }).collect()
                })
                .collect();
            for (p, g) in self.model.spec().params.iter().zip(&mean) {
                if let Some(x) = g.iter().find(|x| !x.is_finite()) {
                    return Err(stopped(format!("the gradient of {} is {x}", p.name)));
                }
            }
            norms += mean.iter().flatten().map(|g| g * g).sum::<f64>().sqrt();
            // The first update takes the first step of the warm-up, not a zero one.
            lr = schedule.lr(self.adam.step + 1);
            let decay = vec![false; mean.len()];
            let optimizer = AdamW { weight_decay: 0.0, ..AdamW::default() };
            optimizer.step(&mut self.adam, &mut self.params.values, &mean, lr, &decay);
            total += grads.loss;
            steps += counted;
            observer.batch(&Progress { epoch, done: done + 1, batches, running_loss: total / steps as f64 });
        }
        let record = FitRecord {
            epoch,
            loss: total / steps.max(1) as f64,
            grad_norm: norms / batches.max(1) as f64,
            alpha,
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// The gradient of the in-model loss on `batch`, by the configured pass.
    fn gradients(
        &self,
        data: &Observed,
        windows: &[Window],
        batch: &Batch,
        alpha: f64,
    ) -> Result<Gradients, hsc_runtime::RunError> {
        if self.config.forcing.is_some() {
            let spec = self.model.spec();
            let (cuts, len) = (cuts(windows), windows[0].len);
            let states = data
                .forced
                .iter()
                .zip(spec.sides())
                .map(|(f, side)| {
                    let n = spec.side(side).len();
                    match f {
                        Some(f) => data.window(f, n, &cuts, len),
                        None => Cow::Owned(vec![0.0; windows.len() * len * n]),
                    }
                })
                .collect();
            let alpha = data.forced.iter().map(|f| if f.is_some() { alpha } else { 0.0 }).collect();
            return self.model.forced_bptt_grad(&self.params, batch, &Forcing { alpha, states });
        }
        match self.config.grad {
            GradMethod::Rhel { eps } => self.model.rhel_grad(&self.params, batch, Echo::Central(eps)),
            GradMethod::Tangent => self.model.tangent_grad(&self.params, batch),
            GradMethod::Bptt => self.model.bptt_grad(&self.params, batch),
        }
    }

    /// GTF's bound on the step's Jacobian: the largest spectral norm `‖J_t‖` of the step's
    /// Jacobian at 16 steps spread over the first window of the first sequence, the model run
    /// freely from the data's initial state. Each `J_t` is taken by forward differences (one
    /// step from `x_t` and from `x_t + h e_j` for every state entry `j`, all in one batch), its
    /// norm by power iteration on `J_tᵀ J_t`.
    pub fn jacobian_norm(&self, data: &Observed) -> Result<f64, TrainError> {
        let spec = self.model.spec();
        let sides = spec.sides();
        let lens: Vec<usize> = sides.iter().map(|&s| spec.side(s).len()).collect();
        let n: usize = lens.iter().sum();
        let w = self.window(data);
        let (run, _) = free_run(&self.model, &self.params, &data.first(), w)?;
        let samples: Vec<usize> = (0..16).map(|i| i * w / 16).collect();
        // The state at step t of the free run, all state arrays end to end.
        let state = |t: usize| -> Vec<f64> {
            run.states.iter().zip(&lens).flat_map(|(a, &m)| a[t * m..(t + 1) * m].to_vec()).collect()
        };
        let size = samples.len() * (n + 1);
        let mut initial: Vec<Vec<f64>> = lens.iter().map(|&m| Vec::with_capacity(size * m)).collect();
        let mut steps: Vec<f64> = Vec::with_capacity(size);
        for &t in &samples {
            let x = state(t);
            let h = 1e-6 * (1.0 + x.iter().map(|v| v * v).sum::<f64>().sqrt());
            for j in 0..=n {
                let mut y = x.clone();
                if j < n {
                    y[j] += h;
                }
                let mut at = 0;
                for (k, &m) in lens.iter().enumerate() {
                    initial[k].extend_from_slice(&y[at..at + m]);
                    at += m;
                }
            }
            steps.push(h);
        }
        let row = |arrays: &[Vec<f64>], decls: &[hsc_runtime::spec::ArraySpec]| -> Vec<Cow<'_, [f64]>> {
            arrays
                .iter()
                .zip(decls)
                .map(|(a, d)| {
                    let m = d.len();
                    let mut out = Vec::with_capacity(size * m);
                    for &t in &samples {
                        for _ in 0..=n {
                            out.extend_from_slice(&a[t * m..(t + 1) * m]);
                        }
                    }
                    Cow::Owned(out)
                })
                .collect()
        };
        let batch = Batch {
            steps: 1,
            size,
            inputs: row(&data.inputs, &spec.inputs),
            targets: row(&data.targets, &spec.targets),
            cotangents: Vec::new(),
            initial: Some(initial.into_iter().map(Cow::Owned).collect()),
        };
        let out = self.model.forward(&self.params, &batch).map_err(TrainError::Run)?;
        let after = |b: usize| -> Vec<f64> {
            out.state.iter().zip(&lens).flat_map(|(a, &m)| a[b * m..(b + 1) * m].to_vec()).collect()
        };
        let mut largest: f64 = 0.0;
        for (i, &h) in steps.iter().enumerate() {
            let base = after(i * (n + 1) + n);
            // Column j of J: (Φ(x + h e_j) − Φ(x)) / h.
            let columns: Vec<Vec<f64>> = (0..n)
                .map(|j| after(i * (n + 1) + j).iter().zip(&base).map(|(a, b)| (a - b) / h).collect())
                .collect();
            largest = largest.max(spectral_norm(&columns));
        }
        Ok(largest)
    }

    /// The batch of `windows` (all of one length), each from its start state.
    fn batch<'a>(&self, data: &'a Observed, windows: &[Window], carried: &[Vec<f64>]) -> Batch<'a> {
        let spec = self.model.spec();
        let (t, len) = (data.steps, windows[0].len);
        let cuts = cuts(windows);
        let slice = |arrays: &'a [Vec<f64>], decls: &[hsc_runtime::spec::ArraySpec]| -> Vec<Cow<'a, [f64]>> {
            arrays.iter().zip(decls).map(|(a, d)| data.window(a, d.len(), &cuts, len)).collect()
        };
        let initial = spec
            .sides()
            .iter()
            .enumerate()
            .map(|(k, &side)| {
                let n = spec.side(side).len();
                let mut out = Vec::with_capacity(windows.len() * n);
                for x in windows {
                    let s = x.sequence;
                    match &data.forced[k] {
                        _ if x.start == 0 => out.extend_from_slice(&data.initial[k][s * n..(s + 1) * n]),
                        Some(f) => {
                            let at = (s * t + x.start - 1) * n;
                            out.extend_from_slice(&f[at..at + n]);
                        }
                        None => out.extend_from_slice(&carried[k][s * n..(s + 1) * n]),
                    }
                }
                Cow::Owned(out)
            })
            .collect();
        Batch {
            steps: len,
            size: windows.len(),
            inputs: slice(&data.inputs, &spec.inputs),
            targets: slice(&data.targets, &spec.targets),
            cotangents: Vec::new(),
            initial: Some(initial),
        }
    }

    /// The loss per step and sequence of the model run freely over every whole sequence from
    /// the data's initial states, with the current params.
    pub fn free_run(&self, data: &Observed) -> Result<f64, TrainError> {
        Ok(free_run(&self.model, &self.params, data, 0)?.1)
    }
}

/// Where `windows` start: `(sequence, step)` each.
fn cuts(windows: &[Window]) -> Vec<(usize, usize)> {
    windows.iter().map(|x| (x.sequence, x.start)).collect()
}

/// `model` with `params` run freely over every whole sequence of `data` from its initial
/// states: the trajectory of the first `recorded` steps (at most; memory grows with them, not
/// with the sequences), and the loss per step and sequence over the whole sequences.
pub fn free_run(
    model: &Model,
    params: &Params,
    data: &Observed,
    recorded: usize,
) -> Result<(Trajectory, f64), TrainError> {
    let initial = || Some(data.initial.iter().map(|a| Cow::Borrowed(a.as_slice())).collect());
    let steps = recorded.clamp(1, data.steps);
    let mut batch = data.slice(0, steps);
    batch.initial = initial();
    let run = model.trajectory(params, &batch).map_err(TrainError::Run)?;
    let loss = if steps == data.steps {
        run.loss
    } else {
        let mut whole = data.slice(0, data.steps);
        whole.initial = initial();
        model.forward(params, &whole).map_err(TrainError::Run)?.loss
    };
    Ok((run, loss / (data.sequences * data.steps) as f64))
}

/// The largest singular value of the matrix of `columns` (power iteration on `JᵀJ`).
fn spectral_norm(columns: &[Vec<f64>]) -> f64 {
    let n = columns.len();
    let mut v = vec![1.0 / (n as f64).sqrt(); n];
    let mut sigma = 0.0;
    for _ in 0..100 {
        // u = J v; v' = Jᵀ u.
        let rows = columns.first().map_or(0, Vec::len);
        let u: Vec<f64> = (0..rows).map(|r| columns.iter().zip(&v).map(|(c, x)| c[r] * x).sum()).collect();
        let next: Vec<f64> = columns.iter().map(|c| c.iter().zip(&u).map(|(a, b)| a * b).sum()).collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm <= 0.0 || !norm.is_finite() {
            return norm;
        }
        sigma = norm.sqrt();
        v = next.iter().map(|x| x / norm).collect();
    }
    sigma
}

#[cfg(test)]
mod tests {
    #[test]
    fn spectral_norm_of_a_known_matrix() {
        // [[3, 0], [4, 5]] has singular values √45 and √5.
        let columns = vec![vec![3.0, 4.0], vec![0.0, 5.0]];
        assert!((super::spectral_norm(&columns) - 45f64.sqrt()).abs() < 1e-9);
    }
}
