//! How a kernel's statements are spread over the threads of a block, and where the block
//! must wait for itself.
//!
//! One block runs one sequence. The statements outside index loops (the *sequential level*:
//! the kernel body and the body of the time loop) are executed by every thread alike: a
//! `Let` is computed redundantly in registers, a `Store` is done by thread 0. A loop at that
//! level whose iterations touch disjoint elements ([`parallel`]) is spread over the threads,
//! one iteration per thread in turn; so is the loop nested in a loop whose body is `let`s and
//! that loop ([`shared_inner`]), every thread running the outer one; any other loop runs on
//! thread 0. A sum at that level whose summands store nothing is a block reduction (partial
//! sums per thread, then a tree in a fixed order: deterministic).
//!
//! [`Hazards`] places the barriers: before a statement that reads a buffer written since the
//! last barrier, or writes one read or written since then. It knows buffers, not elements,
//! so it is conservative.

use std::collections::BTreeSet;

use crate::kernel::{Buf, Index, LoopVar, Op, Stmt};

/// Whether the iterations of `for var in lo..hi { body }` may run on different threads:
/// every store of the body writes an element that only its own iteration names (an index
/// axis that is the loop variable, unwrapped or wrapped by at least the trip count), and a
/// buffer the body writes is read only at the element its iteration writes.
pub fn parallel(var: LoopVar, lo: i64, hi: i64, body: &[Stmt]) -> bool {
    let mut stores: Vec<(Buf, &[Index])> = Vec::new();
    let mut loads: Vec<(Buf, &[Index])> = Vec::new();
    collect(body, &mut stores, &mut loads);
    let own =
        |i: &Index| i.var == Some(var) && i.clamp.is_none() && i.wrap.is_none_or(|m| m as i64 >= hi - lo);
    stores.iter().all(|(buf, index)| {
        index.iter().any(own)
            && stores.iter().all(|(b, i)| b != buf || i == index)
            && loads.iter().all(|(b, i)| b != buf || i == index)
    })
}

/// Whether every thread may run `for var { body }` itself, sharing the loop nested in it: the
/// body is `let`s that read nothing the nest writes, then one loop that is [`parallel`]. A
/// thread then touches the same elements in every iteration of the outer loop, so the
/// iterations need no barrier between them (the sum interchanged by the optimizer,
/// `for i { for m { acc[m] += x[i] * B[i, m] } }`).
pub fn shared_inner(body: &[Stmt]) -> bool {
    let Some((Stmt::Loop { var, lo, hi, body: inner }, lets)) = body.split_last() else { return false };
    let (_, written) = access(body.last().expect("a last statement"));
    parallel(*var, *lo, *hi, inner)
        && lets.iter().all(|s| match s {
            Stmt::Let(_, Op::Load { buf, .. }) => !written.contains(buf),
            Stmt::Let(..) => true,
            _ => false,
        })
}

fn collect<'a>(body: &'a [Stmt], stores: &mut Vec<(Buf, &'a [Index])>, loads: &mut Vec<(Buf, &'a [Index])>) {
    for s in body {
        match s {
            Stmt::Let(_, Op::Load { buf, index }) => loads.push((*buf, index)),
            Stmt::Let(..) => {}
            Stmt::Loop { body, .. } | Stmt::Steps { body, .. } | Stmt::Reduce { body, .. } => {
                collect(body, stores, loads)
            }
            Stmt::Store { buf, index, add, .. } => {
                stores.push((*buf, index));
                if *add {
                    loads.push((*buf, index));
                }
            }
        }
    }
}

/// The buffers a statement reads and writes, at any depth.
pub fn access(s: &Stmt) -> (BTreeSet<Buf>, BTreeSet<Buf>) {
    let (mut stores, mut loads) = (Vec::new(), Vec::new());
    collect(std::slice::from_ref(s), &mut stores, &mut loads);
    (loads.into_iter().map(|(b, _)| b).collect(), stores.into_iter().map(|(b, _)| b).collect())
}

/// Whether a statement stores anything.
pub fn stores(body: &[Stmt]) -> bool {
    body.iter().any(|s| !access(s).1.is_empty())
}

/// The buffers read and written by the threads of a block since its last barrier.
#[derive(Default)]
pub struct Hazards {
    read: BTreeSet<Buf>,
    written: BTreeSet<Buf>,
}

impl Hazards {
    /// Records a statement that reads `reads` and writes `writes`; true when a barrier must
    /// come before it (and the record then starts afresh).
    pub fn before(&mut self, reads: &BTreeSet<Buf>, writes: &BTreeSet<Buf>) -> bool {
        let barrier = !reads.is_disjoint(&self.written)
            || !writes.is_disjoint(&self.written)
            || !writes.is_disjoint(&self.read);
        if barrier {
            self.clear();
        }
        self.read.extend(reads);
        self.written.extend(writes);
        barrier
    }

    /// Whether anything was read or written since the last barrier.
    pub fn pending(&self) -> bool {
        !self.read.is_empty() || !self.written.is_empty()
    }

    /// A barrier was placed.
    pub fn clear(&mut self) {
        self.read.clear();
        self.written.clear();
    }
}
