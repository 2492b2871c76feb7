//! hsc's Cranelift kernels against the same model written by hand in plain Rust (opt-level 3)
//! and against the interpreter: NonlinHRU at P = 64, N = 16, batch 16, f32, dt = 0.1 (the
//! example's), T = 1000 (and 10 000 with `HSC_BENCH_LONG=1`), one thread then two.
//!
//! `cargo bench -p hsc --bench cpu`. Prints the median ns per (sequence · step · P) of the
//! forward pass and of the RHEL gradient, and the ratios. The hand-written RHEL computes no
//! input gradient; hsc's does (dL/du for every step), so its figure includes that work.

#[path = "baseline/nonlin_hru.rs"]
#[allow(dead_code)]
mod baseline;

use std::time::Instant;

use hsc::kernel::Precision;
use hsc_runtime::{Batch, Echo, Model, Params};

const BATCH: usize = 16;

fn median(mut f: impl FnMut(), runs: usize) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

struct HandWritten {
    dims: baseline::Dims,
    params: baseline::Params<f32>,
    dt: f32,
    u: Vec<Vec<f32>>,
    cot: Vec<Vec<f32>>,
}

impl HandWritten {
    fn new(model: &Model, params: &Params, batch: &Batch) -> HandWritten {
        let spec = model.spec();
        let get =
            |name: &str| -> Vec<f32> { params.get(spec, name).unwrap().iter().map(|&x| x as f32).collect() };
        let (p, n) = (spec.pairs[0].position.len(), spec.inputs[0].len());
        let t = batch.steps;
        let split = |data: &[f64], width: usize| -> Vec<Vec<f32>> {
            data.chunks(t * width).map(|c| c.iter().map(|&x| x as f32).collect()).collect()
        };
        let dt = match spec.step {
            hsc_runtime::Step::Fixed(h) => h as f32,
            _ => unreachable!("NonlinHRU has a fixed step"),
        };
        HandWritten {
            dims: baseline::Dims { p, n },
            params: baseline::Params {
                w: get("W"),
                b: get("b"),
                c: get("c"),
                alpha: get("alpha")[0],
                bmat: get("B"),
            },
            dt,
            u: split(&batch.inputs[0], n),
            cot: split(&batch.cotangents[0], p),
        }
    }

    fn forward(&self) -> f32 {
        let mut loss = 0.0;
        for (u, cot) in self.u.iter().zip(&self.cot) {
            let (mut q, mut p) = (vec![0.0; self.dims.p], vec![0.0; self.dims.p]);
            loss += baseline::forward(&self.dims, &self.params, self.dt, u, cot, &mut q, &mut p);
        }
        loss
    }

    fn rhel(&self) -> f32 {
        let mut total = 0.0;
        for (u, cot) in self.u.iter().zip(&self.cot) {
            let (mut q, mut p) = (vec![0.0; self.dims.p], vec![0.0; self.dims.p]);
            baseline::forward(&self.dims, &self.params, self.dt, u, cot, &mut q, &mut p);
            let g = baseline::rhel(&self.dims, &self.params, self.dt, 1e-3, u, cot, &q, &p);
            total += g.w[0];
        }
        total
    }
}

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/nonlin_hru.ham");
    let jit = hsc::jit(path, &[], Precision::F32).unwrap_or_else(|e| panic!("{e}"));
    let compiled = hsc::load(std::path::Path::new(path), &[]).unwrap();
    let interp = compiled.interpreted(Precision::F32);
    let long = std::env::var_os("HSC_BENCH_LONG").is_some();
    println!("NonlinHRU, P = 64, N = 16, batch {BATCH}, f32; median ns per (sequence · step · P)");
    println!(
        "{:>6} {:>7} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11} {:>9}",
        "T",
        "threads",
        "fwd hsc",
        "fwd hand",
        "fwd interp",
        "rhel hsc",
        "rhel hand",
        "rhel interp",
        "rhel/fwd"
    );
    for steps in if long { vec![1000, 10_000] } else { vec![1000] } {
        let (params, batch) = hsc::bench::batch(&jit, steps, BATCH, 0);
        let hand = HandWritten::new(&jit, &params, &batch);
        // The interpreter on 2 sequences of 100 steps: the same figure per element.
        let (iparams, ibatch) = hsc::bench::batch(&interp, 100, 2, 0);
        let per = |secs: f64, seqs: usize, t: usize| secs * 1e9 / (seqs * t * 64) as f64;
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let runs = if steps > 1000 { 3 } else { 7 };
            let fwd = median(|| drop(pool.install(|| jit.forward(&params, &batch).unwrap())), runs);
            let rhel = median(
                || drop(pool.install(|| jit.rhel_grad(&params, &batch, Echo::Central(1e-3)).unwrap())),
                runs,
            );
            let (hand_fwd, hand_rhel) = if threads == 1 {
                (
                    per(
                        median(
                            || {
                                std::hint::black_box(hand.forward());
                            },
                            runs,
                        ),
                        BATCH,
                        steps,
                    ),
                    per(
                        median(
                            || {
                                std::hint::black_box(hand.rhel());
                            },
                            runs,
                        ),
                        BATCH,
                        steps,
                    ),
                )
            } else {
                (f64::NAN, f64::NAN)
            };
            let ifwd = per(median(|| drop(interp.forward(&iparams, &ibatch).unwrap()), 3), 2, 100);
            let irhel = per(
                median(|| drop(interp.rhel_grad(&iparams, &ibatch, Echo::Central(1e-3)).unwrap()), 3),
                2,
                100,
            );
            println!(
                "{:>6} {:>7} {:>11.2} {:>11.2} {:>11.1} {:>11.2} {:>11.2} {:>11.1} {:>9.2}",
                steps,
                threads,
                per(fwd, BATCH, steps),
                hand_fwd,
                ifwd,
                per(rhel, BATCH, steps),
                hand_rhel,
                irhel,
                rhel / fwd
            );
        }
    }
    println!("hand: the same model written by hand in plain Rust (no input gradient in its RHEL).");
}
