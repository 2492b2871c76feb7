//! Loop interchange for a sum inside a loop: `for m { r = sum over i of f(i, m); .. }`, where
//! the summand reads consecutive elements in `m` but not in `i` (the transposed
//! matrix-vector product of an input gradient, `sum(i, x[i] * B[i, m])`), becomes
//!
//! ```text
//! for m { acc[m] = 0 }
//! for i { for m { acc[m] += f(i, m) } }
//! for m { r = acc[m]; .. }
//! ```
//!
//! so the inner loop runs lane-wise over `m`. Each `acc[m]` adds the same terms in the same
//! order as the sum did (from 0, `i` rising), so the results are the same bits.
//!
//! Only for a sum whose body is straight-line, reads nothing the loop writes and no value
//! the loop defines, and does not run lane-wise as it is while the new inner loop does; and
//! not in a loop that runs lane-wise over `m` as a whole, short sums included (see
//! [`lanes::vectorizable`]): the translator unrolls those, with no accumulator in memory.

use std::collections::HashSet;

use super::{defined, indices_mut, memory, reads};
use crate::kernel::info::lanes;
use crate::kernel::{Buffer, Index, Kernel, LoopVar, Op, Stmt, Value};

/// Interchanges the sums of every loop of `kernel` where that lets them run lane-wise.
pub fn interchange(kernel: &mut Kernel) {
    super::insert_before(kernel, &mut |kernel, s| match s {
        Stmt::Loop { var, lo, hi, body } => sums(kernel, *var, (*lo, *hi), body),
        _ => Vec::new(),
    });
}

/// Rewrites the sums at the top level of the body of the loop over `m`; returns the loops to
/// run before it.
fn sums(kernel: &mut Kernel, m: LoopVar, (lo_m, hi_m): (i64, i64), body: &mut [Stmt]) -> Vec<Stmt> {
    if lanes::vectorizable(m, body) {
        return Vec::new(); // lane-wise over `m` as it is, each lane summing in registers
    }
    let written = memory(body).writes;
    let local: HashSet<Value> = defined(body);
    // The loops that clear the accumulators, then the nests that fill them (so that the
    // nests are neighbours, for `fuse`).
    let (mut clears, mut nests) = (Vec::new(), Vec::new());
    for s in body.iter_mut() {
        let Stmt::Reduce { result, var: i, lo, hi, body: summand, value } = s else { continue };
        let own = defined(summand);
        let mut used = reads(summand);
        used.insert(*value);
        if !summand.iter().all(|s| matches!(s, Stmt::Let(..)))
            || !memory(summand).reads.is_disjoint(&written)
            || used.iter().any(|v| local.contains(v) && !own.contains(v))
            || lanes::vectorizable(*i, summand)
        {
            continue;
        }
        let (outer, inner) = (super::fresh_var(kernel, *i), super::fresh_var(kernel, m));
        let mut terms = summand.clone();
        indices_mut(&mut terms, &mut |x| {
            if x.var == Some(*i) {
                x.var = Some(outer);
            } else if x.var == Some(m) {
                x.var = Some(inner);
            }
        });
        let acc = kernel.buffers.next_key();
        terms.push(Stmt::Store { buf: acc, index: vec![Index::var(inner, -lo_m)], value: *value, add: true });
        if !lanes::vectorizable(inner, &terms) {
            continue;
        }
        kernel.buffers.push(Buffer {
            name: format!("sum{}", acc.as_u32()),
            slot: None,
            time: None,
            shape: vec![(hi_m - lo_m) as u64],
        });
        let zero = super::fresh_value(kernel);
        let clear = super::fresh_var(kernel, m);
        clears.push(Stmt::Loop {
            var: clear,
            lo: lo_m,
            hi: hi_m,
            body: vec![
                Stmt::Let(zero, Op::Const(0.0)),
                Stmt::Store { buf: acc, index: vec![Index::var(clear, -lo_m)], value: zero, add: false },
            ],
        });
        let nest = Stmt::Loop { var: inner, lo: lo_m, hi: hi_m, body: terms };
        nests.push(Stmt::Loop { var: outer, lo: *lo, hi: *hi, body: vec![nest] });
        *s = Stmt::Let(*result, Op::Load { buf: acc, index: vec![Index::var(m, -lo_m)] });
    }
    clears.extend(nests);
    clears
}
