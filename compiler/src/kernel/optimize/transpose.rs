//! Transposed copies of read-only matrices, so that a loop can run lane-wise. The drive of a
//! layer, `for k { d = sum over j of u[j] * B[k, j]; .. }`, reads `B` along `j`, so
//! consecutive `k` read elements a row apart and the loop ran one `k` at a time (each `k`'s sum
//! split into partial sums over `j`). Reading `Bt[j, k]`, a copy of `B` transposed once per
//! kernel before anything else, the same loop runs four `k` at a time, each lane adding its
//! own terms in the original order: the same bits, and no horizontal additions.
//!
//! Only for a two-axis buffer without a time axis that the kernel never writes (a param),
//! read inside a sum over `j` in a loop over `k` at `[k + a, j + b]`, and only where the
//! loop then runs lane-wise ([`lanes::vectorizable`]) while it did not before.

use std::collections::HashMap;

use super::{fresh_value, memory};
use crate::kernel::info::lanes;
use crate::kernel::{Buf, Buffer, Index, Kernel, LoopVar, Op, Stmt};

/// Reads a transposed copy wherever that lets a loop of `kernel` run lane-wise.
pub fn transpose(kernel: &mut Kernel) {
    let written = memory(&kernel.body).writes;
    let candidates: Vec<Buf> = kernel
        .buffers
        .iter()
        .filter(|(buf, b)| b.time.is_none() && b.shape.len() == 2 && !written.contains(buf))
        .map(|(buf, _)| buf)
        .collect();
    if candidates.is_empty() {
        return;
    }
    let mut copies: HashMap<Buf, Buf> = HashMap::new();
    let mut body = std::mem::take(&mut kernel.body);
    visit(kernel, &mut body, &candidates, &mut copies);
    let mut fills: Vec<Stmt> = Vec::new();
    let mut order: Vec<(Buf, Buf)> = copies.into_iter().collect();
    order.sort();
    for (source, copy) in order {
        fills.push(fill(kernel, source, copy));
    }
    fills.append(&mut body);
    kernel.body = fills;
}

/// Tries every loop in `stmts`, inner ones first.
fn visit(kernel: &mut Kernel, stmts: &mut [Stmt], candidates: &[Buf], copies: &mut HashMap<Buf, Buf>) {
    for s in stmts.iter_mut() {
        if let Some(inner) = super::body_mut(s) {
            visit(kernel, inner, candidates, copies);
        }
        let Stmt::Loop { var, body, .. } = s else { continue };
        if lanes::vectorizable(*var, body) {
            continue;
        }
        // A trial with the indices swapped (the buffers do not matter to the test).
        let mut trial = body.clone();
        let mut wanted: Vec<Buf> = Vec::new();
        rewrite(&mut trial, *var, candidates, &mut |buf| {
            wanted.push(buf);
            buf
        });
        if wanted.is_empty() || !lanes::vectorizable(*var, &trial) {
            continue;
        }
        rewrite(body, *var, candidates, &mut |buf| {
            *copies.entry(buf).or_insert_with(|| {
                let b = &kernel.buffers[buf];
                let copy = Buffer {
                    name: format!("{}_t", b.name),
                    slot: None,
                    time: None,
                    shape: vec![b.shape[1], b.shape[0]],
                };
                kernel.buffers.push(copy)
            })
        });
    }
}

/// Every load of a candidate at `[k + a, j + b]` in a sum over `j` at the top of the loop
/// over `k` becomes a load of `copy(buffer)` at `[j + b, k + a]`.
fn rewrite(stmts: &mut [Stmt], k: LoopVar, candidates: &[Buf], copy: &mut impl FnMut(Buf) -> Buf) {
    for s in stmts {
        let Stmt::Reduce { var: j, body, .. } = s else { continue };
        for u in body {
            if let Stmt::Let(_, Op::Load { buf, index }) = u
                && candidates.contains(buf)
                && across(index, k, *j)
            {
                index.swap(0, 1);
                *buf = copy(*buf);
            }
        }
    }
}

/// Whether `index` is `[k + a, j + b]`: `k` alone on the first axis and `j` on the second.
fn across(index: &[Index], k: LoopVar, j: LoopVar) -> bool {
    let plain = |i: &Index, v: LoopVar| i.var == Some(v) && i.wrap.is_none() && i.clamp.is_none();
    index.len() == 2 && plain(&index[0], k) && plain(&index[1], j) && index[0].inner == 0
}

/// `for a { for b { copy[a, b] = source[b, a] } }`, run once at the start of the kernel.
fn fill(kernel: &mut Kernel, source: Buf, copy: Buf) -> Stmt {
    let shape = kernel.buffers[copy].shape.clone();
    let a = kernel.vars.push("a".into());
    let b = kernel.vars.push("b".into());
    let v = fresh_value(kernel);
    let inner = Stmt::Loop {
        var: b,
        lo: 0,
        hi: shape[1] as i64,
        body: vec![
            Stmt::Let(v, Op::Load { buf: source, index: vec![Index::var(b, 0), Index::var(a, 0)] }),
            Stmt::Store { buf: copy, index: vec![Index::var(a, 0), Index::var(b, 0)], value: v, add: false },
        ],
    };
    Stmt::Loop { var: a, lo: 0, hi: shape[0] as i64, body: vec![inner] }
}

#[cfg(test)]
mod tests {
    use hsc_runtime::Pass;

    use crate::kernel::Stmt;
    use crate::kernel::info::lanes;

    #[test]
    fn the_drive_of_nonlin_hru_reads_b_transposed_and_runs_lane_wise() {
        let path = format!("{}/../examples/nonlin_hru.ham", env!("CARGO_MANIFEST_DIR"));
        let compiled = crate::load(std::path::Path::new(&path), &[]).expect("the example compiles");
        let kernel = compiled.module.kernel(Pass::Forward);
        let text = kernel.to_string();
        assert!(text.contains("B_t[16, 64]: scratch"), "{text}");
        // The time loop's loops: the drive, two kicks and a drift, all lane-wise.
        let steps = kernel.body.iter().find_map(|s| match s {
            Stmt::Steps { body, .. } => Some(body),
            _ => None,
        });
        let loops: Vec<bool> = steps
            .expect("a time loop")
            .iter()
            .filter_map(|s| match s {
                Stmt::Loop { var, body, .. } => Some(lanes::vectorizable(*var, body)),
                _ => None,
            })
            .collect();
        assert_eq!(loops, [true, true, true, true], "{text}");
    }
}
