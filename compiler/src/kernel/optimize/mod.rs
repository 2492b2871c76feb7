//! The optimiser: [`super::build`] is [`super::lower`] then [`optimize`] on every kernel. The
//! lowering computes each derivative where it is used, so a kernel that accumulates several
//! gradients at one point of the step holds many loops over the same range that compute the
//! same forces (the echo held one loop per gradient: the `tanh` of each element five times
//! per kick). Every pass here keeps the arithmetic of every value the same (no
//! reassociation), so the interpreter and every backend give the same results as before, bit
//! for bit, only with less work. Each pass is one file with one entry point, and one entry
//! of [`Pass`]:
//!
//! - `constants_first` (in this file): every constant and nudge moves to the start of the kernel, so that
//!   none stands between two loops that could join;
//! - `licm.rs`: what does not change within a loop (or a sum, or the time loop) is computed
//!   before it;
//! - `expand.rs`: what a nest or the time loop recomputes per index goes to a loop of its own,
//!   into scratch: `W[k]^-2` once per kernel, `s·W^-1·tanh` once per element, not per input;
//! - `transpose.rs`: a sum in a loop that reads a param matrix across the loop,
//!   `sum(j, B[k, j] u[j])` (the drive), reads a copy transposed once per kernel, where that
//!   lets the loop run lane-wise as it is;
//! - `interchange.rs`: otherwise, a sum inside a loop that reads consecutive elements along
//!   the loop, not along the sum, `sum(i, x[i] B[i, m])`, becomes an accumulation in a nest
//!   whose inner loop runs over the loop's index, lane-wise;
//! - `fuse.rs`: neighbouring loops over one range become one loop, where each iteration
//!   touches only its own elements, a loop that ran lane-wise still does, and they share
//!   costly work;
//! - `cse.rs`: value numbering, one value per expression in scope (loads and whole sums
//!   included), loads of what was just stored replaced by the stored value;
//! - `dce.rs`: what nothing reads is dropped, stores to scratch nothing loads included, and
//!   scratch that twins another is read from the other.
//!
//! Which loops run lane-wise is [`super::info::lanes`]'s to say (transpose, interchange and
//! fuse ask it of trial bodies; the kernel facts record it for the backends).
//!
//! [`optimize`] runs [`FIRST`] once, then rounds of [`ROUND`] until one changes nothing (the
//! examples take one to three), at most [`MAX_ROUNDS`], after which it stops with a
//! [`StopReason`] and leaves the kernel as it stands (correct, every pass keeping every
//! value). `tests/optimize.rs` runs the interpreter on every example and random models as
//! lowered and as optimised and compares bits; `tests/kir.rs` runs each pass alone on the
//! small kernels of `tests/kernels/<pass>/*.kir` (the cases say what each pass does and what
//! stops it) and compares its output with the one expected.

mod cse;
mod dce;
mod expand;
mod fuse;
mod interchange;
mod licm;
mod transpose;

use std::collections::HashSet;
use std::fmt;

pub(crate) use super::walk::memory;
use super::walk::{body, body_mut, walk};
use super::{Buf, Cond, Index, Kernel, LoopVar, Op, Stmt, Value};

/// A pass of the optimiser, by name (the file tests run them one at a time:
/// `tests/kernels/<name>/`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pass {
    /// `constants_first` (in `mod.rs`).
    ConstantsFirst,
    /// `licm.rs`.
    Licm,
    /// `expand.rs`.
    Expand,
    /// `transpose.rs`.
    Transpose,
    /// `interchange.rs`.
    Interchange,
    /// `fuse.rs`.
    Fuse,
    /// `cse.rs`.
    Cse,
    /// `dce.rs`.
    Dce,
}

impl Pass {
    /// Every pass.
    pub const ALL: [Pass; 8] = [
        Pass::ConstantsFirst,
        Pass::Licm,
        Pass::Expand,
        Pass::Transpose,
        Pass::Interchange,
        Pass::Fuse,
        Pass::Cse,
        Pass::Dce,
    ];

    /// Its name: the name of its file, and of its folder of file tests.
    pub fn name(self) -> &'static str {
        match self {
            Pass::ConstantsFirst => "constants_first",
            Pass::Licm => "licm",
            Pass::Expand => "expand",
            Pass::Transpose => "transpose",
            Pass::Interchange => "interchange",
            Pass::Fuse => "fuse",
            Pass::Cse => "cse",
            Pass::Dce => "dce",
        }
    }

    /// The pass of that name.
    pub fn from_name(name: &str) -> Option<Pass> {
        Pass::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Runs the pass on `kernel`; in tests and debug builds the verifier then checks it.
    pub fn run(self, kernel: &mut Kernel) {
        match self {
            Pass::ConstantsFirst => constants_first(&mut kernel.body),
            Pass::Licm => licm::licm(&mut kernel.body),
            Pass::Expand => expand::expand(kernel),
            Pass::Transpose => transpose::transpose(kernel),
            Pass::Interchange => interchange::interchange(kernel),
            Pass::Fuse => fuse::fuse(&mut kernel.body),
            Pass::Cse => cse::cse(&mut kernel.body),
            Pass::Dce => dce::dce(kernel),
        }
        super::verify::debug_check(kernel, self.name());
    }
}

/// The passes that run once, in order.
pub const FIRST: [Pass; 6] =
    [Pass::ConstantsFirst, Pass::Licm, Pass::Expand, Pass::Transpose, Pass::Interchange, Pass::Fuse];

/// A round of clean-up, run until the kernel no longer changes: each round uses what the one
/// before found (twins `dce` merged, values `licm` moved out are shared by `cse`).
pub const ROUND: [Pass; 5] = [Pass::Cse, Pass::Licm, Pass::Cse, Pass::Dce, Pass::ConstantsFirst];

/// The most rounds [`optimize`] runs.
pub const MAX_ROUNDS: usize = 16;

/// Why [`optimize`] stopped before the kernel stopped changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The kernel still changed in the last of this many rounds. It is kept as it stands:
    /// every round keeps every value, so it is correct, only perhaps not as lean as it could
    /// be (a pass that undoes another's work would do this: a compiler bug).
    RoundLimit(usize),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::RoundLimit(n) => {
                write!(f, "the kernel still changed after {n} rounds of optimisation")
            }
        }
    }
}

/// Runs the passes of [`FIRST`] once, then rounds of [`ROUND`] until a round changes nothing;
/// returns how many rounds ran (that last one included), or why it stopped first. In tests
/// and debug builds the verifier checks the kernel after each pass.
pub fn optimize(kernel: &mut Kernel) -> Result<usize, StopReason> {
    for pass in FIRST {
        pass.run(kernel);
    }
    for round in 1..=MAX_ROUNDS {
        let before = kernel.clone();
        for pass in ROUND {
            pass.run(kernel);
        }
        if *kernel == before {
            return Ok(round);
        }
    }
    Err(StopReason::RoundLimit(MAX_ROUNDS))
}

/// Moves every constant (and `ε`) to the start of the kernel, so that none stands between two
/// loops that could otherwise join.
fn constants_first(body: &mut Vec<Stmt>) {
    fn take(stmts: &mut Vec<Stmt>, out: &mut Vec<Stmt>) {
        stmts.retain_mut(|s| {
            if matches!(s, Stmt::Let(_, Op::Const(_) | Op::Eps(_))) {
                out.push(s.clone());
                return false;
            }
            if let Some(inner) = body_mut(s) {
                take(inner, out);
            }
            true
        });
    }
    let mut constants = Vec::new();
    take(body, &mut constants);
    constants.append(body);
    *body = constants;
}

/// Visits every statement of `kernel`, inner blocks first, and puts the statements `before`
/// returns for it just before it (the new loops of [`expand`] and [`interchange`]).
fn insert_before(kernel: &mut Kernel, before: &mut impl FnMut(&mut Kernel, &mut Stmt) -> Vec<Stmt>) {
    fn block(
        kernel: &mut Kernel,
        stmts: &mut Vec<Stmt>,
        before: &mut impl FnMut(&mut Kernel, &mut Stmt) -> Vec<Stmt>,
    ) {
        let mut out = Vec::with_capacity(stmts.len());
        for mut s in stmts.drain(..) {
            if let Some(inner) = body_mut(&mut s) {
                block(kernel, inner, before);
            }
            out.extend(before(kernel, &mut s));
            out.push(s);
        }
        *stmts = out;
    }
    let mut body = std::mem::take(&mut kernel.body);
    block(kernel, &mut body, before);
    kernel.body = body;
}

/// A new SSA value.
fn fresh_value(kernel: &mut Kernel) -> Value {
    kernel.values += 1;
    Value::from_u32(kernel.values - 1)
}

/// Whether an operation costs more than a load: a function call, a division, a real power or
/// a negative integer one.
fn costly(op: &Op) -> bool {
    match op {
        Op::Call(..) | Op::Binary(super::BinOp::Div | super::BinOp::Pow, ..) => true,
        Op::Powi(_, n) => *n < 0,
        _ => false,
    }
}

/// A new loop variable named like `like`.
fn fresh_var(kernel: &mut Kernel, like: LoopVar) -> LoopVar {
    let name = kernel.vars[like].clone();
    kernel.vars.push(name)
}

/// The value a statement defines for the statements after it.
fn defines(s: &Stmt) -> Option<Value> {
    match s {
        Stmt::Let(v, _) => Some(*v),
        Stmt::Reduce { result, .. } => Some(*result),
        _ => None,
    }
}

/// Every value statements read, nested statements included (a sum's summand as well).
fn reads(stmts: &[Stmt]) -> HashSet<Value> {
    let mut used = HashSet::new();
    walk(stmts, &mut |s| match s {
        Stmt::Let(_, op) => used.extend(op.operands()),
        Stmt::Store { value, .. } | Stmt::Reduce { value, .. } => {
            used.insert(*value);
        }
        _ => {}
    });
    used
}

/// Every value defined within statements, nested ones included.
fn defined(stmts: &[Stmt]) -> HashSet<Value> {
    let mut out = HashSet::new();
    walk(stmts, &mut |s| out.extend(defines(s)));
    out
}

/// Every index of the loads, stores and conditions of statements, to rewrite.
fn indices_mut(stmts: &mut [Stmt], f: &mut impl FnMut(&mut Index)) {
    for s in stmts {
        match s {
            Stmt::Let(_, Op::Load { index, .. }) | Stmt::Store { index, .. } => {
                index.iter_mut().for_each(&mut *f);
            }
            Stmt::Let(_, Op::Select { conds, .. }) => {
                for c in conds {
                    match c {
                        Cond::Range { index, .. } => f(index),
                        Cond::Equal(a, b) => {
                            f(a);
                            f(b);
                        }
                    }
                }
            }
            Stmt::Let(..) => {}
            Stmt::Loop { body, .. } | Stmt::Steps { body, .. } | Stmt::Reduce { body, .. } => {
                indices_mut(body, f)
            }
        }
    }
}

/// Every use of a value in statements (operands, stored values, summands), to rewrite.
fn values_mut(stmts: &mut [Stmt], f: &mut impl FnMut(&mut Value)) {
    for s in stmts {
        match s {
            Stmt::Let(_, op) => op.operands_mut().into_iter().for_each(&mut *f),
            Stmt::Store { value, .. } => f(value),
            Stmt::Reduce { body, value, .. } => {
                values_mut(body, f);
                f(value);
            }
            Stmt::Loop { body, .. } | Stmt::Steps { body, .. } => values_mut(body, f),
        }
    }
}

/// Whether `op` reads nothing that changes from one iteration of the loop over `var` (whose
/// body writes `written`) to the next; its operands are checked apart.
fn invariant(op: &Op, var: LoopVar, written: &HashSet<Buf>) -> bool {
    match op {
        Op::Load { buf, index } => !written.contains(buf) && !names(index, var),
        Op::Select { conds, .. } => !conds.iter().any(|c| cond_names(c, var)),
        _ => true,
    }
}

/// Whether an index names `var`.
fn names(index: &[Index], var: LoopVar) -> bool {
    index.iter().any(|i| i.var == Some(var))
}

fn cond_names(c: &Cond, var: LoopVar) -> bool {
    match c {
        Cond::Range { index, .. } => index.var == Some(var),
        Cond::Equal(a, b) => a.var == Some(var) || b.var == Some(var),
    }
}
