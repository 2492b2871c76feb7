//! The kernel IR verifier. It reports every violation, not the first, and runs
//!
//! - after the lowering and after every optimisation pass, in tests and debug builds;
//! - always, release builds included, in [`super::Verified::new`], the only way to make the
//!   `Verified` module every native backend takes: the native code indexes its buffers
//!   without checks, relying on the bounds proved here.
//!
//! Invariants:
//! - SSA: every value is defined once, before every use, in the same block or one enclosing it;
//!   a reduction's summand is defined in its body or before it.
//! - Every loop variable an index uses is bound by an enclosing loop, and each is bound by one
//!   loop only (the kernel facts are kept per loop variable).
//! - Every load and store has one index per axis (the time axis first) and stays inside its
//!   buffer for every value of its loop variables; a time index is `t + c` with `c` within the
//!   rows the buffer has beyond `T`.
//! - Kernels never write the model's params, inputs, targets or cotangents.
//! - Only the echo reads `ε`.

use std::collections::{HashMap, HashSet};
use std::fmt;

use hsc_runtime::Pass;

use super::{Buf, Cond, Index, Kernel, LoopVar, Op, Stmt, Value};

/// A broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Which kernel.
    pub kernel: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kernel {}: {}", self.kernel, self.message)
    }
}

/// Checks every invariant of a kernel; every violation found, in program order.
pub fn verify(k: &Kernel) -> Result<(), Vec<VerifyError>> {
    let mut v = Verifier {
        k,
        defined: vec![false; k.values as usize],
        ranges: HashMap::new(),
        bound: HashSet::new(),
        errors: Vec::new(),
    };
    let mut scope = Vec::new();
    v.block(&k.body, &mut scope);
    if v.errors.is_empty() {
        return Ok(());
    }
    Err(v.errors.into_iter().map(|message| VerifyError { kernel: k.pass.name(), message }).collect())
}

/// Checks every kernel of a module; every violation of every kernel.
pub fn verify_module(m: &super::Module) -> Result<(), Vec<VerifyError>> {
    let errors: Vec<VerifyError> = m.kernels.iter().filter_map(|k| verify(k).err()).flatten().collect();
    if errors.is_empty() { Ok(()) } else { Err(errors) }
}

/// In tests and debug builds, checks `k` after the pass `after`, and panics with every
/// violation (a compiler bug, named by the pass that made it).
pub(super) fn debug_check(k: &Kernel, after: &str) {
    if cfg!(debug_assertions)
        && let Err(errors) = verify(k)
    {
        let lines: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        panic!("after {after}, {} violation(s):\n{}\n{k}", lines.len(), lines.join("\n"));
    }
}

struct Verifier<'a> {
    k: &'a Kernel,
    defined: Vec<bool>,
    /// The range of each bound loop variable; `None` for the time loop.
    ranges: HashMap<LoopVar, Option<(i64, i64)>>,
    /// Every loop variable bound so far.
    bound: HashSet<LoopVar>,
    /// What is wrong, in program order.
    errors: Vec<String>,
}

impl Verifier<'_> {
    fn report(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            self.errors.push(e);
        }
    }

    fn block(&mut self, stmts: &[Stmt], visible: &mut Vec<Value>) {
        let mark = visible.len();
        for s in stmts {
            match s {
                Stmt::Let(v, op) => {
                    let checked = self.op(op, visible);
                    self.report(checked);
                    self.define(*v, visible);
                }
                Stmt::Loop { var, lo, hi, body } => {
                    if lo > hi {
                        self.errors.push(format!("loop over {lo}..{hi}"));
                    }
                    let outer = self.bind(*var, Some((*lo, *hi)));
                    self.block(body, visible);
                    self.unbind(*var, outer);
                }
                Stmt::Steps { var, body, .. } => {
                    let outer = self.bind(*var, None);
                    self.block(body, visible);
                    self.unbind(*var, outer);
                }
                Stmt::Reduce { result, var, lo, hi, body, value } => {
                    let outer = self.bind(*var, Some((*lo, *hi)));
                    let inner = visible.len();
                    self.block_keep(body, visible);
                    let used = self.use_value(*value, visible);
                    self.report(used);
                    visible.truncate(inner);
                    self.unbind(*var, outer);
                    self.define(*result, visible);
                }
                Stmt::Store { buf, index, value, .. } => {
                    let used = self.use_value(*value, visible);
                    self.report(used);
                    let access = self.access(*buf, index);
                    self.report(access);
                    if let Some(b) = self.k.buffers.get(*buf)
                        && let Some(slot) = b.slot
                        && slot.is_given()
                    {
                        self.errors.push(format!("stores into the model's own array {}", b.name));
                    }
                }
            }
        }
        visible.truncate(mark);
    }

    /// Like `block`, but leaves the body's values visible (for a reduction's summand).
    fn block_keep(&mut self, stmts: &[Stmt], visible: &mut Vec<Value>) {
        self.block(stmts, visible);
        // `block` truncated; re-add the values the body defined at its top level.
        for s in stmts {
            if let Stmt::Let(v, _) | Stmt::Reduce { result: v, .. } = s {
                visible.push(*v);
            }
        }
    }

    /// Binds a loop variable for its body; returns the binding it shadows, if it was bound
    /// already (an error).
    fn bind(&mut self, var: LoopVar, range: Option<(i64, i64)>) -> Option<Option<(i64, i64)>> {
        let outer = self.ranges.insert(var, range);
        if outer.is_some() {
            self.errors.push(format!("loop variable {var} is bound twice"));
        } else if !self.bound.insert(var) {
            self.errors.push(format!("loop variable {var} is bound by two loops"));
        }
        outer
    }

    fn unbind(&mut self, var: LoopVar, outer: Option<Option<(i64, i64)>>) {
        match outer {
            Some(range) => self.ranges.insert(var, range),
            None => self.ranges.remove(&var),
        };
    }

    fn define(&mut self, v: Value, visible: &mut Vec<Value>) {
        match self.defined.get_mut(v.as_u32() as usize) {
            None => self.errors.push(format!("{v} is out of range")),
            Some(true) => self.errors.push(format!("{v} is defined twice")),
            Some(slot) => *slot = true,
        }
        visible.push(v);
    }

    fn use_value(&self, v: Value, visible: &[Value]) -> Result<(), String> {
        if visible.contains(&v) { Ok(()) } else { Err(format!("{v} is used where it is not defined")) }
    }

    fn op(&self, op: &Op, visible: &[Value]) -> Result<(), String> {
        match op {
            Op::Const(_) => Ok(()),
            Op::Eps(_) if matches!(self.k.pass, Pass::Echo | Pass::Hl) => Ok(()),
            Op::Eps(_) => Err("a runtime scalar (ε) read outside the echo and HL".into()),
            Op::Load { buf, index } => self.access(*buf, index),
            Op::Neg(a) | Op::Powi(a, _) | Op::Call(_, a) => self.use_value(*a, visible),
            Op::Binary(_, a, b) => {
                self.use_value(*a, visible)?;
                self.use_value(*b, visible)
            }
            Op::Select { conds, then, otherwise } => {
                for c in conds {
                    match c {
                        Cond::Range { index, .. } => self.range(index)?,
                        Cond::Equal(a, b) => {
                            self.range(a)?;
                            self.range(b)?
                        }
                    };
                }
                self.use_value(*then, visible)?;
                self.use_value(*otherwise, visible)
            }
        }
    }

    /// The values an index takes (`None` for the time index).
    fn range(&self, i: &Index) -> Result<Option<(i64, i64)>, String> {
        let (lo, hi) = match i.var {
            None => (0, 0),
            Some(v) => match self.ranges.get(&v) {
                None => return Err(format!("loop variable {v} is used outside its loop")),
                Some(None) => return Ok(None),
                Some(Some((lo, hi))) => (*lo, *hi - 1),
            },
        };
        let (lo, hi) = match i.wrap {
            Some(m) => (i.outer, i.outer + m as i64 - 1),
            None => (lo + i.inner + i.outer, hi + i.inner + i.outer),
        };
        Ok(Some(match i.clamp {
            Some(n) => (lo.clamp(0, n as i64 - 1), hi.clamp(0, n as i64 - 1)),
            None => (lo, hi),
        }))
    }

    fn access(&self, buf: Buf, index: &[Index]) -> Result<(), String> {
        let b = self.k.buffers.get(buf).ok_or(format!("{buf} is not a buffer"))?;
        let axes = b.time.is_some() as usize + b.shape.len();
        if index.len() != axes {
            return Err(format!("{} has {axes} axes, accessed with {} indices", b.name, index.len()));
        }
        let mut rest = index;
        if let Some(extra) = b.time {
            let t = &index[0];
            let is_step = t.var.is_some_and(|v| self.ranges.get(&v) == Some(&None));
            let ok = if is_step {
                t.inner == 0 && t.wrap.is_none() && t.clamp.is_none() && (0..=extra as i64).contains(&t.outer)
            } else {
                t.var.is_none() && t.outer == 0
            };
            if !ok {
                return Err(format!("{} is read at a row that may not exist", b.name));
            }
            rest = &index[1..];
        }
        for (i, &size) in rest.iter().zip(&b.shape) {
            match self.range(i)? {
                Some((lo, hi)) if lo >= 0 && hi < size as i64 => {}
                Some((lo, hi)) => {
                    return Err(format!("{} (size {size}) is accessed at {lo}..={hi}", b.name));
                }
                None => return Err(format!("{} is indexed by the step on a non-time axis", b.name)),
            }
        }
        Ok(())
    }
}
