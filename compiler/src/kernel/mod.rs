//! The kernel IR: backend-neutral loop nests with scalar SSA inside.
//!
//! A [`Module`] holds one [`Kernel`] per [`Pass`] of a model. A kernel is a tree of
//! statements ([`Stmt`]): a loop over the steps, loops over the model's index ranges,
//! reductions, and scalar operations ([`Op`]) whose results are SSA [`Value`]s, defined once
//! and used only below their definition. Memory is explicit: every read is a
//! [`Op::Load`] and every write a [`Stmt::Store`] of a named [`Buffer`], either a runtime
//! [`Slot`] (the kernel ABI) or a scratch array the kernel owns.
//!
//! An [`Index`] is `clamp(((var + inner) mod wrap) + outer)`: the affine, wrapped accesses of
//! the language, plus a clamp where a boundary guard ([`Op::Select`]) makes the value unused
//! (so that every load stays inside its buffer, and backends need no branches).
//!
//! The passes that build kernels live in `passes/` ([`lower`]); `optimize/` then removes the
//! work the lowering repeats, without changing any value ([`build`] does both); the
//! reference interpreter is in `interp.rs`; [`verify`] checks the invariants after every
//! pass (in tests and debug builds) and, in every build, in [`Verified::new`], whose module
//! and facts ([`info`]) are what native backends take. A kernel prints
//! (`display.rs`) to a text that [`parse_kernel`] reads back to the same kernel, so that
//! kernels can be written by hand: the optimiser's file tests (`tests/kernels/`) are such
//! texts.

mod display;
pub mod info;
mod interp;
mod lower;
pub mod optimize;
mod parse;
mod passes;
mod verify;
pub mod walk;

use cranelift_entity::{PrimaryMap, entity_impl};
use hsc_runtime::{ModelSpec, Pass, Slot};

pub use info::{Info, Verified};
pub use interp::{Interpreter, Precision, run_kernel};
pub use parse::{ParseError, parse_kernel, parse_kernels};
pub use passes::lower;
pub use verify::{VerifyError, verify, verify_module};

use crate::ir::Func;

/// Builds every kernel of a valid model: lowered, then optimized (how the optimiser's rounds
/// ended for each kernel is in [`Module::optimized`]).
pub fn build(program: &crate::ir::Program, eq: &crate::symbolic::Equations) -> Module {
    let mut module = lower(program, eq);
    for k in &mut module.kernels {
        verify::debug_check(k, "lowering");
        let outcome = optimize::optimize(k);
        module.optimized.push(outcome);
    }
    module
}

/// Handle of a buffer of a kernel.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Buf(u32);
entity_impl!(Buf, "b");

/// Handle of an SSA value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(u32);
entity_impl!(Value, "v");

/// Handle of a loop variable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopVar(u32);
entity_impl!(LoopVar, "i");

/// The kernels of one model.
#[derive(Clone, Debug)]
pub struct Module {
    /// What the runtime sees.
    pub spec: ModelSpec,
    /// One kernel per pass, in [`Pass::ALL`] order.
    pub kernels: Vec<Kernel>,
    /// How the optimiser's rounds ended, kernel by kernel: the rounds it took to reach a
    /// kernel that no round changes, or why it stopped first (the kernel is then kept as it
    /// stands). Empty for a module as lowered.
    pub optimized: Vec<Result<usize, optimize::StopReason>>,
}

impl Module {
    /// The kernel of a pass.
    pub fn kernel(&self, pass: Pass) -> &Kernel {
        self.kernels.iter().find(|k| k.pass == pass).expect("every pass has a kernel")
    }
}

/// One kernel: it runs one pass over one sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct Kernel {
    /// Which pass.
    pub pass: Pass,
    /// The buffers it reads and writes.
    pub buffers: PrimaryMap<Buf, Buffer>,
    /// The name of each loop variable, for printing.
    pub vars: PrimaryMap<LoopVar, String>,
    /// Number of SSA values.
    pub values: u32,
    /// The statements.
    pub body: Vec<Stmt>,
}

impl Kernel {
    /// The symbol of the kernel of `model` in native code, the same for every backend:
    /// `hsc_<model>_<pass>`, lower case.
    pub fn symbol(&self, model: &str) -> String {
        format!("hsc_{}_{}", model.to_lowercase(), self.pass.name())
    }

    /// The runtime slots the kernel reads or writes, in buffer order.
    pub fn slots(&self) -> Vec<Slot> {
        self.buffers.values().filter_map(|b| b.slot).collect()
    }
}

/// A named array.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// Its name (for printing).
    pub name: String,
    /// The runtime slot it is, or `None` for scratch the kernel owns (zero at the start).
    pub slot: Option<Slot>,
    /// Whether it has a leading time axis, and how many rows beyond `T`.
    pub time: Option<usize>,
    /// Its other axes.
    pub shape: Vec<u64>,
}

impl Buffer {
    /// Elements per row (all of them when there is no time axis).
    pub fn row_len(&self) -> usize {
        self.shape.iter().product::<u64>() as usize
    }
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `value = op`.
    Let(Value, Op),
    /// `for var in lo..hi { body }`.
    Loop {
        /// The loop variable.
        var: LoopVar,
        /// First value.
        lo: i64,
        /// One past the last.
        hi: i64,
        /// The body.
        body: Vec<Stmt>,
    },
    /// `for var in 0..T` (or `T-1` down to `0`): the time loop.
    Steps {
        /// The step (the row of the inputs).
        var: LoopVar,
        /// Whether the steps run backwards (the echoes, BPTT).
        reverse: bool,
        /// The body.
        body: Vec<Stmt>,
    },
    /// `result = sum over var in lo..hi of value`, where `value` is defined in `body`.
    Reduce {
        /// The sum.
        result: Value,
        /// The summed variable.
        var: LoopVar,
        /// First value.
        lo: i64,
        /// One past the last.
        hi: i64,
        /// The body, which defines `value`.
        body: Vec<Stmt>,
        /// The summand.
        value: Value,
    },
    /// `buf[index] = value` or `buf[index] += value`.
    Store {
        /// The buffer.
        buf: Buf,
        /// One index per axis (the time axis first).
        index: Vec<Index>,
        /// The value stored.
        value: Value,
        /// Add to what is there instead of replacing it.
        add: bool,
    },
}

/// A scalar operation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A number.
    Const(f64),
    /// The nudge `ε_a` (0) or `ε_b` (1) of the echo.
    Eps(u8),
    /// An element of a buffer.
    Load {
        /// The buffer.
        buf: Buf,
        /// One index per axis (the time axis first).
        index: Vec<Index>,
    },
    /// `-a`.
    Neg(Value),
    /// `a op b`.
    Binary(BinOp, Value, Value),
    /// `a ^ n` for an integer `n`.
    Powi(Value, i32),
    /// A function of the language.
    Call(Func, Value),
    /// `then` where every condition holds, else `otherwise` (both are computed; only one is used).
    Select {
        /// The conditions.
        conds: Vec<Cond>,
        /// The value where they hold.
        then: Value,
        /// The value elsewhere.
        otherwise: Value,
    },
}

impl Op {
    /// The values it reads.
    pub fn operands(&self) -> Vec<Value> {
        match self {
            Op::Const(_) | Op::Eps(_) | Op::Load { .. } => Vec::new(),
            Op::Neg(a) | Op::Powi(a, _) | Op::Call(_, a) => vec![*a],
            Op::Binary(_, a, b) => vec![*a, *b],
            Op::Select { then, otherwise, .. } => vec![*then, *otherwise],
        }
    }

    /// The values it reads, to rewrite.
    pub fn operands_mut(&mut self) -> Vec<&mut Value> {
        match self {
            Op::Const(_) | Op::Eps(_) | Op::Load { .. } => Vec::new(),
            Op::Neg(a) | Op::Powi(a, _) | Op::Call(_, a) => vec![a],
            Op::Binary(_, a, b) => vec![a, b],
            Op::Select { then, otherwise, .. } => vec![then, otherwise],
        }
    }
}

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `^` with a real exponent.
    Pow,
}

/// An index: `clamp(((var + inner) mod wrap) + outer, 0, clamp - 1)`, or `outer` without a
/// variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Index {
    /// The loop variable.
    pub var: Option<LoopVar>,
    /// Added before wrapping.
    pub inner: i64,
    /// The Euclidean modulus.
    pub wrap: Option<u64>,
    /// Added after wrapping.
    pub outer: i64,
    /// Clamped into `0..clamp` (where a guard discards the value read).
    pub clamp: Option<u64>,
}

impl Index {
    /// The index `var + offset`.
    pub fn var(var: LoopVar, offset: i64) -> Index {
        Index { var: Some(var), inner: 0, wrap: None, outer: offset, clamp: None }
    }

    /// The constant index `c`.
    pub fn constant(c: i64) -> Index {
        Index { var: None, inner: 0, wrap: None, outer: c, clamp: None }
    }

    /// Its value when the variable has value `x`.
    pub fn at(self, x: i64) -> i64 {
        let base = self.var.map_or(0, |_| x) + self.inner;
        let base = match self.wrap {
            Some(m) => base.rem_euclid(m as i64),
            None => base,
        };
        let i = base + self.outer;
        match self.clamp {
            Some(n) => i.clamp(0, n as i64 - 1),
            None => i,
        }
    }
}

/// A condition on indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cond {
    /// `lo <= index < hi`.
    Range {
        /// The index tested.
        index: Index,
        /// Lowest value allowed.
        lo: i64,
        /// One past the highest.
        hi: i64,
    },
    /// `a == b`.
    Equal(Index, Index),
}
