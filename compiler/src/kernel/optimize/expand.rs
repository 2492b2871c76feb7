//! Scalar expansion: what a nested loop needs from an outer computation that depends on one
//! index only is computed by a straight loop of its own over that index, into a scratch
//! array, before the nest; the nest loads it. [`super::fuse`] then joins that loop with its
//! neighbours and [`super::cse`] shares its work with theirs. Three shapes:
//!
//! - **a sum inside a loop**, `for m { sum over i of f(i) · g(i, m) }`: `f(i)` (which does not
//!   depend on `m`) is computed once per `i`, not once per `(m, i)`;
//! - **a loop whose body starts with values that a nested loop uses**,
//!   `for k { x = f(k); for l { .. x .. } }`: `f(k)` moves to a loop of its own;
//! - **a loop inside the time loop**, `for t { for k { .. f(k) .. } }`, where `f(k)` reads
//!   nothing that changes from step to step (`W[k]^-2`): computed once per kernel.
//!
//! Only where the moved values call a function or divide (so that computing them again costs
//! more than a load); a moved load is loaded again rather than copied. The arithmetic of
//! every value stays the same.

use std::collections::{HashMap, HashSet};

use super::{defined, invariant, memory, reads};
use crate::kernel::{Buffer, Index, Kernel, LoopVar, Op, Stmt, Value};

/// Expands the nests of every block of `kernel`.
pub fn expand(kernel: &mut Kernel) {
    super::insert_before(kernel, &mut |kernel, s| match s {
        Stmt::Loop { var, lo, hi, body } => {
            let mut loops = sums(kernel, *var, body);
            loops.extend(prefix(kernel, *var, (*lo, *hi), body));
            loops
        }
        Stmt::Steps { var, body, .. } => steps(kernel, *var, body),
        _ => Vec::new(),
    });
}

/// For the sums at the top level of the body of the loop over `outer`: loops computing their
/// `outer`-invariant values into scratch, to run before the loop.
fn sums(kernel: &mut Kernel, outer: LoopVar, body: &mut [Stmt]) -> Vec<Stmt> {
    let written = memory(body).writes;
    let outside = values_outside(body);
    let mut loops = Vec::new();
    for s in body.iter_mut() {
        let Stmt::Reduce { var, lo, hi, body: summand, value, .. } = s else { continue };
        let invariant = |op: &Op| invariant(op, outer, &written);
        let upto = summand.len();
        if let Some(l) = split(kernel, *var, (*lo, *hi), summand, upto, Some(value), &outside, invariant) {
            loops.push(l);
        }
    }
    loops
}

/// For the loops at the top level of the time loop over `t`: loops computing their
/// per-element values that do not change from step to step into scratch, to run before it.
fn steps(kernel: &mut Kernel, t: LoopVar, body: &mut [Stmt]) -> Vec<Stmt> {
    let written = memory(body).writes;
    let outside = values_outside(body);
    let mut loops = Vec::new();
    for s in body.iter_mut() {
        let Stmt::Loop { var, lo, hi, body: inner } = s else { continue };
        let invariant = |op: &Op| invariant(op, t, &written);
        let upto = inner.len();
        if let Some(l) = split(kernel, *var, (*lo, *hi), inner, upto, None, &outside, invariant) {
            loops.push(l);
        }
    }
    loops
}

/// For a loop over `var` whose body starts with `let`s that the nested statements after them
/// use: a loop computing them into scratch, to run before it.
fn prefix(kernel: &mut Kernel, var: LoopVar, range: (i64, i64), body: &mut Vec<Stmt>) -> Vec<Stmt> {
    let lets = body.iter().take_while(|s| matches!(s, Stmt::Let(..))).count();
    if lets == body.len() || body[lets..].iter().all(|s| matches!(s, Stmt::Let(..) | Stmt::Store { .. })) {
        return Vec::new();
    }
    // The prefix runs for every element before the rest runs for any: the rest must not write
    // what the prefix reads.
    let (head, rest) = (memory(&body[..lets]), memory(&body[lets..]));
    if !head.reads.is_disjoint(&rest.writes) {
        return Vec::new();
    }
    let outside = values_outside(body);
    split(kernel, var, range, body, lets, None, &outside, |_| true).into_iter().collect()
}

/// Moves the `let`s among the first `upto` statements of `body` (the body of a loop or sum
/// over `var`, whose summand is `summand`) that `keep` allows and that depend only on each
/// other and on values from `outside`, when they include costly work, into a new loop over
/// `var`'s range that stores the ones the rest uses in scratch arrays; `body` loads them
/// instead.
#[allow(clippy::too_many_arguments)]
fn split(
    kernel: &mut Kernel,
    var: LoopVar,
    (lo, hi): (i64, i64),
    body: &mut Vec<Stmt>,
    upto: usize,
    summand: Option<&mut Value>,
    outside: &HashSet<Value>,
    keep: impl Fn(&Op) -> bool,
) -> Option<Stmt> {
    let mut moved: HashSet<Value> = HashSet::new();
    let mut lets = Vec::new();
    for s in &body[..upto] {
        if let Stmt::Let(v, op) = s
            && keep(op)
            && op.operands().iter().all(|a| moved.contains(a) || outside.contains(a))
        {
            moved.insert(*v);
            lets.push(s.clone());
        }
    }
    if !lets.iter().any(|s| matches!(s, Stmt::Let(_, op) if super::costly(op))) {
        return None;
    }
    // The moved values the rest of the body uses.
    let rest: Vec<Stmt> =
        body.iter().filter(|s| !matches!(s, Stmt::Let(v, _) if moved.contains(v))).cloned().collect();
    let mut used = reads(&rest);
    used.extend(summand.as_deref().copied());
    let mut needed: Vec<Value> = used.into_iter().filter(|v| moved.contains(v)).collect();
    needed.sort();
    if needed.is_empty() {
        return None;
    }
    let new_var = super::fresh_var(kernel, var);
    let mut looped = lets;
    super::indices_mut(&mut looped, &mut |i| {
        if i.var == Some(var) {
            i.var = Some(new_var);
        }
    });
    let mut loads = Vec::new();
    let mut renamed = HashMap::new();
    for &v in &needed {
        let w = super::fresh_value(kernel);
        renamed.insert(v, w);
        // A load is loaded again, not copied.
        if let Some(Stmt::Let(_, op @ Op::Load { .. })) =
            body.iter().find(|s| matches!(s, Stmt::Let(x, _) if *x == v))
        {
            loads.push(Stmt::Let(w, op.clone()));
            continue;
        }
        let buf = kernel.buffers.push(Buffer {
            name: format!("expanded{}", kernel.buffers.len()),
            slot: None,
            time: None,
            shape: vec![(hi - lo) as u64],
        });
        looped.push(Stmt::Store { buf, index: vec![Index::var(new_var, -lo)], value: v, add: false });
        loads.push(Stmt::Let(w, Op::Load { buf, index: vec![Index::var(var, -lo)] }));
    }
    let mut rest = rest;
    super::values_mut(&mut rest, &mut |v| {
        if let Some(&w) = renamed.get(v) {
            *v = w;
        }
    });
    loads.extend(rest);
    *body = loads;
    if let Some(v) = summand
        && let Some(&w) = renamed.get(v)
    {
        *v = w;
    }
    Some(Stmt::Loop { var: new_var, lo, hi, body: looped })
}

/// The values a body uses but does not define (defined before it).
fn values_outside(body: &[Stmt]) -> HashSet<Value> {
    let inside = defined(body);
    reads(body).into_iter().filter(|v| !inside.contains(v)).collect()
}
