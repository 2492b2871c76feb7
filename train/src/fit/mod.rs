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

mod observed;
pub mod online;
pub mod store;

use std::borrow::Cow;
use std::time::Instant;

use hsc_runtime::{Batch, Echo, Gradients, Model, Params, Trajectory};
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
            let grads = self.gradients(&batch).map_err(TrainError::Run)?;
            if !self.independent(data) && data.forced.iter().any(Option::is_none) {
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
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        self.history.push(record.clone());
        Ok(record)
    }

    /// The gradient of the in-model loss on `batch`, by the configured pass.
    fn gradients(&self, batch: &Batch) -> Result<Gradients, hsc_runtime::RunError> {
        match self.config.grad {
            GradMethod::Rhel { eps } => self.model.rhel_grad(&self.params, batch, Echo::Central(eps)),
            GradMethod::Tangent => self.model.tangent_grad(&self.params, batch),
            GradMethod::Bptt => self.model.bptt_grad(&self.params, batch),
        }
    }

    /// The batch of `windows` (all of one length), each from its start state.
    fn batch<'a>(&self, data: &'a Observed, windows: &[Window], carried: &[Vec<f64>]) -> Batch<'a> {
        let spec = self.model.spec();
        let (t, len) = (data.steps, windows[0].len);
        let slice = |arrays: &'a [Vec<f64>], decls: &[hsc_runtime::spec::ArraySpec]| -> Vec<Cow<'a, [f64]>> {
            arrays
                .iter()
                .zip(decls)
                .map(|(a, d)| {
                    let n = d.len();
                    if windows.len() == 1 && len == t {
                        let s = windows[0].sequence;
                        return Cow::Borrowed(&a[s * t * n..(s + 1) * t * n]);
                    }
                    let mut out = Vec::with_capacity(windows.len() * len * n);
                    for x in windows {
                        let from = (x.sequence * t + x.start) * n;
                        out.extend_from_slice(&a[from..from + len * n]);
                    }
                    Cow::Owned(out)
                })
                .collect()
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
