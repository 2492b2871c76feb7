//! Dead-code elimination: stores to a scratch buffer that nothing loads, then `let`s and sums
//! whose values nothing reads, then loops left empty, until nothing changes; last, scratch
//! buffers nothing touches any more leave the kernel.
//!
//! Before that, a scratch buffer that is a *twin* of another (every store to it comes with a
//! store of the same value at the same index to the other, in one straight-line run that
//! loads neither, and the other is stored nowhere else) is read from the other instead: the
//! lowering makes such twins where one per-index value is hoisted under two names
//! (`sigmoid(c[k])` and `sigmoid(c[i])`).

use std::collections::{HashMap, HashSet};

use cranelift_entity::{EntityRef, PrimaryMap};

use super::{body_mut, reads, walk};
use crate::kernel::{Buf, Index, Kernel, Op, Stmt, Value};

/// Removes what does not contribute to a kernel's outputs.
pub fn dce(kernel: &mut Kernel) {
    let twins = twins(kernel);
    if !twins.is_empty() {
        rename(&mut kernel.body, &|b| twins.get(&b).copied().unwrap_or(b), true);
    }
    loop {
        let loaded = loaded(&kernel.body);
        let scratch: HashSet<Buf> = kernel
            .buffers
            .iter()
            .filter(|(b, buf)| buf.slot.is_none() && !loaded.contains(b))
            .map(|(b, _)| b)
            .collect();
        let used = reads(&kernel.body);
        if !sweep(&mut kernel.body, &used, &scratch) {
            break;
        }
    }
    compact(kernel);
}

fn loaded(body: &[Stmt]) -> HashSet<Buf> {
    let mut out = HashSet::new();
    walk(body, &mut |s| {
        if let Stmt::Let(_, Op::Load { buf, .. }) = s {
            out.insert(*buf);
        }
    });
    out
}

/// One round of removal; true when something went.
fn sweep(body: &mut Vec<Stmt>, used: &HashSet<Value>, unread: &HashSet<Buf>) -> bool {
    let before = body.len();
    let mut changed = false;
    body.retain_mut(|s| {
        if let Some(inner) = body_mut(s) {
            changed |= sweep(inner, used, unread);
        }
        match s {
            Stmt::Let(v, _) => used.contains(v),
            Stmt::Reduce { result, .. } => used.contains(result),
            Stmt::Store { buf, .. } => !unread.contains(buf),
            Stmt::Loop { body, .. } => !body.is_empty(),
            Stmt::Steps { .. } => true,
        }
    });
    changed || body.len() != before
}

/// Drops the scratch buffers no statement names, renumbering the others.
fn compact(kernel: &mut Kernel) {
    let mut named = loaded(&kernel.body);
    walk(&kernel.body, &mut |s| {
        if let Stmt::Store { buf, .. } = s {
            named.insert(*buf);
        }
    });
    let mut buffers = PrimaryMap::new();
    let mut renumber = vec![None; kernel.buffers.len()];
    for (b, buf) in kernel.buffers.iter() {
        if buf.slot.is_some() || named.contains(&b) {
            renumber[b.index()] = Some(buffers.push(buf.clone()));
        }
    }
    if buffers.len() == kernel.buffers.len() {
        return;
    }
    kernel.buffers = buffers;
    rename(&mut kernel.body, &|b| renumber[b.index()].expect("a buffer a statement names is kept"), false);
}

/// Renames the buffers of loads (`loads_only`) or of loads and stores.
fn rename(body: &mut [Stmt], to: &impl Fn(Buf) -> Buf, loads_only: bool) {
    for s in body {
        match s {
            Stmt::Let(_, Op::Load { buf, .. }) => *buf = to(*buf),
            Stmt::Store { buf, .. } if !loads_only => *buf = to(*buf),
            _ => {}
        }
        if let Some(inner) = body_mut(s) {
            rename(inner, to, loads_only);
        }
    }
}

/// The scratch buffers that are twins of another, and that other.
fn twins(kernel: &Kernel) -> HashMap<Buf, Buf> {
    // For every scratch buffer: how many stores it has, and the buffers stored beside every
    // one of them (in the same straight-line run, at the same index, with the same value, as
    // many times in that run).
    let mut count: HashMap<Buf, usize> = HashMap::new();
    let mut beside: HashMap<Buf, HashSet<Buf>> = HashMap::new();
    let scratch = |b: Buf| kernel.buffers[b].slot.is_none();
    let mut runs: Vec<Vec<StoreAt>> = Vec::new();
    collect_runs(&kernel.body, &mut runs);
    for run in &runs {
        for &(buf, index, value, add, loaded) in run {
            *count.entry(buf).or_default() += 1;
            let same = |b: Buf| run.iter().filter(|s| s.0 == b).count();
            let partners: HashSet<Buf> = run
                .iter()
                .filter(|&&(b, i, v, a, l)| {
                    b != buf && i == index && v == value && !(a || add || l || loaded)
                })
                .map(|s| s.0)
                .filter(|&b| scratch(b) && same(b) == same(buf))
                .collect();
            match beside.get_mut(&buf) {
                Some(p) => p.retain(|b| partners.contains(b)),
                None => {
                    beside.insert(buf, partners);
                }
            }
        }
    }
    let mut twins = HashMap::new();
    let mut bufs: Vec<Buf> = beside.keys().copied().filter(|&b| scratch(b)).collect();
    bufs.sort();
    for y in bufs {
        let partner = beside[&y]
            .iter()
            .copied()
            .filter(|x| *x < y && count[x] == count[&y] && beside[x].contains(&y) && !twins.contains_key(x))
            .min();
        if let Some(x) = partner {
            twins.insert(y, x);
        }
    }
    twins
}

/// A store: buffer, index, value, whether it adds, and whether its run also loads the buffer
/// (which could then see one store and not its twin's).
type StoreAt<'a> = (Buf, &'a [Index], Value, bool, bool);

/// The stores of every straight-line run of a block (`let`s and stores between two loops).
fn collect_runs<'a>(body: &'a [Stmt], runs: &mut Vec<Vec<StoreAt<'a>>>) {
    let mut run = Vec::new();
    let mut loads = HashSet::new();
    for s in body {
        match s {
            Stmt::Store { buf, index, value, add } => run.push((*buf, index.as_slice(), *value, *add, false)),
            Stmt::Let(_, Op::Load { buf, .. }) => {
                loads.insert(*buf);
            }
            Stmt::Let(..) => {}
            _ => {
                end_run(&mut run, &mut loads, runs);
                if let Some(inner) = super::body(s) {
                    collect_runs(inner, runs);
                }
            }
        }
    }
    end_run(&mut run, &mut loads, runs);
}

fn end_run<'a>(run: &mut Vec<StoreAt<'a>>, loads: &mut HashSet<Buf>, runs: &mut Vec<Vec<StoreAt<'a>>>) {
    for s in run.iter_mut() {
        s.4 = loads.contains(&s.0);
    }
    if !run.is_empty() {
        runs.push(std::mem::take(run));
    }
    loads.clear();
}
