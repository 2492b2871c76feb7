//! The CPU's question about a loop: may it run over vectors of lanes (the Cranelift
//! translator: 4 × f32 or 2 × f64, with a scalar tail; the optimizer fuses two loops only
//! where that does not change)? A loop whose consecutive iterations read and write
//! consecutive elements and never see each other's results ([`super::independent`], the one
//! independence test). Lane `j` then does exactly what iteration `k + j` would, so the
//! results are the same bits as the scalar loop's (the math functions' vector forms give the
//! scalar forms' bits; `tests/math_ulp.rs` checks it). A sum inside such a loop runs in each
//! lane as the scalar loop runs it. A sum in a scalar loop whose summand passes the same test
//! runs lane-wise over its own index, with one partial sum per lane added up at the end: the
//! same terms, added in another order.

use super::independent;
use crate::kernel::walk::accesses;
use crate::kernel::{Cond, Index, LoopVar, Op, Stmt};

/// A sum of at most this many terms inside a lane-wise loop is unrolled by the Cranelift
/// translator (constant indices, no loop counter).
pub const UNROLL: i64 = 16;

/// Whether the loop over `var` with this body can run lane-wise:
/// - a straight-line body, or one holding sums of at most [`UNROLL`] straight-line summands
///   (each lane then adds its own terms in the scalar loop's order, so a lane-wise sum gives
///   the same bits; a longer sum, not unrolled, costs more per term than the horizontal
///   partial sums of a scalar loop); no inner loop;
/// - every access indexed by `var` is contiguous in it: `var` (plus a constant) on the last
///   axis only, without wrap-around or clamping;
/// - every store is indexed by `var` (none inside a sum), and a buffer the loop writes is
///   read only at the element being written (so no iteration reads what another wrote);
/// - guards do not depend on `var`.
///
/// (Powers in f32 are computed lane by lane in f64 where f32 arithmetic would not give the
/// scalar path's bits, so they do not stop a loop.)
pub fn vectorizable(var: LoopVar, body: &[Stmt]) -> bool {
    shaped(var, body, false) && independent(var, i64::MAX, &accesses(body))
}

/// Whether the statements of a loop over `var` (`in_sum`: of a summand in it) have the shape
/// a lane-wise loop needs: straight-line code and short sums, contiguous accesses, stores
/// indexed by `var` and outside sums, guards that do not depend on `var`.
fn shaped(var: LoopVar, body: &[Stmt], in_sum: bool) -> bool {
    body.iter().all(|s| match s {
        Stmt::Let(_, Op::Load { index, .. }) => contiguous(index, var),
        Stmt::Let(_, Op::Select { conds, .. }) => !conds.iter().any(|c| uses(c, var)),
        Stmt::Let(..) => true,
        Stmt::Store { index, .. } => {
            !in_sum && index.iter().any(|i| i.var == Some(var)) && contiguous(index, var)
        }
        Stmt::Reduce { body, lo, hi, .. } if !in_sum && hi - lo <= UNROLL => shaped(var, body, true),
        Stmt::Loop { .. } | Stmt::Steps { .. } | Stmt::Reduce { .. } => false,
    })
}

/// `var` appears only as `var + c` on the last axis.
fn contiguous(index: &[Index], var: LoopVar) -> bool {
    let last = index.len().saturating_sub(1);
    index.iter().enumerate().all(|(axis, i)| {
        i.var != Some(var) || (axis == last && i.inner == 0 && i.wrap.is_none() && i.clamp.is_none())
    })
}

fn uses(c: &Cond, var: LoopVar) -> bool {
    match c {
        Cond::Range { index, .. } => index.var == Some(var),
        Cond::Equal(a, b) => a.var == Some(var) || b.var == Some(var),
    }
}

#[cfg(test)]
mod tests {
    use hsc_runtime::Pass;

    use super::vectorizable;
    use crate::kernel::Stmt;

    /// How many loops of a pass's kernel run lane-wise, and how many do not.
    fn count(example: &str, pass: Pass) -> (usize, usize) {
        let path = format!("{}/../examples/{example}.ham", env!("CARGO_MANIFEST_DIR"));
        let compiled = crate::load(std::path::Path::new(&path), &[]).expect("the example compiles");
        let mut stack: Vec<&Stmt> = compiled.module.kernel(pass).body.iter().collect();
        let (mut yes, mut no) = (0, 0);
        while let Some(s) = stack.pop() {
            match s {
                Stmt::Loop { var, body, .. } => {
                    if vectorizable(*var, body) {
                        yes += 1;
                    } else {
                        no += 1;
                    }
                    stack.extend(body);
                }
                Stmt::Steps { body, .. } | Stmt::Reduce { body, .. } => stack.extend(body),
                _ => {}
            }
        }
        (yes, no)
    }

    #[test]
    fn the_kicks_drifts_and_drive_of_nonlin_hru_run_lane_wise() {
        // sigmoid(c), the drive (a sum per lane, over B transposed), two kicks and a drift;
        // the nest that transposes B once per kernel does not.
        let (yes, no) = count("nonlin_hru", Pass::Forward);
        assert_eq!((yes, no), (5, 2));
    }

    #[test]
    fn neighbour_reads_through_a_boundary_guard_stay_scalar() {
        // The FPUT chain's kicks read q[k - 1] and q[k + 1], clamped at the ends.
        let (yes, no) = count("fput_chain", Pass::Forward);
        assert!(no >= 2, "{yes} lane-wise, {no} scalar");
        assert!(yes >= 1, "the drift runs lane-wise");
    }
}
