//! Loop-invariant code motion: a `let` in the body of a loop, a sum or the time loop that
//! does not depend on the loop's variable, on a value defined in the body, or on a buffer the
//! body writes is computed once, just before the loop. Inner loops go first, so a value
//! moves out through every loop it does not depend on. (Every index stays inside its buffer
//! for any value of the variables it names, and operations do not trap, so computing a value
//! that a loop would not have used is harmless.)

use std::collections::HashSet;

use super::{body_mut, defined, invariant, memory};
use crate::kernel::{LoopVar, Stmt};

/// Moves the invariant values of every loop in `body` out of it.
pub fn licm(body: &mut Vec<Stmt>) {
    let mut out = Vec::with_capacity(body.len());
    for mut s in body.drain(..) {
        let var = match &s {
            Stmt::Loop { var, .. } | Stmt::Steps { var, .. } | Stmt::Reduce { var, .. } => Some(*var),
            Stmt::Let(..) | Stmt::Store { .. } => None,
        };
        if let (Some(var), Some(inner)) = (var, body_mut(&mut s)) {
            licm(inner);
            out.extend(invariants(var, inner));
        }
        out.push(s);
    }
    *body = out;
}

/// Takes the invariant `let`s out of the top level of a loop's body, in order.
fn invariants(var: LoopVar, body: &mut Vec<Stmt>) -> Vec<Stmt> {
    let written = memory(body).writes;
    let mut inside: HashSet<_> = defined(body);
    let mut moved = Vec::new();
    body.retain(|s| {
        let Stmt::Let(v, op) = s else { return true };
        if !invariant(op, var, &written) || op.operands().iter().any(|a| inside.contains(a)) {
            return true;
        }
        inside.remove(v);
        moved.push(s.clone());
        false
    });
    moved
}
