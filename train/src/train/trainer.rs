//! The training loop: shuffled minibatches, each sequence's gradient on its own thread, the
//! sum taken in a fixed order (so a run is the same numbers on any number of threads), AdamW
//! with warm-up and cosine decay, an evaluation pass per epoch, and early stopping once
//! validation has not improved for a number of epochs.

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;

use crate::data::Dataset;
use crate::nn::loss;
use crate::nn::optim::{AdamState, AdamW, Schedule};

use super::network::{Head, SequenceGrad};
use super::{Anchor, GradMethod, Network, TrainError};

/// What a run is asked to do.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The most passes over the training set (the learning-rate schedule spans them).
    pub epochs: usize,
    /// Stop once the validation score has not improved for this many epochs (never without
    /// a validation set, or when `None`).
    pub patience: Option<usize>,
    /// Peak learning rate.
    pub lr: f64,
    /// Sequences per update.
    pub batch: usize,
    /// How the recurrent layers' gradients are computed.
    pub grad: GradMethod,
    /// Seed of the params, the shuffles and dropout.
    pub seed: u64,
    /// AdamW's decoupled weight decay (weights only).
    pub weight_decay: f64,
    /// Where the echoes re-anchor (RHEL and the tangent echo).
    pub anchor: Anchor,
}

/// What one sequence asks the network to predict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Target {
    /// A class index.
    Class(usize),
    /// A number (regression), in the data's units.
    Value(f64),
}

/// One labelled sequence, normalised: `[steps, channels]`, no missing values.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// Row-major values.
    pub values: Vec<f64>,
    /// Number of time steps.
    pub steps: usize,
    /// What to predict.
    pub target: Target,
}

impl Example {
    /// Every case of a (normalised) data set; a missing value that is still there becomes 0.
    pub fn all(data: &Dataset) -> Vec<Example> {
        let targets: Vec<Target> = if data.is_regression() {
            data.targets.iter().map(|&y| Target::Value(y)).collect()
        } else {
            data.labels.iter().map(|&l| Target::Class(l)).collect()
        };
        data.series
            .iter()
            .zip(targets)
            .map(|(s, target)| Example {
                values: s.values.iter().map(|&x| if x.is_nan() { 0.0 } else { x }).collect(),
                steps: s.steps,
                target,
            })
            .collect()
    }
}

/// How well a network does on a set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// Mean loss: cross-entropy, or the squared error of the standardised target.
    pub loss: f64,
    /// Fraction classified correctly (classification).
    pub accuracy: Option<f64>,
    /// The errors in the targets' units (regression).
    pub errors: Option<Errors>,
}

/// Regression errors, in the targets' units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Errors {
    /// Root-mean-square error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
}

impl Score {
    /// Whether `self` beats `other`: higher accuracy (lower loss on a tie), or for regression
    /// a lower loss.
    pub fn better_than(&self, other: &Score) -> bool {
        match (self.accuracy, other.accuracy) {
            (Some(a), Some(b)) if a != b => a > b,
            _ => self.loss < other.loss,
        }
    }
}

/// Sums over a set's sequences, for a [`Score`].
#[derive(Default)]
struct Tally {
    n: usize,
    loss: f64,
    correct: usize,
    squared: f64,
    absolute: f64,
}

impl Tally {
    fn add(&mut self, net: &Network, logits: &[f64], target: Target, loss: f64) {
        self.n += 1;
        self.loss += loss;
        match target {
            Target::Class(label) => self.correct += usize::from(loss::argmax(logits) == label),
            Target::Value(y) => {
                let error = predicted(net, logits) - y;
                self.squared += error * error;
                self.absolute += error.abs();
            }
        }
    }

    fn score(&self, head: Head) -> Score {
        let n = self.n as f64; // 0 / 0: an empty set's score is NaN
        let (accuracy, errors) = match head {
            Head::Classes(_) => (Some(self.correct as f64 / n), None),
            Head::Regression { .. } => {
                (None, Some(Errors { rmse: (self.squared / n).sqrt(), mae: self.absolute / n }))
            }
        };
        Score { loss: self.loss / n, accuracy, errors }
    }
}

/// For a regression network, the score on `examples` of always predicting the training
/// targets' mean, which is what its head's output 0 stands for; `None` for a classifier.
pub fn mean_baseline(net: &Network, examples: &[Example]) -> Option<Score> {
    let Head::Regression { .. } = net.arch.head else { return None };
    let mut tally = Tally::default();
    for ex in examples {
        tally.add(net, &[0.0], ex.target, net.loss(&[0.0], ex.target).0);
    }
    Some(tally.score(net.arch.head))
}

/// The number a regression network predicts from its head's output (in the targets' units);
/// for a classifier, the predicted class as a number.
pub fn predicted(net: &Network, logits: &[f64]) -> f64 {
    match net.arch.head {
        Head::Classes(_) => loss::argmax(logits) as f64,
        Head::Regression { mean, std } => mean + std * logits[0],
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRecord {
    /// From 1.
    pub epoch: usize,
    /// Mean loss and accuracy over the epoch's minibatches (dropout on).
    pub train: Score,
    /// On the validation set (dropout off); `None` without one.
    pub validation: Option<Score>,
    /// The learning rate of the epoch's last update.
    pub lr: f64,
    /// Wall time of the epoch.
    pub seconds: f64,
    /// The largest [`super::network::SequenceGrad::stray`] of the epoch's sequences.
    pub stray: f64,
}

/// Where an epoch is, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// From 1.
    pub epoch: usize,
    /// Minibatches done in this epoch.
    pub done: usize,
    /// Minibatches in this epoch.
    pub batches: usize,
    /// Mean loss so far in this epoch.
    pub running_loss: f64,
}

/// Told of progress; the CLI draws it.
pub trait Observer {
    /// After each update.
    fn batch(&mut self, _progress: &Progress) {}
}

impl Observer for () {}

/// A network being trained, with everything needed to go on.
#[derive(Clone)]
pub struct Trainer {
    /// The network.
    pub net: Network,
    /// The run's settings.
    pub config: Config,
    /// The optimizer's moments.
    pub adam: AdamState,
    /// Updates done.
    pub step: u64,
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
}

impl Trainer {
    /// A fresh run.
    pub fn new(net: Network, config: Config) -> Trainer {
        let lengths: Vec<usize> = net.tensors.iter().map(|t| t.values.len()).collect();
        Trainer { net, config, adam: AdamState::new(&lengths), step: 0, history: Vec::new() }
    }

    /// Epochs done.
    pub fn epochs_done(&self) -> usize {
        self.history.len()
    }

    /// The epoch (from 1) with the best validation score, the earliest of equals; `None`
    /// without validation.
    pub fn best_epoch(&self) -> Option<usize> {
        let mut best: Option<&EpochRecord> = None;
        for r in &self.history {
            let Some(score) = &r.validation else { continue };
            if best.and_then(|b| b.validation.as_ref()).is_none_or(|b| score.better_than(b)) {
                best = Some(r);
            }
        }
        best.map(|r| r.epoch)
    }

    /// Why the run should stop before `config.epochs`, if it should: validation has not
    /// improved for `config.patience` epochs.
    pub fn stop_early(&self) -> Option<String> {
        let patience = self.config.patience?;
        let best = self.best_epoch()?;
        let since = self.epochs_done() - best;
        (since >= patience).then(|| {
            format!(
                "stopped early: validation has not improved for {since} epochs (--patience {patience}); \
                 the best was epoch {best}"
            )
        })
    }

    /// The learning rate over the whole run: a linear warm-up over the first 5 % of the
    /// updates, then a cosine decay to a tenth.
    pub fn schedule(&self, train_len: usize) -> Schedule {
        let total = (self.config.epochs * train_len.div_ceil(self.config.batch.max(1))) as u64;
        Schedule { base: self.config.lr, warmup: (total / 20).max(1), total, floor: 0.1 }
    }

    /// One pass over `train` in a seeded random order, then a score on `validation`.
    pub fn epoch(
        &mut self,
        train: &[Example],
        validation: &[Example],
        observer: &mut dyn Observer,
    ) -> Result<EpochRecord, TrainError> {
        let started = Instant::now();
        let epoch = self.epochs_done() + 1;
        let schedule = self.schedule(train.len());
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(self.config.seed, epoch as u64, u64::MAX)));
        let batch = self.config.batch.max(1);
        let batches = order.len().div_ceil(batch);
        let (mut tally, mut lr, mut stray) = (Tally::default(), schedule.lr(self.step), 0.0f64);
        for (done, chunk) in order.chunks(batch).enumerate() {
            let step = self.step + 1;
            let stopped = |what: String| TrainError::Stopped { epoch, step, what };
            let net = &self.net;
            let (seed, method, anchor) = (self.config.seed, self.config.grad, self.config.anchor);
            let results: Vec<_> = chunk
                .par_iter()
                .map(|&i| {
                    let ex = &train[i];
                    let dropout_seed = mix(seed, epoch as u64, i as u64);
                    net.loss_and_grad(&ex.values, ex.steps, ex.target, Some(dropout_seed), method, anchor)
                })
                .collect();
            let mut grads: Vec<Vec<f64>> = net.tensors.iter().map(|t| vec![0.0; t.values.len()]).collect();
            let scale = 1.0 / chunk.len() as f64;
            for (result, &i) in results.into_iter().zip(chunk) {
                let SequenceGrad { loss: l, logits, grads: g, stray: s } = result.map_err(|e| match e {
                    TrainError::NonFinite { what } => stopped(what),
                    e => e,
                })?;
                if !l.is_finite() {
                    return Err(stopped(format!("the loss of training case {i} is {l}")));
                }
                tally.add(&self.net, &logits, train[i].target, l);
                stray = stray.max(s);
                for (total, g) in grads.iter_mut().zip(g) {
                    for (t, g) in total.iter_mut().zip(g) {
                        *t += scale * g;
                    }
                }
            }
            for (t, g) in self.net.tensors.iter().zip(&grads) {
                if let Some(x) = g.iter().find(|x| !x.is_finite()) {
                    return Err(stopped(format!("the gradient of {} is {x}", t.name)));
                }
            }
            lr = schedule.lr(self.step);
            let decay: Vec<bool> = self.net.tensors.iter().map(|t| t.decay).collect();
            let mut values: Vec<Vec<f64>> =
                self.net.tensors.iter_mut().map(|t| std::mem::take(&mut t.values)).collect();
            let optimizer = AdamW { weight_decay: self.config.weight_decay, ..AdamW::default() };
            optimizer.step(&mut self.adam, &mut values, &grads, lr, &decay);
            for (t, v) in self.net.tensors.iter_mut().zip(values) {
                t.values = v;
            }
            self.step = step;
            let running_loss = tally.loss / tally.n as f64;
            observer.batch(&Progress { epoch, done: done + 1, batches, running_loss });
        }
        let train_score = tally.score(self.net.arch.head);
        let validation = if validation.is_empty() { None } else { Some(evaluate(&self.net, validation)?.0) };
        let record = EpochRecord {
            epoch,
            train: train_score,
            validation,
            lr,
            seconds: started.elapsed().as_secs_f64(),
            stray,
        };
        self.history.push(record.clone());
        Ok(record)
    }
}

/// The score of `net` on `examples` (dropout off), across threads, and its head's output
/// for each example.
pub fn evaluate(net: &Network, examples: &[Example]) -> Result<(Score, Vec<Vec<f64>>), TrainError> {
    let outputs: Vec<Vec<f64>> =
        examples.par_iter().map(|ex| net.predict(&ex.values, ex.steps)).collect::<Result<_, TrainError>>()?;
    let mut tally = Tally::default();
    for (ex, logits) in examples.iter().zip(&outputs) {
        tally.add(net, logits, ex.target, net.loss(logits, ex.target).0);
    }
    Ok((tally.score(net.arch.head), outputs))
}

/// A seed for `(seed, epoch, case)`: SplitMix64 over the three.
pub(crate) fn mix(seed: u64, epoch: u64, case: u64) -> u64 {
    let mut z = seed;
    for x in [epoch, case] {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15).wrapping_add(x.wrapping_mul(0xD1B5_4A32_D192_ED03));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}
