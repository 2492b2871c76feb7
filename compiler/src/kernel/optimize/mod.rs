//! Clean-up passes over a lowered kernel: the lowering computes each derivative where it is
//! used, so a kernel that accumulates several gradients at one point of the step holds many
//! loops over the same range that compute the same forces (the echo's `tanh` of each element
//! five times per kick). Every pass here keeps the arithmetic of every value the same (no
//! reassociation), so the interpreter and every backend give the same results as before, bit
//! for bit, only with less work:
//!
//! 1. [`licm`] (see 4) and [`expand`]: what a nested loop needs from an outer computation
//!    that depends on one index only is computed by a loop of its own, into scratch;
//!    [`interchange`]: a sum inside a loop that reads consecutive elements along the loop, not
//!    along the sum, becomes an accumulation inside a loop over the sum's index, unless
//!    [`transpose`] finds that reading a param matrix transposed lets the loop run lane-wise
//!    as it is;
//! 2. [`fuse`]: neighbouring loops over one range become one loop, where no iteration reads
//!    what another wrote and a loop that runs lane-wise still does;
//! 3. [`cse`]: one value per expression in scope (loads and whole sums included), loads of
//!    what was just stored replaced by the stored value;
//! 4. [`licm`]: what does not change within a loop is computed before it;
//! 5. [`dce`]: what nothing reads is dropped, stores to scratch nothing loads included.

mod cse;
mod dce;
mod expand;
mod fuse;
mod interchange;
mod licm;
mod transpose;

use std::collections::HashSet;

pub(crate) use super::walk::memory;
use super::walk::{body, body_mut, walk};
use super::{Buf, Cond, Index, Kernel, LoopVar, Op, Stmt, Value};

/// Runs every pass, in order, on `kernel`; in tests and debug builds the verifier checks the
/// kernel after each one.
pub fn optimize(kernel: &mut Kernel) {
    let check = super::verify::debug_check;
    constants_first(&mut kernel.body);
    check(kernel, "constants_first");
    licm::licm(&mut kernel.body);
    check(kernel, "licm");
    expand::expand(kernel);
    check(kernel, "expand");
    transpose::transpose(kernel);
    check(kernel, "transpose");
    interchange::interchange(kernel);
    check(kernel, "interchange");
    fuse::fuse(&mut kernel.body);
    check(kernel, "fuse");
    for _ in 0..2 {
        // The second round uses the twins the first found.
        cse::cse(&mut kernel.body);
        check(kernel, "cse");
        licm::licm(&mut kernel.body);
        check(kernel, "licm");
        cse::cse(&mut kernel.body);
        check(kernel, "cse");
        dce::dce(kernel);
        check(kernel, "dce");
        constants_first(&mut kernel.body);
        check(kernel, "constants_first");
    }
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
