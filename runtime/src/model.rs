//! The runtime [`Model`]: params, forward, and the three gradient passes over a batch of
//! sequences, on whichever [`Engine`] runs the kernels (the interpreter now; compiled
//! backends later plug in under the same trait).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use rayon::prelude::*;

use crate::spec::{Init, ModelSpec, Pass, Side, Slot, Step};

mod stretch;

pub use stretch::{Echoing, Walk};

/// The buffers of one kernel call for one sequence: one per slot the kernel lists, each of
/// [`ModelSpec::slot_len`] elements.
#[derive(Clone, Debug, Default)]
pub struct Frame<'a> {
    /// Number of steps `T`.
    pub steps: usize,
    /// The pass's two runtime scalars: the nudges `ε_a`, `ε_b` of the echo's two copies, or
    /// HL's `γ` and `θ`.
    pub eps: [f64; 2],
    /// The model's own arrays ([`Slot::is_given`]: params, inputs, targets, cotangents, forcing),
    /// borrowed from the caller's params and batch, never copied per sequence: kernels only
    /// read them.
    pub given: BTreeMap<Slot, &'a [f64]>,
    /// Every other slot, owned: what the pass reads and writes in place.
    pub buffers: BTreeMap<Slot, Vec<f64>>,
}

impl Frame<'_> {
    /// The array of `slot`, given or owned.
    pub fn get(&self, slot: Slot) -> Option<&[f64]> {
        self.given.get(&slot).copied().or_else(|| self.buffers.get(&slot).map(Vec::as_slice))
    }
}

/// What runs the kernels of one model.
pub trait Engine: Send + Sync {
    /// The slots a pass reads or writes.
    fn slots(&self, pass: Pass) -> &[Slot];
    /// Runs a pass on one sequence, in place.
    fn run(&self, pass: Pass, frame: &mut Frame<'_>) -> Result<(), RunError>;
    /// The arithmetic the kernels use.
    fn precision(&self) -> crate::Real;
    /// What runs the kernels, as the user named it (`interp`, `cranelift`, `cuda`), with the
    /// device where there is one.
    fn name(&self) -> String;
    /// Whether the engine runs a whole batch at once ([`Engine::run_batch`]), as a GPU does,
    /// rather than one sequence at a time.
    fn batched(&self) -> bool {
        false
    }
    /// Runs a pass on every sequence of a batch, in place: by default one at a time, in
    /// parallel.
    fn run_batch(&self, pass: Pass, frames: &mut [Frame<'_>]) -> Result<(), RunError> {
        frames.par_iter_mut().try_for_each(|f| self.run(pass, f))
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// An array of the wrong length.
    #[error("{what} has {got} numbers, expected {expected} ({detail})")]
    Shape {
        /// Which array.
        what: String,
        /// Its required length.
        expected: usize,
        /// Its length.
        got: usize,
        /// How the expected length is made up.
        detail: String,
    },
    /// A call that makes no sense for this model or batch.
    #[error("{0}")]
    Invalid(String),
    /// The engine failed.
    #[error("the {engine} engine failed: {message}")]
    Engine {
        /// Which engine.
        engine: String,
        /// What happened.
        message: String,
    },
}

/// The values of every param, in [`ModelSpec::params`] order, each row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// One array per param.
    pub values: Vec<Vec<f64>>,
}

impl Params {
    /// Draws every param from its initialiser with a seeded ChaCha8 generator (the same
    /// numbers on every machine).
    pub fn init(spec: &ModelSpec, seed: u64) -> Params {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let values = spec
            .params
            .iter()
            .map(|p| {
                (0..p.len())
                    .map(|_| match p.init {
                        Init::Constant(c) => c,
                        Init::Uniform { low, high } if low < high => {
                            Uniform::new(low, high).map_or(low, |d| d.sample(&mut rng))
                        }
                        Init::Uniform { low, .. } => low,
                        Init::Normal { mean, std } => {
                            Normal::new(mean, std.abs()).map_or(mean, |d| d.sample(&mut rng))
                        }
                    })
                    .collect()
            })
            .collect();
        Params { values }
    }

    /// The values of the param called `name`.
    pub fn get(&self, spec: &ModelSpec, name: &str) -> Option<&[f64]> {
        let i = spec.params.iter().position(|p| p.name == name)?;
        Some(&self.values[i])
    }
}

/// A batch of sequences, each array row-major with the sequence first, then the step. The
/// arrays are owned (`vec.into()`) or borrowed from the caller (`slice.into()`, as the Python
/// module borrows NumPy's arrays): kernels only read them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch<'a> {
    /// Steps per sequence, `T >= 1`.
    pub steps: usize,
    /// Number of sequences `B >= 1`.
    pub size: usize,
    /// Per input: `[B, T, ...]`.
    pub inputs: Vec<Cow<'a, [f64]>>,
    /// Per target: `[B, T, ...]` (models with a loss).
    pub targets: Vec<Cow<'a, [f64]>>,
    /// Per pair: `[B, T, ...]` cotangents of the positions (models without a loss).
    pub cotangents: Vec<Cow<'a, [f64]>>,
    /// Per state array (`q`, `p` of pair 0, ...): `[B, ...]`; zero when absent.
    pub initial: Option<Vec<Cow<'a, [f64]>>>,
}

impl Batch<'static> {
    /// Arrays the batch owns, as its fields take them.
    pub fn owned(arrays: Vec<Vec<f64>>) -> Vec<Cow<'static, [f64]>> {
        arrays.into_iter().map(Cow::Owned).collect()
    }
}

/// The result of a forward pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Forward {
    /// The loss summed over steps and sequences.
    pub loss: f64,
    /// Per state array: `[B, ...]`.
    pub state: Vec<Vec<f64>>,
}

/// A recorded trajectory.
#[derive(Clone, Debug, PartialEq)]
pub struct Trajectory {
    /// The loss summed over steps and sequences.
    pub loss: f64,
    /// Per state array: `[B, T + 1, ...]`.
    pub states: Vec<Vec<f64>>,
    /// `H(x_t)`, `[B, T + 1]` (with the input of step `t`, or of the last step at `t = T`).
    pub energy: Vec<f64>,
}

/// Gradients of the loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    /// The loss summed over steps and sequences.
    pub loss: f64,
    /// Per param, summed over the batch.
    pub params: Vec<Vec<f64>>,
    /// Per input: `[B, T, ...]`.
    pub inputs: Vec<Vec<f64>>,
    /// Per state array: `[B, ...]`, the gradient with respect to the initial state.
    pub initial: Vec<Vec<f64>>,
}

/// Generalized teacher forcing (Hess et al. 2023): after every step, each state array `k` is
/// pulled toward the data's value of that step, `x ← x + α_k (d − x)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Forcing<'a> {
    /// Per state array ([`ModelSpec::sides`] order): `α_k` (0: not forced).
    pub alpha: Vec<f64>,
    /// Per state array: `[B, T, ...]`, its value after each step (read where `α_k ≠ 0`; zeros
    /// will do elsewhere).
    pub states: Vec<Cow<'a, [f64]>>,
}

/// Hamiltonian Learning's running state for a batch of streams (hl.md), carried from one call
/// of [`Model::hl`] to the next.
#[derive(Clone, Debug, PartialEq)]
pub struct HlState {
    /// Per state array: `[B, ...]`.
    pub state: Vec<Vec<f64>>,
    /// The costate `λ` per state array: `[B, ...]`.
    pub costate: Vec<Vec<f64>>,
    /// The costate `μ` per param: `[B, ...]`, each stream its own.
    pub param_costate: Vec<Vec<f64>>,
}

/// What one call of [`Model::hl`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct HlTicks {
    /// The loss summed over ticks and streams.
    pub loss: f64,
    /// Per param: its costate `μ` after each tick, summed over ticks and streams (the update
    /// is `w -= δ β · this`).
    pub update: Vec<Vec<f64>>,
}

/// How the two echoes are nudged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Echo {
    /// `+ε` and `-ε`: error `O(ε²)`.
    Central(f64),
    /// `+ε` and the unnudged echo: error `O(ε)`.
    OneSided(f64),
    /// Two central pairs at `ε` and `2ε` combined as `(4 g(ε) - g(2ε)) / 3`, which cancels the
    /// `ε²` term of the bias: error `O(ε⁴)`, for twice the work.
    Richardson(f64),
}

/// A model ready to run.
#[derive(Clone)]
pub struct Model {
    spec: Arc<ModelSpec>,
    engine: Arc<dyn Engine>,
}

type Carry = BTreeMap<Slot, Vec<f64>>;

/// The arrays a call reads where they are: the params, the batch and any forcing.
#[derive(Clone, Copy)]
struct Given<'a> {
    params: &'a Params,
    batch: &'a Batch<'a>,
    forcing: Option<&'a Forcing<'a>>,
}

impl Model {
    /// A model running on `engine`.
    pub fn new(spec: ModelSpec, engine: Arc<dyn Engine>) -> Model {
        Model { spec: Arc::new(spec), engine }
    }

    /// What the model is.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The arithmetic of the engine.
    pub fn precision(&self) -> crate::Real {
        self.engine.precision()
    }

    /// What runs the kernels (`interp`, `cranelift`, `cuda (device)`).
    pub fn engine(&self) -> String {
        self.engine.name()
    }

    /// Params drawn from the initialisers.
    pub fn init_params(&self, seed: u64) -> Params {
        Params::init(&self.spec, seed)
    }

    /// Runs every sequence forward; the final states and the loss.
    pub fn forward(&self, params: &Params, batch: &Batch) -> Result<Forward, RunError> {
        let out: Vec<Slot> = self.spec.sides().into_iter().map(Slot::State).collect();
        let (runs, state) = self.each(params, batch, &[(Pass::Forward, [0.0; 2])], None, &out)?;
        let loss = runs.iter().map(|c| c[&Slot::Loss][0]).sum();
        Ok(Forward { loss, state })
    }

    /// Runs every sequence forward and records every state and the energy.
    pub fn trajectory(&self, params: &Params, batch: &Batch) -> Result<Trajectory, RunError> {
        let mut out: Vec<Slot> = self.spec.sides().into_iter().map(Slot::Trajectory).collect();
        out.push(Slot::Energy);
        let (runs, mut states) = self.each(params, batch, &[(Pass::ForwardRecord, [0.0; 2])], None, &out)?;
        let loss = runs.iter().map(|c| c[&Slot::Loss][0]).sum();
        let energy = states.pop().unwrap_or_default();
        Ok(Trajectory { loss, states, energy })
    }

    /// The final states of the two echoes nudged by `eps` (copy 0) and `-eps` (copy 1), per
    /// state array `[B, ...]`, with the loss's nudges. With `eps = 0` both are the unnudged
    /// echo, which should return to `(q_0, -p_0)`.
    pub fn echo_states(
        &self,
        params: &Params,
        batch: &Batch,
        eps: f64,
    ) -> Result<[Vec<Vec<f64>>; 2], RunError> {
        let sides = self.spec.sides();
        let out: Vec<Slot> = (0..2).flat_map(|c| sides.iter().map(move |&s| Slot::Echo(c, s))).collect();
        let passes = [(Pass::Forward, [0.0; 2]), (Pass::Echo, [eps, -eps])];
        let (_, mut states) = self.each(params, batch, &passes, None, &out)?;
        let second = states.split_off(sides.len());
        Ok([states, second])
    }

    /// Gradients by RHEL: the fused pair of nudged echoes.
    pub fn rhel_grad(&self, params: &Params, batch: &Batch, echo: Echo) -> Result<Gradients, RunError> {
        let (a, b) = match echo {
            Echo::Central(e) => (e, -e),
            Echo::OneSided(e) => (e, 0.0),
            Echo::Richardson(e) => {
                let fine = self.rhel_grad(params, batch, Echo::Central(e))?;
                let coarse = self.rhel_grad(params, batch, Echo::Central(2.0 * e))?;
                let mix = |f: &[Vec<f64>], c: &[Vec<f64>]| -> Vec<Vec<f64>> {
                    f.iter()
                        .zip(c)
                        .map(|(f, c)| f.iter().zip(c).map(|(f, c)| (4.0 * f - c) / 3.0).collect())
                        .collect()
                };
                return Ok(Gradients {
                    loss: fine.loss,
                    params: mix(&fine.params, &coarse.params),
                    inputs: mix(&fine.inputs, &coarse.inputs),
                    initial: mix(&fine.initial, &coarse.initial),
                });
            }
        };
        if !(a - b).is_finite() || a == b {
            return Err(RunError::Invalid(format!("the echo needs a finite, non-zero ε, not {a}")));
        }
        let scale = 1.0 / (a - b);
        let passes = [(Pass::ForwardGrad, [0.0; 2]), (Pass::Echo, [a, b])];
        self.gradients(params, batch, None, &passes, Some(-scale), |c, s| {
            let (x, y) = (&c[&Slot::Echo(0, s.flip())], &c[&Slot::Echo(1, s.flip())]);
            x.iter().zip(y).map(|(x, y)| (x - y) * scale).collect()
        })
    }

    /// Gradients by the tangent echo (the `ε → 0` limit, exact).
    pub fn tangent_grad(&self, params: &Params, batch: &Batch) -> Result<Gradients, RunError> {
        let passes = [(Pass::ForwardGrad, [0.0; 2]), (Pass::Tangent, [0.0; 2])];
        self.gradients(params, batch, None, &passes, Some(-1.0), |c, s| c[&Slot::Tangent(s.flip())].clone())
    }

    /// Gradients by BPTT over a stored trajectory (the reference).
    pub fn bptt_grad(&self, params: &Params, batch: &Batch) -> Result<Gradients, RunError> {
        let passes = [(Pass::ForwardRecord, [0.0; 2]), (Pass::Bptt, [0.0; 2])];
        self.gradients(params, batch, None, &passes, None, |c, s| c[&Slot::InitialGrad(s)].clone())
    }

    /// Gradients by BPTT of the map with generalized teacher forcing (GTF, `forcing`): after
    /// every step each state array is pulled toward the data, `x ← x + α (d − x)`, and the
    /// loss reads the state before the pull. A forced map is not reversible, so there is no
    /// echo of it: BPTT over the recorded forced trajectory.
    pub fn forced_bptt_grad(
        &self,
        params: &Params,
        batch: &Batch,
        forcing: &Forcing,
    ) -> Result<Gradients, RunError> {
        let sides = self.spec.sides();
        if forcing.alpha.len() != sides.len() || forcing.states.len() != sides.len() {
            let why = format!(
                "the forcing has {} rates and {} arrays, for {} state arrays",
                forcing.alpha.len(),
                forcing.states.len(),
                sides.len()
            );
            return Err(RunError::Invalid(why));
        }
        for (k, (&s, a)) in sides.iter().zip(&forcing.states).enumerate() {
            let expected = batch.size * self.spec.slot_len(Slot::Forced(s), batch.steps);
            if a.len() != expected {
                let side = self.spec.side(s);
                let detail = format!("batch {} × {} steps × {}", batch.size, batch.steps, side.describe());
                return Err(RunError::Shape {
                    what: format!("forced {}", side.name),
                    expected,
                    got: a.len(),
                    detail,
                });
            }
            if !forcing.alpha[k].is_finite() {
                return Err(RunError::Invalid(format!(
                    "the forcing of {} is {}",
                    self.spec.side(s).name,
                    forcing.alpha[k]
                )));
            }
        }
        let passes = [(Pass::ForcedRecord, [0.0; 2]), (Pass::ForcedBptt, [0.0; 2])];
        self.gradients(params, batch, Some(forcing), &passes, None, |c, s| c[&Slot::InitialGrad(s)].clone())
    }

    /// Hamiltonian Learning's state at the start of `streams` streams: the states `initial`
    /// (per state array `[B, ...]`; zero when `None`) and zero costates.
    pub fn hl_start(&self, streams: usize, initial: Option<Vec<Vec<f64>>>) -> HlState {
        let zeros = |a: &crate::ArraySpec| vec![0.0; streams * a.len()];
        let sides = self.spec.sides();
        HlState {
            state: initial.unwrap_or_else(|| sides.iter().map(|&s| zeros(self.spec.side(s))).collect()),
            costate: sides.iter().map(|&s| zeros(self.spec.side(s))).collect(),
            param_costate: self.spec.params.iter().map(zeros).collect(),
        }
    }

    /// Runs `batch.steps` ticks of Hamiltonian Learning (hl.md) on every stream of the batch
    /// from `hl`, which they update, with the params fixed: the loss summed over ticks and
    /// streams, and per param the sum of its costate `μ` after each tick over ticks and streams.
    /// hl.md's rule updates the params every tick (`w -= δ β μ`): a call of one tick, then that
    /// update, is the rule exactly; longer calls update the params once per call.
    pub fn hl(
        &self,
        params: &Params,
        batch: &Batch,
        hl: &mut HlState,
        gamma: f64,
        theta: f64,
    ) -> Result<HlTicks, RunError> {
        let spec = &self.spec;
        let sides = spec.sides();
        let rows = |arrays: &[Vec<f64>], len: &dyn Fn(usize) -> usize, what: &str| -> Result<(), RunError> {
            for (i, a) in arrays.iter().enumerate() {
                if a.len() != batch.size * len(i) {
                    let detail = format!("batch {} × {}", batch.size, len(i));
                    return Err(RunError::Shape {
                        what: format!("{what} {i}"),
                        expected: batch.size * len(i),
                        got: a.len(),
                        detail,
                    });
                }
            }
            Ok(())
        };
        let side_len = |i: usize| spec.side(sides[i]).len();
        rows(&hl.state, &side_len, "HL state")?;
        rows(&hl.costate, &side_len, "HL costate")?;
        rows(&hl.param_costate, &|i| spec.params[i].len(), "HL param costate")?;
        let mut slots: Vec<(Slot, &Vec<f64>)> = Vec::new();
        for (k, &s) in sides.iter().enumerate() {
            slots.push((Slot::State(s), &hl.state[k]));
            slots.push((Slot::Costate(s), &hl.costate[k]));
        }
        for (i, m) in hl.param_costate.iter().enumerate() {
            slots.push((Slot::ParamCostate(i), m));
        }
        let start: Vec<Carry> = (0..batch.size)
            .map(|b| {
                slots
                    .iter()
                    .map(|&(slot, a)| {
                        let len = spec.slot_len(slot, batch.steps);
                        (slot, a[b * len..(b + 1) * len].to_vec())
                    })
                    .collect()
            })
            .collect();
        let mut out: Vec<Slot> = slots.iter().map(|&(slot, _)| slot).collect();
        out.extend((0..spec.params.len()).map(Slot::ParamUpdate));
        let passes = [(Pass::Hl, [gamma, theta])];
        let given = Given { params, batch, forcing: None };
        let (runs, mut gathered) = self.each_from(given, &passes, None, &out, start)?;
        let updates = gathered.split_off(slots.len());
        let mut gathered = gathered.into_iter();
        for k in 0..sides.len() {
            hl.state[k] = gathered.next().unwrap_or_default();
            hl.costate[k] = gathered.next().unwrap_or_default();
        }
        for m in &mut hl.param_costate {
            *m = gathered.next().unwrap_or_default();
        }
        let update = updates.iter().map(|u| sum_over_batch(u, batch.size)).collect();
        let loss = runs.iter().map(|c| c[&Slot::Loss][0]).sum();
        Ok(HlTicks { loss, update })
    }

    /// Runs `passes` (see [`Model::each`]) and sums the per-sequence gradients over the batch;
    /// the input gradients are written into the batch's arrays as each sequence finishes, and
    /// `initial` gives a sequence's gradient with respect to its initial state.
    fn gradients(
        &self,
        params: &Params,
        batch: &Batch,
        forcing: Option<&Forcing>,
        passes: &[(Pass, [f64; 2])],
        acc_scale: Option<f64>,
        initial: impl Fn(&Carry, Side) -> Vec<f64>,
    ) -> Result<Gradients, RunError> {
        let spec = &self.spec;
        let out: Vec<Slot> = (0..spec.inputs.len()).map(Slot::InputGrad).collect();
        let given = Given { params, batch, forcing };
        let (runs, inputs) = self.each_from(given, passes, acc_scale, &out, Vec::new())?;
        let loss = runs.iter().map(|c| c[&Slot::Loss][0]).sum();
        let totals = (0..spec.params.len())
            .map(|i| {
                let mut total = vec![0.0; spec.params[i].len()];
                for c in &runs {
                    for (t, g) in total.iter_mut().zip(&c[&Slot::ParamGrad(i)]) {
                        *t += g;
                    }
                }
                total
            })
            .collect();
        let initial =
            spec.sides().into_iter().map(|s| runs.iter().flat_map(|c| initial(c, s)).collect()).collect();
        Ok(Gradients { loss, params: totals, inputs, initial })
    }

    /// Runs `passes` in order on every sequence (in parallel); each pass sees the buffers the
    /// ones before it left, and reads the model's own arrays where they are, in `params` and
    /// `batch`. Each slot of `out` is gathered into one batch-wide array `[B, ...]` (returned
    /// in `out`'s order), written as each sequence finishes, so no sequence's copy outlives
    /// it. What a sequence keeps besides is only what its passes computed: the trajectory is
    /// dropped once BPTT has used it, and with `acc_scale` every accumulator is folded into
    /// its gradient at once (`grad += acc_scale · acc`), so memory beyond the results stays
    /// O(1) in T per thread.
    fn each(
        &self,
        params: &Params,
        batch: &Batch,
        passes: &[(Pass, [f64; 2])],
        acc_scale: Option<f64>,
        out: &[Slot],
    ) -> Result<(Vec<Carry>, Vec<Vec<f64>>), RunError> {
        self.each_from(Given { params, batch, forcing: None }, passes, acc_scale, out, Vec::new())
    }

    /// [`Model::each`] with each sequence's buffers starting from `start` (one map per
    /// sequence, or none: every buffer fresh).
    fn each_from(
        &self,
        given: Given,
        passes: &[(Pass, [f64; 2])],
        acc_scale: Option<f64>,
        out: &[Slot],
        mut start: Vec<Carry>,
    ) -> Result<(Vec<Carry>, Vec<Vec<f64>>), RunError> {
        let batch = given.batch;
        self.check(given.params, batch)?;
        start.resize_with(batch.size, Carry::new);
        let lens: Vec<usize> = out.iter().map(|&s| self.spec.slot_len(s, batch.steps)).collect();
        let mut gathered: Vec<Vec<f64>> = lens.iter().map(|len| vec![0.0; batch.size * len]).collect();
        // Row `b` of every gathered array, for sequence `b`.
        let mut rows: Vec<Vec<&mut [f64]>> = (0..batch.size).map(|_| Vec::with_capacity(out.len())).collect();
        for (array, &len) in gathered.iter_mut().zip(&lens) {
            let mut rest = array.as_mut_slice();
            for row in &mut rows {
                let (mine, after) = rest.split_at_mut(len);
                row.push(mine);
                rest = after;
            }
        }
        let carries = if self.engine.batched() {
            self.each_batched(given, passes, acc_scale, out, &mut rows, start)?
        } else {
            rows.par_iter_mut()
                .zip(start)
                .enumerate()
                .map(|(b, (row, mut carry))| {
                    for &(pass, eps) in passes {
                        let mut frame = self.frame(&mut carry, pass, eps, given, b);
                        self.engine.run(pass, &mut frame)?;
                        carry.extend(frame.buffers);
                    }
                    self.finish(&mut carry, passes, acc_scale, out, row)?;
                    Ok(carry)
                })
                .collect::<Result<Vec<Carry>, RunError>>()?
        };
        Ok((carries, gathered))
    }

    /// [`Model::each`] for an engine that runs a whole batch per call: every sequence's
    /// buffers of a pass are handed over together.
    fn each_batched(
        &self,
        given: Given,
        passes: &[(Pass, [f64; 2])],
        acc_scale: Option<f64>,
        out: &[Slot],
        rows: &mut [Vec<&mut [f64]>],
        mut carries: Vec<Carry>,
    ) -> Result<Vec<Carry>, RunError> {
        for &(pass, eps) in passes {
            let mut frames: Vec<Frame> = carries
                .iter_mut()
                .enumerate()
                .map(|(b, carry)| self.frame(carry, pass, eps, given, b))
                .collect();
            self.engine.run_batch(pass, &mut frames)?;
            for (carry, frame) in carries.iter_mut().zip(frames) {
                carry.extend(frame.buffers);
            }
        }
        for (carry, row) in carries.iter_mut().zip(rows) {
            self.finish(carry, passes, acc_scale, out, row)?;
        }
        Ok(carries)
    }

    /// The end of a sequence's passes: the slots of `out` move into the sequence's rows of
    /// the gathered arrays, and the rest is trimmed to what the results need ([`keep`]).
    fn finish(
        &self,
        carry: &mut Carry,
        passes: &[(Pass, [f64; 2])],
        acc_scale: Option<f64>,
        out: &[Slot],
        row: &mut [&mut [f64]],
    ) -> Result<(), RunError> {
        keep(carry, passes, acc_scale);
        for (&slot, target) in out.iter().zip(row.iter_mut()) {
            let data = carry
                .remove(&slot)
                .ok_or_else(|| RunError::Invalid(format!("the passes of this model leave no {slot}")))?;
            if data.len() != target.len() {
                let why = format!("the passes left {} numbers for {slot}, not {}", data.len(), target.len());
                return Err(RunError::Invalid(why));
            }
            target.copy_from_slice(&data);
        }
        Ok(())
    }

    /// The buffers of `pass` for sequence `b`: the model's own arrays borrowed where they are,
    /// what the passes before it left in `carry` (taken out of it), the rest fresh.
    fn frame<'a>(
        &self,
        carry: &mut Carry,
        pass: Pass,
        eps: [f64; 2],
        given: Given<'a>,
        b: usize,
    ) -> Frame<'a> {
        let mut frame = Frame { steps: given.batch.steps, eps, ..Frame::default() };
        for &slot in self.engine.slots(pass) {
            if let Some(data) = self.given(slot, given, b) {
                frame.given.insert(slot, data);
            } else {
                let buf = carry
                    .remove(&slot)
                    .or_else(|| echo_start(carry, slot))
                    .unwrap_or_else(|| self.fresh(slot, given.batch, b));
                frame.buffers.insert(slot, buf);
            }
        }
        frame
    }

    /// Sequence `b`'s part of one of the model's own arrays.
    fn given<'a>(&self, slot: Slot, given: Given<'a>, b: usize) -> Option<&'a [f64]> {
        let Given { params, batch, forcing } = given;
        let len = self.spec.slot_len(slot, batch.steps);
        let row = |data: &'a [f64]| &data[b * len..(b + 1) * len];
        match slot {
            Slot::Param(i) => Some(&params.values[i]),
            Slot::Input(i) => Some(row(&batch.inputs[i])),
            Slot::Target(i) => Some(row(&batch.targets[i])),
            Slot::Cotangent(i) => Some(row(&batch.cotangents[i])),
            Slot::Forced(side) => {
                let k = self.spec.sides().iter().position(|&x| x == side)?;
                Some(row(&forcing?.states[k]))
            }
            Slot::Forcing => Some(&forcing?.alpha),
            _ => None,
        }
    }

    /// Any other slot's buffer at the start of a sequence: the initial state, or zeros.
    fn fresh(&self, slot: Slot, batch: &Batch, b: usize) -> Vec<f64> {
        let len = self.spec.slot_len(slot, batch.steps);
        match (slot, &batch.initial) {
            (Slot::State(s), Some(init)) => {
                let i = self.spec.sides().iter().position(|&x| x == s).unwrap_or(0);
                init[i][b * len..(b + 1) * len].to_vec()
            }
            _ => vec![0.0; len],
        }
    }

    /// Checks every array's length against the spec.
    pub fn check(&self, params: &Params, batch: &Batch) -> Result<(), RunError> {
        let spec = &self.spec;
        let (bsz, t) = (batch.size, batch.steps);
        if t == 0 || bsz == 0 {
            return Err(RunError::Invalid(format!(
                "a batch needs at least one sequence of at least one step (got {bsz} of {t})"
            )));
        }
        let count = |what: &str, got: usize, want: usize| -> Result<(), RunError> {
            if got == want {
                Ok(())
            } else {
                Err(RunError::Invalid(format!("{what}: {got} arrays given, the model has {want}")))
            }
        };
        count("params", params.values.len(), spec.params.len())?;
        count("inputs", batch.inputs.len(), spec.inputs.len())?;
        count("targets", batch.targets.len(), if spec.has_loss { spec.targets.len() } else { 0 })?;
        count("cotangents", batch.cotangents.len(), if spec.has_loss { 0 } else { spec.pairs.len() })?;
        let shape = |what: String, got: usize, expected: usize, detail: String| -> Result<(), RunError> {
            if got == expected { Ok(()) } else { Err(RunError::Shape { what, expected, got, detail }) }
        };
        for (p, v) in spec.params.iter().zip(&params.values) {
            shape(format!("param {}", p.name), v.len(), p.len(), p.describe())?;
        }
        let per_step = |a: &crate::spec::ArraySpec| format!("batch {bsz} × steps {t} × {}", a.describe());
        for (a, v) in spec.inputs.iter().zip(&batch.inputs) {
            shape(format!("input {}", a.name), v.len(), bsz * t * a.len(), per_step(a))?;
        }
        for (a, v) in spec.targets.iter().zip(&batch.targets) {
            shape(format!("target {}", a.name), v.len(), bsz * t * a.len(), per_step(a))?;
        }
        for (pair, v) in spec.pairs.iter().zip(&batch.cotangents) {
            let a = &pair.position;
            shape(format!("cotangent of {}", a.name), v.len(), bsz * t * a.len(), per_step(a))?;
        }
        if let Some(init) = &batch.initial {
            count("initial state arrays", init.len(), 2 * spec.pairs.len())?;
            for (s, v) in spec.sides().into_iter().zip(init) {
                let a = spec.side(s);
                shape(
                    format!("initial {}", a.name),
                    v.len(),
                    bsz * a.len(),
                    format!("batch {bsz} × {}", a.describe()),
                )?;
            }
        }
        if let Step::Param(i) = spec.step {
            let h = params.values[i][0];
            if !h.is_finite() {
                return Err(RunError::Invalid(format!("the step {} is {h}", spec.params[i].name)));
            }
        }
        Ok(())
    }
}

/// `[B, n]` summed over its `size` rows.
fn sum_over_batch(array: &[f64], size: usize) -> Vec<f64> {
    let n = array.len() / size.max(1);
    (0..n).map(|j| (0..size).map(|b| array[b * n + j]).sum()).collect()
}

/// An echo's state where no earlier call left one: the final state of the forward pass
/// before it, momenta flipped (the echo runs the same steps backwards in time).
fn echo_start(carry: &Carry, slot: Slot) -> Option<Vec<f64>> {
    let Slot::Echo(_, side) = slot else { return None };
    let state = carry.get(&Slot::State(side))?;
    Some(if side.momentum { state.iter().map(|x| -x).collect() } else { state.clone() })
}

/// Drops what a sequence no longer needs after `passes`: the trajectory once BPTT has used
/// it, and (with `acc_scale`) the accumulators, folded into their gradients.
fn keep(carry: &mut Carry, passes: &[(Pass, [f64; 2])], acc_scale: Option<f64>) {
    if passes.last().is_some_and(|(p, _)| matches!(p, Pass::Bptt | Pass::ForcedBptt)) {
        carry.retain(|slot, _| !matches!(slot, Slot::Trajectory(_)));
    }
    if let Some(scale) = acc_scale {
        fold(carry, scale);
    }
}

/// `grad += scale · acc` for every accumulator, which is then dropped.
fn fold(carry: &mut Carry, scale: f64) {
    let accs: Vec<Slot> =
        carry.keys().copied().filter(|s| matches!(s, Slot::ParamAcc(_) | Slot::InputAcc(_))).collect();
    for acc in accs {
        let a = carry.remove(&acc).unwrap_or_default();
        let grad = match acc {
            Slot::ParamAcc(i) => Slot::ParamGrad(i),
            Slot::InputAcc(i) => Slot::InputGrad(i),
            _ => continue,
        };
        if let Some(g) = carry.get_mut(&grad) {
            for (g, a) in g.iter_mut().zip(a) {
                *g += scale * a;
            }
        }
    }
}

impl Side {
    /// The other side of the same pair (`S` swaps positions and momenta).
    pub fn flip(self) -> Side {
        Side { momentum: !self.momentum, ..self }
    }
}
