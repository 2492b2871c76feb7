//! The work of one step of a kernel, counted from the kernel IR, for the roofline figures of
//! `hsc bench`: floating-point operations, calls of the language's functions, and the bytes
//! a step must move to or from device memory at the least (its rows of the arrays with a time
//! axis; everything else stays in shared memory or in cache from one step to the next); and
//! the peaks a GPU can reach ([`Limits`]), to set them beside.

use crate::kernel::{Kernel, Op, Stmt};

/// What a GPU can do at most, from its attributes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Floating-point operations per second in f32 (an FMA counts two).
    pub f32_flops: f64,
    /// The same in f64.
    pub f64_flops: f64,
    /// Bytes per second to and from device memory.
    pub bandwidth: f64,
}

impl Limits {
    /// From the multiprocessor count, the clocks (kHz), the memory bus width (bits) and the
    /// compute capability (the FP32 and FP64 lanes per multiprocessor of the CUDA
    /// programming guide's throughput table); `None` for an unknown architecture.
    pub fn new(
        sms: i32,
        clock_khz: i32,
        mem_clock_khz: i32,
        bus_bits: i32,
        cc: (i32, i32),
    ) -> Option<Limits> {
        let (fp32, fp64) = match cc {
            (7, 0) | (8, 0) => (64.0, 32.0),
            (7, _) => (64.0, 2.0),
            (8, _) | (12, _) => (128.0, 2.0),
            (9, 0) | (10, _) => (128.0, 64.0),
            _ => return None,
        };
        if sms <= 0 || clock_khz <= 0 || mem_clock_khz <= 0 || bus_bits <= 0 {
            return None;
        }
        let lanes = |l: f64| f64::from(sms) * l * 2.0 * f64::from(clock_khz) * 1e3;
        Some(Limits {
            f32_flops: lanes(fp32),
            f64_flops: lanes(fp64),
            // Double data rate: two transfers per memory clock.
            bandwidth: 2.0 * f64::from(mem_clock_khz) * 1e3 * f64::from(bus_bits) / 8.0,
        })
    }
}

/// The work of one step of one sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cost {
    /// Additions, subtractions, multiplications, divisions, negations, selects, and the
    /// operations of an integer power (`x^2`: one; `x^-1`: one division; `x^5`: three).
    pub flops: f64,
    /// Calls of `exp`, `tanh`, `logcosh`, ... (each tens of operations on a GPU).
    pub calls: f64,
    /// Bytes of the step's rows of the time-axis arrays, read or written.
    pub bytes: f64,
}

/// The work of one step of `kernel` (its time loop's body), with `size` bytes per number.
pub fn per_step(kernel: &Kernel, size: usize) -> Cost {
    let mut cost = Cost::default();
    if let Some(body) = steps_body(&kernel.body) {
        count(body, 1.0, &mut cost);
        let rows: usize = kernel
            .buffers
            .iter()
            .filter(|(b, buf)| buf.time.is_some() && touches(body, *b))
            .map(|(_, buf)| buf.row_len())
            .sum();
        cost.bytes = (rows * size) as f64;
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

fn touches(body: &[Stmt], b: crate::kernel::Buf) -> bool {
    body.iter().any(|s| {
        let (reads, writes) = super::schedule::access(s);
        reads.contains(&b) || writes.contains(&b)
    })
}

#[cfg(test)]
mod tests {
    use super::{Limits, per_step, powi_ops};

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
        let cost = per_step(c.module.kernel(Pass::Forward), 4);
        assert_eq!(cost.flops, p * 2.0 * n + 2.0 * p * 8.0 + p * 2.0 + p * 2.0 + 1.0);
        assert_eq!(cost.calls, 2.0 * p);
        assert_eq!(cost.bytes, (n + p) * 4.0);
    }

    /// An H100 SXM's attributes (132 SMs, 1980 MHz, 2619 MHz HBM3 on a 5120-bit bus) give its
    /// datasheet figures: 67 TFLOP/s f32, 33.5 f64, 3.35 TB/s.
    #[test]
    fn h100_limits_are_the_datasheets() {
        let l = Limits::new(132, 1_980_000, 2_619_000, 5120, (9, 0)).unwrap();
        assert!((l.f32_flops / 1e12 - 66.9).abs() < 0.1, "{}", l.f32_flops);
        assert!((l.f64_flops / 1e12 - 33.5).abs() < 0.1, "{}", l.f64_flops);
        assert!((l.bandwidth / 1e12 - 3.35).abs() < 0.01, "{}", l.bandwidth);
        assert_eq!(Limits::new(132, 0, 2_619_000, 5120, (9, 0)), None);
        assert_eq!(Limits::new(132, 1_980_000, 2_619_000, 5120, (42, 0)), None);
    }
}
