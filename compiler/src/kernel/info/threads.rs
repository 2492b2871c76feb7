//! The GPU's question about a loop: may the threads of a block share its iterations? Asked
//! of [`super::independent`], the one independence test.

use super::independent;
use crate::kernel::walk::{accesses, memory};
use crate::kernel::{Op, Stmt};

/// Whether the iterations of `for var in lo..hi { body }` may run on different threads:
/// they touch disjoint elements ([`independent`]).
pub fn parallel(var: crate::kernel::LoopVar, lo: i64, hi: i64, body: &[Stmt]) -> bool {
    independent(var, hi - lo, &accesses(body))
}

/// Whether every thread may run `for var { body }` itself, sharing the loop nested in it: the
/// body is `let`s that read nothing the nest writes, then one loop that is [`parallel`]. A
/// thread then touches the same elements in every iteration of the outer loop, so the
/// iterations need no barrier between them (the sum interchanged by the optimizer,
/// `for i { for m { acc[m] += x[i] * B[i, m] } }`).
pub fn shared_inner(body: &[Stmt]) -> bool {
    let Some((last @ Stmt::Loop { var, lo, hi, body: inner }, lets)) = body.split_last() else {
        return false;
    };
    let written = memory(std::slice::from_ref(last)).writes;
    parallel(*var, *lo, *hi, inner)
        && lets.iter().all(|s| match s {
            Stmt::Let(_, Op::Load { buf, .. }) => !written.contains(buf),
            Stmt::Let(..) => true,
            _ => false,
        })
}
