//! `hsc bench`: the time and memory of each pass on each backend, on a batch drawn from a
//! seed, with the interpreter as the baseline measured in the same run.
//!
//! A time is the median of several runs of the whole call (a batch of sequences through
//! [`hsc_runtime::Model`]), reported per sequence, per step and per state element (the
//! positions of every pair: `P` for NonlinHRU), and as sequence-steps per second. The
//! interpreter is slow, so it runs a shorter, smaller batch; per-element figures compare
//! all the same.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use hsc_runtime::{Batch, Echo, Model, Params, RunError};

use crate::gradcheck::draw;
use crate::kernel::Precision;
use crate::{Backend, Compiled};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Options {
    /// Steps per sequence.
    pub steps: usize,
    /// Sequences per batch.
    pub batch: usize,
    /// Worker threads (the batch is split across them).
    pub threads: usize,
    /// Arithmetic.
    pub precision: Precision,
    /// The backends, the baseline last.
    pub backends: Vec<Backend>,
    /// Least time spent on one measurement (at least 3 runs are made).
    pub min_time: Duration,
    /// Seed of the draws.
    pub seed: u64,
    /// The passes to measure (a subset of [`PASSES`]).
    pub passes: Vec<&'static str>,
}

/// The passes measured.
pub const PASSES: [&str; 4] = ["forward", "rhel", "tangent", "bptt"];

/// Peak memory, from the program's allocator.
pub trait MemoryProbe {
    /// Bytes allocated now.
    fn current(&self) -> usize;
    /// Starts a new peak at the current allocation.
    fn reset_peak(&self);
    /// Highest allocation since the last reset.
    fn peak(&self) -> usize;
}

/// One measurement.
#[derive(Clone, Debug)]
pub struct Row {
    /// Which pass.
    pub pass: &'static str,
    /// Which backend.
    pub backend: Backend,
    /// Steps per sequence.
    pub steps: usize,
    /// Sequences.
    pub batch: usize,
    /// Runs made.
    pub runs: usize,
    /// Median seconds per run.
    pub seconds: f64,
    /// Median nanoseconds per sequence, per step, per state element.
    pub ns_per_element: f64,
    /// Sequence-steps per second.
    pub steps_per_second: f64,
    /// Most memory allocated during a run beyond what was allocated before it.
    pub peak_bytes: Option<usize>,
    /// On a GPU: median seconds of a run spent in kernels (the rest is copies and the
    /// conversion of the batch on the host).
    pub kernel_seconds: Option<f64>,
    /// On a GPU: the rates the kernels achieved, beside the device's peaks.
    pub roofline: Option<Roofline>,
}

/// What the kernels of a pass achieved on a GPU: the work counted from the kernel IR
/// ([`crate::backend::cuda::cost`]) over the time spent in them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Roofline {
    /// Floating-point operations per second (function calls not counted).
    pub flops: f64,
    /// Calls of the language's functions per second.
    pub calls: f64,
    /// Bytes per second of the time-axis rows each step must move.
    pub bandwidth: f64,
    /// The device's peak operations per second in this precision, where known.
    pub peak_flops: Option<f64>,
    /// The device's peak bytes per second, where known.
    pub peak_bandwidth: Option<f64>,
}

/// The roofline figures of `pass` run in `seconds` of kernel time over `work` sequence-steps.
fn roofline(
    compiled: &Compiled,
    pass: &str,
    precision: Precision,
    seconds: f64,
    work: f64,
    limits: Option<crate::backend::cuda::limits::Limits>,
) -> Roofline {
    use hsc_runtime::Pass;
    let kernels: &[Pass] = match pass {
        "forward" => &[Pass::Forward],
        "rhel" => &[Pass::ForwardGrad, Pass::Echo],
        "tangent" => &[Pass::ForwardGrad, Pass::Tangent],
        _ => &[Pass::ForwardRecord, Pass::Bptt],
    };
    let mut cost = crate::kernel::info::cost::Cost::default();
    for &k in kernels {
        let c = compiled.module.info(k).step;
        cost.flops += c.flops;
        cost.calls += c.calls;
        cost.numbers += c.numbers;
    }
    let rate = |x: f64| x * work / seconds;
    Roofline {
        flops: rate(cost.flops),
        calls: rate(cost.calls),
        bandwidth: rate(cost.numbers * precision.size() as f64),
        peak_flops: limits.map(|l| if precision == Precision::F32 { l.f32_flops } else { l.f64_flops }),
        peak_bandwidth: limits.map(|l| l.bandwidth),
    }
}

/// What was measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// State elements per sequence used to normalise (the positions of every pair).
    pub state_elements: usize,
    /// Bytes of the batch's inputs (f64).
    pub input_bytes: usize,
    /// Every measurement.
    pub rows: Vec<Row>,
}

impl Report {
    /// The measurement of `pass` on `backend`.
    pub fn row(&self, pass: &str, backend: Backend) -> Option<&Row> {
        self.rows.iter().find(|r| r.pass == pass && r.backend == backend)
    }
}

/// A batch of `size` sequences, each drawn as gradcheck draws one (sequence `b` from seed
/// `seed + b`), with the params from `seed`.
pub fn batch(model: &Model, steps: usize, size: usize, seed: u64) -> (Params, Batch<'static>) {
    let first = draw(model, steps, seed);
    let mut batch = Batch { size, ..first.batch.clone() };
    for b in 1..size {
        let more = draw(model, steps, seed.wrapping_add(b as u64)).batch;
        let join = |mine: &mut Vec<Cow<'static, [f64]>>, theirs: Vec<Cow<'static, [f64]>>| {
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.to_mut().extend_from_slice(&t);
            }
        };
        join(&mut batch.inputs, more.inputs);
        join(&mut batch.targets, more.targets);
        join(&mut batch.cotangents, more.cotangents);
        if let (Some(mine), Some(theirs)) = (&mut batch.initial, more.initial) {
            join(mine, theirs);
        }
    }
    (first.params, batch)
}

/// Measures every pass on every backend.
pub fn run(
    compiled: &Compiled,
    opts: &Options,
    memory: Option<&dyn MemoryProbe>,
    mut progress: impl FnMut(&str),
) -> Result<Report, RunError> {
    let spec = &compiled.module.spec;
    let state_elements: usize = spec.pairs.iter().map(|p| p.position.len()).sum();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| RunError::Invalid(format!("cannot start {} threads: {e}", opts.threads)))?;
    let mut rows = Vec::new();
    let mut input_bytes = 0;
    for &backend in &opts.backends {
        let (model, gpu) = match backend {
            Backend::Cuda => {
                let (model, engine) = crate::backend::cuda::gpu_engine(&compiled.module, opts.precision)
                    .map_err(|e| RunError::Invalid(e.diagnostic(backend).message))?;
                (model, Some(engine))
            }
            _ => (crate::gradcheck::build(compiled, backend, opts.precision)?, None),
        };
        // The interpreter runs about a thousand times slower: a smaller problem, same figures.
        let (steps, size) = match backend {
            Backend::Interp => (opts.steps.min(100), opts.batch.min(opts.threads.max(1))),
            Backend::C | Backend::Cranelift | Backend::Cuda => (opts.steps, opts.batch),
        };
        let (params, batch) = batch(&model, steps, size, opts.seed);
        if backend == opts.backends[0] {
            input_bytes = batch.inputs.iter().map(|u| u.len() * 8).sum();
        }
        for &pass in &opts.passes {
            progress(&format!("{pass} on {}: {size} × {steps} steps", backend.name()));
            let call = || -> Result<(), RunError> {
                match pass {
                    "forward" => model.forward(&params, &batch).map(drop),
                    "rhel" => model.rhel_grad(&params, &batch, Echo::Central(1e-3)).map(drop),
                    "tangent" => model.tangent_grad(&params, &batch).map(drop),
                    _ => model.bptt_grad(&params, &batch).map(drop),
                }
            };
            let mut times = Vec::new();
            let mut kernel_times = Vec::new();
            let mut peak = None;
            let started = Instant::now();
            while times.len() < 3 || (started.elapsed() < opts.min_time && times.len() < 1000) {
                let before = memory.map(|m| {
                    m.reset_peak();
                    m.current()
                });
                let t = Instant::now();
                let in_kernels = gpu.as_ref().map(|g| g.kernel_time());
                pool.install(call)?;
                times.push(t.elapsed().as_secs_f64());
                if let (Some(g), Some(before)) = (&gpu, in_kernels) {
                    kernel_times.push((g.kernel_time() - before).as_secs_f64());
                }
                if let (Some(m), Some(before)) = (memory, before) {
                    let extra = m.peak().saturating_sub(before);
                    peak = Some(peak.map_or(extra, |p: usize| p.max(extra)));
                }
            }
            times.sort_by(f64::total_cmp);
            kernel_times.sort_by(f64::total_cmp);
            let seconds = times[times.len() / 2];
            let work = (size * steps) as f64;
            let kernel_seconds = kernel_times.get(kernel_times.len() / 2).copied();
            let roofline = match (&gpu, kernel_seconds) {
                (Some(g), Some(k)) if k > 0.0 => {
                    Some(roofline(compiled, pass, opts.precision, k, work, g.limits()))
                }
                _ => None,
            };
            rows.push(Row {
                pass,
                backend,
                steps,
                batch: size,
                runs: times.len(),
                seconds,
                ns_per_element: seconds * 1e9 / (work * state_elements as f64),
                steps_per_second: work / seconds,
                peak_bytes: peak,
                kernel_seconds,
                roofline,
            });
        }
    }
    Ok(Report { state_elements, input_bytes, rows })
}
