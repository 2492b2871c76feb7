//! How a kernel's statements are spread over the threads of a block, and where the block
//! must wait for itself. Which loops the threads share is a fact of the kernel
//! ([`crate::kernel::Info`], asked of the one independence test); this module places barriers.
//!
//! One block runs one sequence. The statements outside index loops (the *sequential level*:
//! the kernel body and the body of the time loop) are executed by every thread alike: a
//! `Let` is computed redundantly in registers, a `Store` is done by thread 0. A loop at that
//! level whose iterations touch disjoint elements (`Info::threads`) is spread over the threads,
//! one iteration per thread in turn; so is the loop nested in a loop whose body is `let`s and
//! that loop (`Info::shared_inner`), every thread running the outer one; any other loop runs on
//! thread 0. A sum at that level whose summands store nothing is a block reduction (partial
//! sums per thread, then a tree in a fixed order: deterministic).
//!
//! [`Hazards`] places the barriers: before a statement that reads a buffer written since the
//! last barrier, or writes one read or written since then. It knows buffers, not elements,
//! so it is conservative.

use std::collections::BTreeSet;

use crate::kernel::walk::memory;
use crate::kernel::{Buf, Stmt};

/// The buffers a statement reads and writes, at any depth.
pub fn access(s: &Stmt) -> (BTreeSet<Buf>, BTreeSet<Buf>) {
    let m = memory(std::slice::from_ref(s));
    (m.reads.into_iter().collect(), m.writes.into_iter().collect())
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
