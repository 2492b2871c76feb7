//! What a compiled model looks like from the outside: its arrays, their shapes, and the
//! buffers ([`Slot`]) its kernels read and write. This is the kernel ABI every backend shares.

use std::fmt;

/// How a param is initialised.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Every element the same number.
    Constant(f64),
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// Normal with this mean and standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
}

impl fmt::Display for Init {
    /// As written in a .ham file: `0.5`, `uniform(0.5, 1)`, `normal(0, 0.3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Constant(x) => write!(f, "{x}"),
            Init::Uniform { low, high } => write!(f, "uniform({low}, {high})"),
            Init::Normal { mean, std } => write!(f, "normal({mean}, {std})"),
        }
    }
}

/// A named array of the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ArraySpec {
    /// Its name in the .ham file.
    pub name: String,
    /// Its shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// How a param starts (`Constant(0.0)` for everything else).
    pub init: Init,
}

impl ArraySpec {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no element (never for a checked model).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `W[64]`, `B[64, 16]`, `alpha`.
    pub fn describe(&self) -> String {
        if self.shape.is_empty() {
            return self.name.clone();
        }
        let dims: Vec<String> = self.shape.iter().map(usize::to_string).collect();
        format!("{}[{}]", self.name, dims.join(", "))
    }
}

/// A canonical pair: positions and their momenta (same shape).
#[derive(Clone, Debug, PartialEq)]
pub struct PairSpec {
    /// The positions.
    pub position: ArraySpec,
    /// The momenta.
    pub momentum: ArraySpec,
}

/// The integrator's step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// A fixed number.
    Fixed(f64),
    /// The scalar param with this position in [`ModelSpec::params`] (trainable).
    Param(usize),
}

/// Everything the runtime knows about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// The name after `model`.
    pub name: String,
    /// Trainable params, in declaration order.
    pub params: Vec<ArraySpec>,
    /// Per-step inputs.
    pub inputs: Vec<ArraySpec>,
    /// Per-step targets (read by the in-model loss).
    pub targets: Vec<ArraySpec>,
    /// The canonical pairs.
    pub pairs: Vec<PairSpec>,
    /// Whether the model has an in-model loss; without one, the loss is driven by per-step
    /// cotangents of the positions.
    pub has_loss: bool,
    /// `leapfrog` or `yoshida4`.
    pub integrator: String,
    /// The step.
    pub step: Step,
}

impl ModelSpec {
    /// Every state array in order: `q` then `p` of pair 0, then pair 1, ...
    pub fn sides(&self) -> Vec<Side> {
        (0..self.pairs.len())
            .flat_map(|pair| [Side { pair, momentum: false }, Side { pair, momentum: true }])
            .collect()
    }

    /// The array of one side of a pair.
    pub fn side(&self, side: Side) -> &ArraySpec {
        let pair = &self.pairs[side.pair];
        if side.momentum { &pair.momentum } else { &pair.position }
    }

    /// Number of elements of a slot's buffer for a sequence of `steps` steps.
    pub fn slot_len(&self, slot: Slot, steps: usize) -> usize {
        match slot {
            Slot::Param(i)
            | Slot::ParamGrad(i)
            | Slot::ParamAcc(i)
            | Slot::ParamCostate(i)
            | Slot::ParamUpdate(i) => self.params[i].len(),
            Slot::Input(i) | Slot::InputGrad(i) | Slot::InputAcc(i) => steps * self.inputs[i].len(),
            Slot::Target(i) => steps * self.targets[i].len(),
            Slot::Cotangent(pair) => steps * self.pairs[pair].position.len(),
            Slot::State(s)
            | Slot::Echo(_, s)
            | Slot::Tangent(s)
            | Slot::InitialGrad(s)
            | Slot::Costate(s) => self.side(s).len(),
            Slot::Trajectory(s) => (steps + 1) * self.side(s).len(),
            Slot::Energy => steps + 1,
            Slot::Forced(s) => steps * self.side(s).len(),
            Slot::Forcing => 2 * self.pairs.len(),
            Slot::Loss => 1,
        }
    }
}

/// One side of a canonical pair: its positions or its momenta.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Side {
    /// Which pair.
    pub pair: usize,
    /// The momenta (else the positions).
    pub momentum: bool,
}

/// A buffer a kernel reads or writes, by what it holds. Time-indexed buffers are row-major
/// with the step first: row `t` of an input drives step `t`, which takes `x_t` to `x_{t+1}`;
/// row `t` of a target or a cotangent scores `x_{t+1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// A param.
    Param(usize),
    /// An input, `[T, ...]`.
    Input(usize),
    /// A target, `[T, ...]`.
    Target(usize),
    /// Per-step cotangents `dL/dq_{t+1}` of a pair's positions, `[T, ...]` (models without a
    /// loss).
    Cotangent(usize),
    /// The state: the initial state in, the final state out.
    State(Side),
    /// Every state `x_0 .. x_T`, `[T + 1, ...]`.
    Trajectory(Side),
    /// `H(x_t)` for `t = 0..T`.
    Energy,
    /// The loss summed over the steps.
    Loss,
    /// `dL/dθ`: the loss's own (direct) part from the forward pass, or the whole of it from
    /// BPTT.
    ParamGrad(usize),
    /// `dL/du_t`, `[T, ...]`, direct or whole like [`Slot::ParamGrad`].
    InputGrad(usize),
    /// What an echo accumulates for a param: `A(ε_a) - A(ε_b)`, or `dA/dε` for the tangent echo.
    ParamAcc(usize),
    /// The same per input row.
    InputAcc(usize),
    /// The final state of echo copy 0 (nudged by `ε_a`) or 1 (by `ε_b`).
    Echo(usize, Side),
    /// The final tangent `dx̂/dε` of the tangent echo.
    Tangent(Side),
    /// `dL/dx_0` from BPTT.
    InitialGrad(Side),
    /// Hamiltonian Learning's costate `λ` of a state array (hl.md), carried from tick to tick.
    Costate(Side),
    /// Hamiltonian Learning's costate `μ` of a param, carried from tick to tick.
    ParamCostate(usize),
    /// The sum of a param's costate `μ` over the ticks of one call: the direction of the
    /// weight update (hl.md: `w -= δ β μ` per tick).
    ParamUpdate(usize),
    /// `[T, ...]`: the data's value of a state array after each step, toward which generalized
    /// teacher forcing pulls it (`x ← x + α (d − x)`).
    Forced(Side),
    /// The forcing `α` of every state array, in [`ModelSpec::sides`] order (0: not forced).
    Forcing,
}

impl Slot {
    /// Whether the slot holds one of the model's own arrays (a param, an input, a target, a
    /// cotangent, forced data or the forcing): what the caller gives, which kernels read and
    /// never write.
    pub fn is_given(self) -> bool {
        matches!(
            self,
            Slot::Param(_)
                | Slot::Input(_)
                | Slot::Target(_)
                | Slot::Cotangent(_)
                | Slot::Forced(_)
                | Slot::Forcing
        )
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.momentum { "p" } else { "q" }, self.pair)
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Slot::Param(i) => write!(f, "param {i}"),
            Slot::Input(i) => write!(f, "input {i}"),
            Slot::Target(i) => write!(f, "target {i}"),
            Slot::Cotangent(i) => write!(f, "cotangent q{i}"),
            Slot::State(s) => write!(f, "state {s}"),
            Slot::Trajectory(s) => write!(f, "trajectory {s}"),
            Slot::Energy => f.write_str("energy"),
            Slot::Loss => f.write_str("loss"),
            Slot::ParamGrad(i) => write!(f, "param grad {i}"),
            Slot::InputGrad(i) => write!(f, "input grad {i}"),
            Slot::ParamAcc(i) => write!(f, "param accumulator {i}"),
            Slot::InputAcc(i) => write!(f, "input accumulator {i}"),
            Slot::Echo(c, s) => write!(f, "echo {c} {s}"),
            Slot::Tangent(s) => write!(f, "tangent {s}"),
            Slot::InitialGrad(s) => write!(f, "initial grad {s}"),
            Slot::Costate(s) => write!(f, "costate {s}"),
            Slot::ParamCostate(i) => write!(f, "param costate {i}"),
            Slot::ParamUpdate(i) => write!(f, "param update {i}"),
            Slot::Forced(s) => write!(f, "forced {s}"),
            Slot::Forcing => f.write_str("forcing"),
        }
    }
}

/// A kernel of a compiled model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pass {
    /// States and loss.
    Forward,
    /// States, loss, and the loss's direct gradients (before an echo).
    ForwardGrad,
    /// States, loss, the trajectory and the energy (before BPTT, for simulation).
    ForwardRecord,
    /// The fused pair of echoes nudged by `ε_a` and `ε_b`.
    Echo,
    /// The tangent echo.
    Tangent,
    /// The BPTT adjoint over a recorded trajectory.
    Bptt,
    /// Hamiltonian Learning's ticks (hl.md): the step, and the costates forward in time.
    Hl,
    /// [`Pass::ForwardRecord`] with generalized teacher forcing after every step (the loss
    /// reads the state before the forcing).
    ForcedRecord,
    /// The BPTT adjoint of the forced map over a recorded forced trajectory.
    ForcedBptt,
}

impl Pass {
    /// Every pass.
    pub const ALL: [Pass; 9] = [
        Pass::Forward,
        Pass::ForwardGrad,
        Pass::ForwardRecord,
        Pass::Echo,
        Pass::Tangent,
        Pass::Bptt,
        Pass::Hl,
        Pass::ForcedRecord,
        Pass::ForcedBptt,
    ];

    /// The kernel's name.
    pub fn name(self) -> &'static str {
        match self {
            Pass::Forward => "forward",
            Pass::ForwardGrad => "forward_grad",
            Pass::ForwardRecord => "forward_record",
            Pass::Echo => "echo",
            Pass::Tangent => "tangent",
            Pass::Bptt => "bptt",
            Pass::Hl => "hl",
            Pass::ForcedRecord => "forced_record",
            Pass::ForcedBptt => "forced_bptt",
        }
    }
}
