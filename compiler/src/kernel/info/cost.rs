//! The work of one step of a kernel, counted from the kernel IR, for the roofline figures of
//! `hsc bench`: floating-point operations, calls of the language's functions, and the numbers
//! a step must move to or from memory at the least (its rows of the arrays with a time axis;
//! everything else stays in shared memory or in cache from one step to the next).

use crate::kernel::walk::memory;
use crate::kernel::{Buf, Kernel, Op, Stmt};

/// The work of one step of one sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Additions, subtractions, multiplications, divisions, negations, selects, and the
    /// operations of an integer power (`x^2`: one; `x^-1`: one division; `x^5`: three).
    pub flops: f64,
    /// Calls of `exp`, `tanh`, `logcosh`, ... (each tens of operations on a GPU).
    pub calls: f64,
    /// Numbers in the step's rows of the time-axis arrays, read or written (times the size of
    /// a number: bytes).
    pub numbers: f64,
}

/// The work of one step of `kernel` (its time loop's body).
pub fn per_step(kernel: &Kernel) -> Cost {
    let mut cost = Cost::default();
    if let Some(body) = steps_body(&kernel.body) {
        count(body, 1.0, &mut cost);
        let m = memory(body);
        let touched = |b: Buf| m.reads.contains(&b) || m.writes.contains(&b);
        let rows: usize = kernel
            .buffers
            .iter()
            .filter(|&(b, buf)| buf.time.is_some() && touched(b))
            .map(|(_, buf)| buf.row_len())
            .sum();
        cost.numbers = rows as f64;
    }
    cost
}

fn steps_body(body: &[Stmt]) -> Option<&[Stmt]> {
    body.iter().find_map(|s| match s {
        Stmt::Steps { body, .. } => Some(&body[..]),
        _ => None,
    })
}

fn count(body: &[Stmt], times: f64, cost: &mut Cost) {
    for s in body {
        match s {
            Stmt::Let(_, op) => match op {
                Op::Neg(_) | Op::Binary(..) | Op::Select { .. } => cost.flops += times,
                Op::Powi(_, n) => cost.flops += times * f64::from(powi_ops(*n)),
                Op::Call(..) => cost.calls += times,
                Op::Const(_) | Op::Eps(_) | Op::Load { .. } => {}
            },
            Stmt::Loop { lo, hi, body, .. } => count(body, times * (hi - lo) as f64, cost),
            Stmt::Reduce { lo, hi, body, .. } => {
                let n = (hi - lo) as f64;
                count(body, times * n, cost);
                cost.flops += times * n;
            }
            Stmt::Steps { body, .. } => count(body, times, cost),
            Stmt::Store { add, .. } => cost.flops += if *add { times } else { 0.0 },
        }
    }
}

/// The operations of `x^n` by repeated squaring (at least one), and a division for a
/// negative power.
fn powi_ops(n: i32) -> u32 {
    let m = n.unsigned_abs().max(1);
    (m.ilog2() + m.count_ones() - 1 + u32::from(n < 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::{per_step, powi_ops};

    #[test]
    fn integer_powers_cost_their_squarings_and_multiplications() {
        for (n, ops) in [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (8, 3), (-1, 1), (-2, 2), (i32::MIN, 32)] {
            assert_eq!(powi_ops(n), ops, "x^{n}");
        }
    }
    use hsc_runtime::Pass;

    /// NonlinHRU's forward step, counted by hand from its kernel (`hsc emit --stage kernels`):
    /// the drive `sum_j B[k, j] u[j]` (2 N flops per k), two kicks of 8 flops and a tanh
    /// per k, a drift of 2 flops per k, and the cotangent loss `sum_i g[i] q[i]` (2 per i);
    /// it moves one row of u (N) and one of the cotangents (P).
    #[test]
    fn nonlin_hru_forward_step() {
        let c = crate::load(std::path::Path::new("../examples/nonlin_hru.ham"), &[]).unwrap();
        let (p, n) = (64.0, 16.0);
        let cost = per_step(c.module.kernel(Pass::Forward));
        assert_eq!(cost.flops, p * 2.0 * n + 2.0 * p * 8.0 + p * 2.0 + p * 2.0 + 1.0);
        assert_eq!(cost.calls, 2.0 * p);
        assert_eq!(cost.numbers, n + p);
    }
}
