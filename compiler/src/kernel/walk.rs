//! The one set of walkers over a kernel's statement tree, and the one summary of what
//! statements read and write. The optimizer, the kernel facts ([`super::info`]) and the
//! backends all ask these, so "which buffers does this loop touch" has one answer.

use std::collections::HashSet;

use super::{Buf, Index, Op, Stmt};

/// Calls `f` on every statement, nested ones included, parents first.
pub fn walk<'a>(stmts: &'a [Stmt], f: &mut impl FnMut(&'a Stmt)) {
    for s in stmts {
        f(s);
        if let Some(body) = body(s) {
            walk(body, f);
        }
    }
}

/// The body of a loop, the time loop or a sum.
pub fn body(s: &Stmt) -> Option<&Vec<Stmt>> {
    match s {
        Stmt::Loop { body, .. } | Stmt::Steps { body, .. } | Stmt::Reduce { body, .. } => Some(body),
        Stmt::Let(..) | Stmt::Store { .. } => None,
    }
}

/// The body of a loop, the time loop or a sum, to rewrite.
pub fn body_mut(s: &mut Stmt) -> Option<&mut Vec<Stmt>> {
    match s {
        Stmt::Loop { body, .. } | Stmt::Steps { body, .. } | Stmt::Reduce { body, .. } => Some(body),
        Stmt::Let(..) | Stmt::Store { .. } => None,
    }
}

/// One access of a buffer by a load or a store.
#[derive(Clone, Copy, Debug)]
pub struct Access<'a> {
    /// The buffer.
    pub buf: Buf,
    /// Where, one index per axis (the time axis first).
    pub index: &'a [Index],
    /// A store (`false`: a load). A `+=` store is listed twice, as a load and as a store.
    pub write: bool,
}

/// Every access of statements, nested statements included, in program order.
pub fn accesses(stmts: &[Stmt]) -> Vec<Access<'_>> {
    let mut out = Vec::new();
    walk(stmts, &mut |s| match s {
        Stmt::Let(_, Op::Load { buf, index }) => out.push(Access { buf: *buf, index, write: false }),
        Stmt::Store { buf, index, add, .. } => {
            if *add {
                out.push(Access { buf: *buf, index, write: false });
            }
            out.push(Access { buf: *buf, index, write: true });
        }
        _ => {}
    });
    out
}

/// The buffers statements read and write (nested statements included; a `+=` store does both).
#[derive(Default)]
pub struct Memory {
    /// Every buffer loaded (or added to).
    pub reads: HashSet<Buf>,
    /// Every buffer stored to.
    pub writes: HashSet<Buf>,
}

/// The buffers `stmts` read and write.
pub fn memory(stmts: &[Stmt]) -> Memory {
    let mut m = Memory::default();
    for a in accesses(stmts) {
        if a.write { &mut m.writes } else { &mut m.reads }.insert(a.buf);
    }
    m
}
