//! `hsc bench`: the table (or JSON) of each pass's time and memory per backend.

use std::fmt::Write;
use std::path::PathBuf;

use hsc::bench::{Options, Report};
use hsc::kernel::Precision;
use hsc::{Backend, FrontEnd};
use hsc_grammar::Diagnostic;

use super::{Dims, Output, named};

/// Time each pass (forward, RHEL, tangent, BPTT) on each backend: median ns per
/// sequence, step and state element, steps per second and peak memory, against the
/// interpreter measured in the same run.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    /// Steps per sequence.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    steps: u64,
    /// Sequences per batch.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
    /// Worker threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: u64,
    /// Arithmetic.
    #[arg(long, default_value = "f32", value_parser = named::<Precision>())]
    precision: Precision,
    /// Least seconds spent on each measurement.
    #[arg(long, default_value_t = 1.0)]
    min_time: f64,
    /// The backends to measure, comma-separated (`cuda` needs a GPU) [default: c and
    /// cranelift where a C compiler works, else cranelift].
    #[arg(long, value_delimiter = ',', value_parser = named::<Backend>())]
    backends: Vec<Backend>,
    /// Skip the interpreter baseline.
    #[arg(long)]
    no_baseline: bool,
    /// The passes to measure, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = ["forward", "rhel", "tangent", "bptt"], default_value = "forward,rhel,tangent,bptt")]
    passes: Vec<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub dims: Dims,
}

/// Compiles the model (timed), measures every pass on every backend asked for, and prints
/// the table or the JSON object.
pub fn bench(front: &FrontEnd, args: &Args) -> Result<Output, Diagnostic> {
    let started = std::time::Instant::now();
    let Some(compiled) = super::compiled(front, None)? else { return Ok(String::new().into()) };
    compiled.jitted(args.precision)?;
    let compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let verify_ms = verify_ms(&compiled);
    let min_time = args.min_time;
    if !min_time.is_finite() || min_time < 0.0 {
        return Err(Diagnostic::error(format!("--min-time must be a number of seconds, not {min_time}")));
    }
    let mut backends = args.backends.clone();
    if backends.is_empty() {
        backends = match super::backend_or_native(None) {
            Backend::C => vec![Backend::C, Backend::Cranelift],
            native => vec![native],
        };
    }
    backends.retain(|b| *b != Backend::Interp);
    backends.dedup();
    if !args.no_baseline || backends.is_empty() {
        backends.push(Backend::Interp);
    }
    let c_build =
        if backends.contains(&Backend::C) { Some(c_build_ms(&compiled, args.precision)?) } else { None };
    let o = Options {
        steps: args.steps as usize,
        batch: args.batch as usize,
        threads: args.threads as usize,
        precision: args.precision,
        backends,
        min_time: std::time::Duration::from_secs_f64(min_time),
        seed: 0,
        passes: hsc::bench::PASSES.into_iter().filter(|p| args.passes.iter().any(|q| q == p)).collect(),
    };
    let bar = indicatif::ProgressBar::new((o.passes.len() * o.backends.len()) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let probe: &dyn hsc::bench::MemoryProbe = &crate::ALLOCATOR;
    let report = hsc::bench::run(&compiled, &o, Some(probe), |what| {
        bar.set_message(what.to_owned());
        bar.inc(1);
    })
    .map_err(|e| Diagnostic::error(e.to_string()))?;
    bar.finish_and_clear();
    let text = if args.json {
        json(&compiled, &Build { compile_ms, verify_ms, c_build }, &o, &report)
    } else {
        table(&compiled, &Build { compile_ms, verify_ms, c_build }, &o, &report)
    };
    Ok(text.into())
}

/// Milliseconds that building the C kernels takes, the first time (a fresh cache) and from
/// the cache, with the compiler's identity.
fn c_build_ms(
    compiled: &hsc::Compiled,
    precision: hsc::kernel::Precision,
) -> Result<(f64, f64, String), Diagnostic> {
    let dir = std::env::temp_dir().join(format!("hsc-bench-cache-{}", std::process::id()));
    let mut ms = [0.0; 2];
    for (i, expect) in [false, true].into_iter().enumerate() {
        let started = std::time::Instant::now();
        let (_, cached) = hsc::backend::c::jit_cached_in(&compiled.module, precision, &dir)
            .map_err(|e| e.diagnostic(Backend::C))?;
        ms[i] = started.elapsed().as_secs_f64() * 1e3;
        debug_assert_eq!(cached, expect);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let identity = hsc::backend::c::Toolchain::find().map_err(|e| e.diagnostic(Backend::C))?.identity.clone();
    Ok((ms[0], ms[1], identity))
}

/// Milliseconds that verifying the kernels and computing their facts take: the share of the
/// compile time that [`hsc::compile`] spends in `kernel::Verified::new` (every build does it),
/// measured by doing it once more on a copy of the module. (Debug builds also verify after
/// every optimiser pass; that is not counted.)
fn verify_ms(compiled: &hsc::Compiled) -> f64 {
    let module = (*compiled.module.shared()).clone();
    let started = std::time::Instant::now();
    let verified = hsc::kernel::Verified::new(module);
    let ms = started.elapsed().as_secs_f64() * 1e3;
    debug_assert!(verified.is_ok(), "a compiled module verifies");
    ms
}

fn cpu() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{} ({cores} cores)", name.unwrap_or_else(|| std::env::consts::ARCH.to_owned()))
}

fn mib(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// How long building the model took.
struct Build {
    /// Front end, derivatives, kernels and the Cranelift JIT.
    compile_ms: f64,
    /// The verifier's share of it.
    verify_ms: f64,
    /// The C kernels (when measured): milliseconds the first time and from the cache, and
    /// the compiler.
    c_build: Option<(f64, f64, String)>,
}

fn table(c: &hsc::Compiled, b: &Build, o: &Options, r: &Report) -> String {
    let Build { compile_ms, verify_ms, c_build } = b;
    let spec = &c.module.spec;
    let dims: Vec<String> = c.program.dims.iter().map(|d| format!("{} = {}", d.name, d.value)).collect();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} ({}), {}, batch {}, {} steps, {} thread{}, on {}",
        spec.name,
        dims.join(", "),
        o.precision.name(),
        o.batch,
        o.steps,
        o.threads,
        if o.threads == 1 { "" } else { "s" },
        cpu()
    );
    let _ = writeln!(
        s,
        "compile (front end, derivatives, {} kernels, Cranelift JIT): {compile_ms:.1} ms, of which verifying the kernels and their facts {verify_ms:.1} ms",
        hsc_runtime::Pass::ALL.len()
    );
    if let Some((first, cached, compiler)) = c_build {
        let _ = writeln!(
            s,
            "C kernels ({compiler}): built in {first:.0} ms, loaded from the cache in {cached:.1} ms"
        );
    }
    let _ = writeln!(s, "inputs of the batch: {} (f64)", mib(r.input_bytes));
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<8} {:<10} {:>13} {:>16} {:>14} {:>12} {:>10}",
        "pass", "backend", "batch × steps", "ns/(seq·step·x)", "seq·steps/s", "peak memory", "speed-up"
    );
    let baseline = *o.backends.last().unwrap_or(&Backend::Interp);
    for &pass in &o.passes {
        for &b in &o.backends {
            let Some(row) = r.row(pass, b) else { continue };
            let speedup = r.row(pass, baseline).map_or(String::new(), |base| {
                if b == baseline {
                    "1×".into()
                } else {
                    format!("{:.0}×", base.ns_per_element / row.ns_per_element)
                }
            });
            let _ = writeln!(
                s,
                "{:<8} {:<10} {:>13} {:>16.2} {:>14.3e} {:>12} {:>10}",
                pass,
                b.name(),
                format!("{} × {}", row.batch, row.steps),
                row.ns_per_element,
                row.steps_per_second,
                row.peak_bytes.map_or("-".into(), mib),
                speedup
            );
        }
    }
    for row in &r.rows {
        if let Some(k) = row.kernel_seconds {
            let _ = writeln!(
                s,
                "{} on {}: {:.2} ns/(seq·step·x) in the kernels alone ({:.1} of {:.1} ms; the rest is copies and conversions)",
                row.pass,
                row.backend.name(),
                k * 1e9 / (row.batch * row.steps * r.state_elements) as f64,
                k * 1e3,
                row.seconds * 1e3
            );
        }
        if let Some(r) = row.roofline {
            let of = |x: f64, peak: Option<f64>| {
                peak.map_or(String::new(), |p| format!(" ({:.1} % of {:.0})", 100.0 * x / p, p / 1e9))
            };
            let _ = writeln!(
                s,
                "  {:.0} GFLOP/s{} and {:.1} G function calls/s; {:.0} GB/s of time-axis rows{}",
                r.flops / 1e9,
                of(r.flops, r.peak_flops),
                r.calls / 1e9,
                r.bandwidth / 1e9,
                of(r.bandwidth, r.peak_bandwidth)
            );
        }
    }
    if let (Some(f), Some(g)) = (r.row("forward", o.backends[0]), r.row("rhel", o.backends[0])) {
        let _ = writeln!(
            s,
            "\nRHEL costs {:.2} forward passes on {}.",
            g.seconds / f.seconds,
            o.backends[0].name()
        );
    }
    let _ = writeln!(
        s,
        "x: the {} state elements (positions) of a sequence; speed-up against {}; peak memory beyond the batch's own arrays.",
        r.state_elements,
        if o.backends.len() == 1 { "nothing (--no-baseline)" } else { baseline.name() }
    );
    s
}

fn json(c: &hsc::Compiled, b: &Build, o: &Options, r: &Report) -> String {
    let Build { compile_ms, verify_ms, c_build } = b;
    let rows: Vec<serde_json::Value> = r
        .rows
        .iter()
        .map(|row| {
            serde_json::json!({
                "pass": row.pass,
                "backend": row.backend.name(),
                "batch": row.batch,
                "steps": row.steps,
                "runs": row.runs,
                "median_seconds": row.seconds,
                "ns_per_seq_step_state": row.ns_per_element,
                "steps_per_second": row.steps_per_second,
                "peak_bytes": row.peak_bytes,
                "kernel_seconds": row.kernel_seconds,
                "roofline": row.roofline.map(|r| serde_json::json!({
                    "flops_per_second": r.flops,
                    "function_calls_per_second": r.calls,
                    "bytes_per_second": r.bandwidth,
                    "peak_flops_per_second": r.peak_flops,
                    "peak_bytes_per_second": r.peak_bandwidth,
                })),
            })
        })
        .collect();
    let value = serde_json::json!({
        "model": c.module.spec.name,
        "dims": c.program.dims.iter().map(|d| (d.name.clone(), d.value)).collect::<std::collections::BTreeMap<_, _>>(),
        "precision": o.precision.name(),
        "batch": o.batch,
        "steps": o.steps,
        "threads": o.threads,
        "cpu": cpu(),
        "compile_ms": compile_ms,
        "verify_ms": verify_ms,
        "c_build": c_build.as_ref().map(|(first, cached, compiler)| serde_json::json!({
            "compiler": compiler, "first_ms": first, "cached_ms": cached,
        })),
        "state_elements": r.state_elements,
        "input_bytes": r.input_bytes,
        "rows": rows,
    });
    serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
}
