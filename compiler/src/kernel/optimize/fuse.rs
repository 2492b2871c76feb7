//! Loop fusion: a loop joins an earlier loop over the same range in the same block, moved up
//! past the statements between when it is independent of them, so that what the two compute
//! for one element is computed once ([`super::cse`] then merges it).
//!
//! Two loops join when
//! - every buffer one writes and the other reads or writes is accessed by both at one and the
//!   same index, which names the loop variable without wrapping or clamping (so iteration `k`
//!   of the joined loop touches only element `k`: no iteration sees another's writes);
//! - the joined loop runs lane-wise exactly when both did (so a
//!   straight-line loop does not join one that holds a sum or a loop);
//! - the two bodies compute something costly in common (a function, a division, a sum, a
//!   nested loop that joins its twin, a load of an array neither writes), so that the joined
//!   one does less work.
//!
//! The loops nested in the joined body are fused in turn. Before joining, a `let` that
//! follows a loop it does not depend on moves before it.

use std::collections::HashSet;

use super::{body_mut, defines, indices_mut, memory, reads, walk};
use crate::kernel::info::lanes;
use crate::kernel::{Buf, Index, LoopVar, Op, Stmt};

/// Fuses the loops of `body` and of every block nested in it.
pub fn fuse(body: &mut Vec<Stmt>) {
    for s in body.iter_mut() {
        if let Some(inner) = body_mut(s) {
            fuse(inner);
        }
    }
    lets_before_loops(body);
    let mut i = 0;
    while i < body.len() {
        let mut j = i + 1;
        while j < body.len() {
            let movable = || body[i + 1..j].iter().all(|s| independent(s, &body[j]));
            match join(&body[i], &body[j]) {
                Some(mut joined) if movable() => {
                    // The loops nested in the two bodies may join in turn.
                    if let Some(inner) = body_mut(&mut joined) {
                        fuse(inner);
                    }
                    body[i] = joined;
                    body.remove(j);
                }
                _ => j += 1,
            }
        }
        i += 1;
    }
}

/// Moves each `let` that follows a loop or a sum it does not depend on to before it, so that
/// a value a loop needs (`x = load e[i]; for m { .. x .. }`) does not keep it from its
/// neighbour. Straight-line code keeps its order.
fn lets_before_loops(body: &mut [Stmt]) {
    for j in 1..body.len() {
        let mut at = j;
        while at > 0
            && matches!(body[at], Stmt::Let(..))
            && matches!(body[at - 1], Stmt::Loop { .. } | Stmt::Reduce { .. })
            && independent(&body[at - 1], &body[at])
        {
            body.swap(at - 1, at);
            at -= 1;
        }
    }
}

/// `a` followed by `b` as one loop, where that is allowed.
fn join(a: &Stmt, b: &Stmt) -> Option<Stmt> {
    let (
        Stmt::Loop { var, lo, hi, body: first },
        Stmt::Loop { var: other, lo: lo_b, hi: hi_b, body: second },
    ) = (a, b)
    else {
        return None;
    };
    if (lo, hi) != (lo_b, hi_b) {
        return None;
    }
    let original = second;
    let mut second = second.clone();
    indices_mut(&mut second, &mut |i| {
        if i.var == Some(*other) {
            i.var = Some(*var);
        }
    });
    let (ma, mb) = (memory(first), memory(&second));
    let shared = ma
        .writes
        .iter()
        .filter(|buf| mb.reads.contains(buf) || mb.writes.contains(buf))
        .chain(mb.writes.iter().filter(|buf| ma.reads.contains(buf)));
    for &buf in shared {
        let mut at = accesses(first, buf);
        at.extend(accesses(&second, buf));
        if at.iter().any(|i| *i != at[0]) || !one_to_one(&at[0], *var) {
            return None;
        }
    }
    let mut joined = first.clone();
    joined.extend(second.iter().cloned());
    let lane_wise = lanes::vectorizable(*var, first);
    if lanes::vectorizable(*other, original) != lane_wise || lanes::vectorizable(*var, &joined) != lane_wise {
        return None;
    }
    // Only where that saves work: the two bodies compute something costly in common.
    let mut merged = joined.clone();
    fuse(&mut merged);
    super::cse::cse(&mut merged);
    let fixed: HashSet<Buf> = ma
        .reads
        .union(&mb.reads)
        .filter(|b| !ma.writes.contains(b) && !mb.writes.contains(b))
        .copied()
        .collect();
    if cost(&merged, &fixed) >= cost(first, &fixed) + cost(original, &fixed) {
        return None;
    }
    Some(Stmt::Loop { var: *var, lo: *lo, hi: *hi, body: joined })
}

/// The costly statements of a body: function calls, divisions, sums, loops, and loads of the
/// `fixed` buffers (which neither loop writes: the same matrix read by both). (Fusing loops
/// that share none of them saves a few loads of what one wrote and the other reads, but makes
/// one long chain of dependent work out of two loops whose iterations overlapped: slower, as
/// measured on the forward pass.)
fn cost(body: &[Stmt], fixed: &HashSet<Buf>) -> usize {
    let mut n = 0;
    walk(body, &mut |s| {
        n += usize::from(match s {
            Stmt::Let(_, Op::Load { buf, .. }) => fixed.contains(buf),
            Stmt::Let(_, op) => super::costly(op),
            Stmt::Reduce { .. } | Stmt::Loop { .. } => true,
            _ => false,
        });
    });
    n
}

/// Whether `later` may run before `s`: it reads nothing `s` defines or writes, and writes
/// nothing `s` reads or writes. (Values defined inside `s` are not visible after it.)
fn independent(s: &Stmt, later: &Stmt) -> bool {
    let one = std::slice::from_ref(s);
    let other = std::slice::from_ref(later);
    if defines(s).is_some_and(|v| reads(other).contains(&v)) {
        return false;
    }
    let (m, n) = (memory(one), memory(other));
    n.writes.is_disjoint(&m.reads) && n.writes.is_disjoint(&m.writes) && n.reads.is_disjoint(&m.writes)
}

/// The index of every load and store of `buf` in a body, nested statements included.
fn accesses(body: &[Stmt], buf: Buf) -> Vec<Vec<Index>> {
    let mut out = Vec::new();
    walk(body, &mut |s| match s {
        Stmt::Let(_, Op::Load { buf: b, index }) | Stmt::Store { buf: b, index, .. } if *b == buf => {
            out.push(index.clone())
        }
        _ => {}
    });
    out
}

/// Whether distinct values of `var` give distinct elements.
fn one_to_one(index: &[Index], var: LoopVar) -> bool {
    index.iter().any(|i| i.var == Some(var) && i.wrap.is_none() && i.clamp.is_none())
}
