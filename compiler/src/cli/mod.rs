//! Commands of the `hsc` binary: argument parsing, reading files, printing, exit codes.
//!
//! Exit codes: 0 success, 1 a problem with the user's model or files, 2 a usage error (clap's
//! own code for bad arguments).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub mod alloc;
mod bench;
mod gradcheck;
mod simulate;
mod train;

use clap::{Parser, Subcommand, ValueEnum};
use hsc::backend::cranelift::ObjectTarget;
use hsc::kernel::Precision;
use hsc::{FrontEnd, Override};
use hsc_grammar::{Diagnostic, has_errors, render};

/// hsc compiles a Hamiltonian written in .ham into symplectic kernels trained with RHEL.
#[derive(Parser, Debug)]
#[command(name = "hsc", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Parse and check a model; print a summary, or every error found.
    Check {
        /// The .ham file.
        model: PathBuf,
        #[command(flatten)]
        dims: Dims,
    },
    /// Print a stage of the compilation.
    Emit {
        /// The .ham file.
        model: PathBuf,
        /// Which stage to print.
        #[arg(long, value_enum)]
        stage: Stage,
        /// The arithmetic of the CUDA C or the machine code (`--stage cuda`, `--stage asm`).
        #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
        precision: Precision,
        #[command(flatten)]
        dims: Dims,
    },
    /// Check every gradient method against the others and against finite differences.
    ///
    /// Draws params (from the model's initialisers), inputs, targets (or per-step cotangents
    /// of the positions when the model has no loss) and an initial state from the seed, then
    /// prints RHEL (central and one-sided), the tangent echo, BPTT and finite differences of
    /// the loss for every param, the inputs and the initial state. Exits with 1 when a pair
    /// disagrees beyond its tolerance.
    Gradcheck {
        /// The .ham file.
        model: PathBuf,
        /// Steps per sequence.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        steps: u64,
        /// The echoes' nudge ε [default: 1e-5 in f64, 1e-3 in f32].
        #[arg(long)]
        eps: Option<f64>,
        /// Seed of every draw.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Arithmetic of RHEL and the tangent echo (BPTT and finite differences are f64).
        #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
        precision: Precision,
        /// What runs the kernels.
        #[arg(long, default_value = "cranelift", value_parser = named::<hsc::Backend>())]
        backend: hsc::Backend,
        /// Most entries per quantity checked by finite differences (chosen from the seed).
        #[arg(long, default_value_t = 16)]
        fd_entries: usize,
        /// Print one JSON object instead of the tables.
        #[arg(long)]
        json: bool,
        /// Write the drawn data, the loss and every method's gradients as .npy files here.
        #[arg(long, value_name = "DIR")]
        dump: Option<PathBuf>,
        #[command(flatten)]
        dims: Dims,
    },
    /// Compile a model ahead of time: an object file with every kernel, a typed Rust module
    /// over hsc-runtime, and a JSON description of the kernel ABI.
    Compile {
        /// The .ham file.
        model: PathBuf,
        /// Where to write `<stem>.o`, `<stem>.rs` and `<stem>.json`.
        #[arg(short = 'o', long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// The kernels' arithmetic.
        #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
        precision: Precision,
        /// Use every feature of this machine's CPU (AVX, FMA, ...); the object then runs only
        /// on CPUs that have them. Without it, the object runs on any CPU of the architecture.
        #[arg(long)]
        native: bool,
        /// Also write `<stem>.cu`, the CUDA C of every pass, and where NVRTC is found,
        /// `<stem>.ptx` (or `<stem>.cubin` for a real architecture given with `--arch`).
        #[arg(long)]
        cuda: bool,
        /// The GPU architecture for `--cuda`: `compute_XY` for PTX, `sm_XY` for a CUBIN.
        #[arg(long, default_value = "compute_90", requires = "cuda", value_parser = parse_arch)]
        arch: String,
        #[command(flatten)]
        dims: Dims,
    },
    /// Time each pass (forward, RHEL, tangent, BPTT) on each backend: median ns per
    /// sequence, step and state element, steps per second and peak memory, against the
    /// interpreter measured in the same run.
    Bench {
        /// The .ham file.
        model: PathBuf,
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
        /// The backends to measure, comma-separated (`cuda` needs a GPU).
        #[arg(long, value_delimiter = ',', default_value = "cranelift", value_parser = named::<hsc::Backend>())]
        backends: Vec<hsc::Backend>,
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
        dims: Dims,
    },
    /// Simulate a model from a drawn state: energy drift, reversibility, trajectory and plot.
    Simulate {
        /// The .ham file.
        model: PathBuf,
        /// Number of steps.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        steps: u64,
        /// The step, instead of the model's.
        #[arg(long)]
        dt: Option<f64>,
        /// Seed of the params, inputs and initial state.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Arithmetic.
        #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
        precision: Precision,
        /// What runs the kernels.
        #[arg(long, default_value = "cranelift", value_parser = named::<hsc::Backend>())]
        backend: hsc::Backend,
        /// Run without inputs (all zero), so that the energy is conserved.
        #[arg(long)]
        free: bool,
        /// Write the trajectory: `.npy` ([T + 1, state elements]) or `.csv`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Draw the states and the energy over time into a PNG.
        #[arg(long, value_name = "FILE.png")]
        plot: Option<PathBuf>,
        #[command(flatten)]
        dims: Dims,
    },
    /// Train a stacked Hamiltonian SSM whose recurrent layers are the model on a UEA/UCR
    /// classification data set (DIR/NAME_TRAIN.ts and DIR/NAME_TEST.ts).
    ///
    /// Prints each epoch's train and validation loss and accuracy, then the test accuracy of
    /// the params that did best on validation. The run folder gets `metrics.json`,
    /// `curves.png`, checkpoints (`last.safetensors`, `best.safetensors`), the exact command
    /// and a copy of the model; `--resume` goes on from the last checkpoint.
    Train {
        /// The .ham file (omit it with --resume).
        #[arg(required_unless_present = "resume")]
        model: Option<PathBuf>,
        /// The data folder: NAME_TRAIN.ts and NAME_TEST.ts [with --resume: the run's].
        #[arg(long, value_name = "DIR", required_unless_present = "resume")]
        data: Option<PathBuf>,
        /// Continue the run in this folder from its last checkpoint, with the settings it was
        /// started with (only --data may be given again, for data that moved).
        #[arg(long, value_name = "RUN", conflicts_with = "model")]
        resume: Option<PathBuf>,
        /// Number of blocks.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=64))]
        layers: u64,
        /// Width between blocks.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
        hidden: u64,
        /// Passes over the training set.
        #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        epochs: u64,
        /// Peak learning rate (AdamW, warm-up then cosine decay).
        #[arg(long, default_value_t = 3e-3)]
        lr: f64,
        /// Sequences per update.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        batch: u64,
        /// How the recurrent layers' gradients are computed.
        #[arg(long, value_enum, default_value_t = GradArg::Rhel)]
        grad: GradArg,
        /// RHEL's nudge, relative to each sequence's largest cotangent.
        #[arg(long, default_value_t = 0.05)]
        eps: f64,
        /// Seed of the params, the validation split, the shuffles and dropout.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// The run folder.
        #[arg(long, value_name = "DIR", default_value = "run")]
        out: PathBuf,
        /// Dropout probability.
        #[arg(long, default_value_t = 0.1)]
        dropout: f64,
        /// AdamW's weight decay (weight matrices only).
        #[arg(long, default_value_t = 0.01)]
        weight_decay: f64,
        /// Fraction of the training set held out for validation (0: none).
        #[arg(long, default_value_t = 0.2)]
        validation: f64,
        /// Arithmetic of the recurrent layers.
        #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
        precision: Precision,
        /// What runs the recurrent layers' kernels.
        #[arg(long, default_value = "cranelift", value_parser = named::<hsc::Backend>())]
        backend: hsc::Backend,
        #[command(flatten)]
        dims: Dims,
    },
    /// Score the best checkpoint of a `hsc train` run on a data set's test file.
    Eval {
        /// The run folder.
        run: PathBuf,
        /// The data folder [default: the run's].
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum GradArg {
    /// Recurrent Hamiltonian Echo Learning: two nudged echoes (O(1) memory in T).
    Rhel,
    /// The tangent echo, RHEL's ε → 0 limit.
    Tangent,
    /// Backpropagation through time over a stored trajectory (the reference).
    Bptt,
}

/// A choice the library names (a backend, a precision): the command line offers the library's
/// names with its help, and parses them with the library's `FromStr`, so there is no second list.
trait Named: Copy + std::str::FromStr<Err = String> + Send + Sync + 'static {
    const ALL: &'static [Self];
    fn name(self) -> &'static str;
    fn about(self) -> &'static str;
}

impl Named for hsc::Backend {
    const ALL: &'static [Self] = &hsc::Backend::ALL;
    fn name(self) -> &'static str {
        hsc::Backend::name(self)
    }
    fn about(self) -> &'static str {
        hsc::Backend::about(self)
    }
}

impl Named for Precision {
    const ALL: &'static [Self] = &Precision::ALL;
    fn name(self) -> &'static str {
        Precision::name(self)
    }
    fn about(self) -> &'static str {
        Precision::about(self)
    }
}

/// clap's parser for a [`Named`] choice.
fn named<T: Named>() -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    let values = T::ALL.iter().map(|&v| PossibleValue::new(v.name()).help(v.about()));
    PossibleValuesParser::new(values).try_map(|s: String| s.parse::<T>())
}

/// What a command prints, and whether it succeeded.
pub struct Output {
    text: String,
    ok: bool,
}

impl From<String> for Output {
    fn from(text: String) -> Output {
        Output { text, ok: true }
    }
}

/// Writes a row-major f64 array as .npy.
pub(crate) fn write_npy(path: &Path, shape: &[usize], data: &[f64]) -> Result<(), Diagnostic> {
    use npyz::WriterBuilder;
    let fail = |e: std::io::Error| Diagnostic::error(format!("cannot write `{}`: {e}", path.display()));
    let file = std::fs::File::create(path).map_err(fail)?;
    let shape: Vec<u64> = shape.iter().map(|&n| n as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(std::io::BufWriter::new(file))
        .begin_nd()
        .map_err(fail)?;
    w.extend(data.iter().copied()).map_err(fail)?;
    w.finish().map_err(fail)
}

/// The program of a valid front end, compiled to kernels.
fn compiled(front: &FrontEnd, dt: Option<f64>) -> Result<Option<hsc::Compiled>, Diagnostic> {
    let (Some(mut program), Some(facts)) = (front.program.clone(), &front.facts) else { return Ok(None) };
    if let Some(h) = dt {
        if !h.is_finite() || h == 0.0 {
            return Err(Diagnostic::error(format!("--dt must be a finite, non-zero number, not {h}")));
        }
        program.integrator.dt = hsc::ir::Dt::Fixed(h);
    }
    hsc::compile(program, facts).map(Some)
}

#[derive(clap::Args, Debug)]
struct Dims {
    /// Override a dim's default: `-D P=256` (repeatable).
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    define: Vec<Override>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Stage {
    /// The syntax tree, one node per line with its line:column.
    Ast,
    /// The typed tensor-expression IR.
    Ir,
    /// Hamilton's equations and every derivative the later passes need.
    Equations,
    /// The kernel IR of every pass: loop nests with scalar SSA.
    Kernels,
    /// The CUDA C of every pass (what NVRTC compiles for `--backend cuda`).
    Cuda,
    /// The machine code of every pass, as the Cranelift JIT compiles it for this machine.
    Asm,
}

fn parse_arch(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix("sm_").or_else(|| text.strip_prefix("compute_"));
    match digits {
        Some(d) if !d.is_empty() && d.chars().all(|c| c.is_ascii_alphanumeric()) => Ok(text.to_owned()),
        _ => Err(format!("expected `compute_XY` (PTX) or `sm_XY` (CUBIN), as in `sm_90`, not `{text}`")),
    }
}

/// `hsc compile --cuda`: the `.cu`, then the `.ptx` or `.cubin` where NVRTC is found.
fn compile_cuda(
    c: &hsc::Compiled,
    precision: Precision,
    arch: &str,
    stem: &Path,
) -> Result<String, Diagnostic> {
    let write = |ext: &str, bytes: &[u8]| -> Result<String, Diagnostic> {
        let path = stem.with_extension(ext);
        std::fs::write(&path, bytes)
            .map_err(|e| Diagnostic::error(format!("cannot write `{}`: {e}", path.display())))?;
        Ok(format!("  wrote {} ({} bytes)\n", path.display(), bytes.len()))
    };
    let source = hsc::backend::cuda::emit(&c.module, precision);
    let text = write("cu", source.text.as_bytes())?;
    Ok(text + &ptx(&source.text, arch, write)?)
}

/// The `.ptx` or `.cubin` of `hsc compile --cuda`, or why there is none: the line it prints.
#[cfg(feature = "cuda")]
fn ptx(
    source: &str,
    arch: &str,
    write: impl Fn(&str, &[u8]) -> Result<String, Diagnostic>,
) -> Result<String, Diagnostic> {
    use hsc::backend::cuda::nvrtc;
    if let Err(e) = nvrtc::load() {
        return Ok(format!("  no .ptx: {e}\n"));
    }
    let (ext, output) =
        if arch.starts_with("sm_") { ("cubin", nvrtc::Output::Cubin) } else { ("ptx", nvrtc::Output::Ptx) };
    let compiled = nvrtc::compile(source, "model.cu", arch, output).map_err(|e| match e {
        e if e.arch_unknown() => Diagnostic::error(format!("NVRTC does not know the architecture `{arch}`")),
        e => Diagnostic::internal(e),
    })?;
    write(ext, &compiled.bytes)
}

/// Without the `cuda` feature there is no NVRTC: `hsc compile --cuda` writes the `.cu` alone.
#[cfg(not(feature = "cuda"))]
fn ptx(
    _: &str,
    _: &str,
    _: impl Fn(&str, &[u8]) -> Result<String, Diagnostic>,
) -> Result<String, Diagnostic> {
    Ok("  no .ptx: hsc was built without the `cuda` feature\n".into())
}

fn parse_define(text: &str) -> Result<Override, String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
            Ok(Override { name: name.trim().to_owned(), value: value.trim().to_owned() })
        }
        _ => Err(format!("expected NAME=VALUE, as in `-D P=256`, not `{text}`")),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = use_color();
    match cli.command {
        Command::Check { model, dims } => run(&model, &dims.define, color, |front| {
            let (Some(program), Some(facts)) = (&front.program, &front.facts) else {
                return Ok(String::new().into());
            };
            let equations = hsc::equations(program, facts)?;
            Ok(hsc::summary(program, facts, &equations).into())
        }),
        Command::Emit { model, stage, precision, dims } => run(&model, &dims.define, color, |front| {
            let text = match stage {
                Stage::Ast => hsc_grammar::ast::Printer::new(&front.ast, &front.source).to_string(),
                Stage::Ir => front.program.as_ref().map(|p| p.to_string()).unwrap_or_default(),
                Stage::Equations => match (&front.program, &front.facts) {
                    (Some(program), Some(facts)) => hsc::equations(program, facts)?.to_string(),
                    _ => String::new(),
                },
                Stage::Kernels => compiled(front, None)?.map(|c| c.module.to_string()).unwrap_or_default(),
                Stage::Cuda => compiled(front, None)?
                    .map(|c| hsc::backend::cuda::emit(&c.module, precision).text)
                    .unwrap_or_default(),
                Stage::Asm => match compiled(front, None)? {
                    Some(c) => hsc::backend::cranelift::disassemble(&c.module, precision)
                        .map_err(|e| e.diagnostic(hsc::Backend::Cranelift))?,
                    None => String::new(),
                },
            };
            Ok(text.into())
        }),
        Command::Gradcheck { model, steps, eps, seed, precision, backend, fd_entries, json, dump, dims } => {
            run(&model, &dims.define, color, |front| {
                let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
                let eps = eps.unwrap_or(match precision {
                    Precision::F64 => 1e-5,
                    Precision::F32 => hsc::gradcheck::F32_DEFAULT_EPS,
                });
                if !eps.is_finite() || eps <= 0.0 {
                    return Err(Diagnostic::error(format!("--eps must be a positive number, not {eps}")));
                }
                let options = hsc::gradcheck::Options {
                    steps: steps as usize,
                    eps,
                    seed,
                    precision,
                    fd_entries: fd_entries.max(1),
                    backend,
                };
                gradcheck::gradcheck(&c, &gradcheck::Args { options, json, dump: dump.clone() })
            })
        }
        Command::Compile { model, out, precision, native, cuda, arch, dims } => {
            run(&model, &dims.define, color, |front| {
                let started = std::time::Instant::now();
                let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
                let target = if native { ObjectTarget::Native } else { ObjectTarget::Portable };
                let files = hsc::aot::artifacts(&c, precision, target)
                    .map_err(|e| e.diagnostic(hsc::Backend::Cranelift))?;
                let took = started.elapsed();
                std::fs::create_dir_all(&out)
                    .map_err(|e| Diagnostic::error(format!("cannot create `{}`: {e}", out.display())))?;
                let stem = hsc::build::stem(&model);
                let mut text = format!(
                    "compiled {} ({} kernels, {}, {}) in {:.1} ms\n",
                    c.module.spec.name,
                    c.module.kernels.len(),
                    precision.name(),
                    if native { "this CPU" } else { "any CPU of this architecture" },
                    took.as_secs_f64() * 1e3
                );
                for (ext, bytes) in
                    [("o", &files.object[..]), ("rs", files.rust.as_bytes()), ("json", files.json.as_bytes())]
                {
                    let path = out.join(format!("{stem}.{ext}"));
                    std::fs::write(&path, bytes)
                        .map_err(|e| Diagnostic::error(format!("cannot write `{}`: {e}", path.display())))?;
                    text += &format!("  wrote {} ({} bytes)\n", path.display(), bytes.len());
                }
                if cuda {
                    text += &compile_cuda(&c, precision, &arch, &out.join(&stem))?;
                }
                Ok(text.into())
            })
        }
        Command::Bench {
            model,
            steps,
            batch,
            threads,
            precision,
            min_time,
            backends,
            no_baseline,
            passes,
            json,
            dims,
        } => run(&model, &dims.define, color, |front| {
            let started = std::time::Instant::now();
            let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
            c.jitted(precision)?;
            let compile_ms = started.elapsed().as_secs_f64() * 1e3;
            if !min_time.is_finite() || min_time < 0.0 {
                return Err(Diagnostic::error(format!(
                    "--min-time must be a number of seconds, not {min_time}"
                )));
            }
            let mut backends = backends.clone();
            backends.retain(|b| *b != hsc::Backend::Interp);
            backends.dedup();
            if !no_baseline || backends.is_empty() {
                backends.push(hsc::Backend::Interp);
            }
            let options = hsc::bench::Options {
                steps: steps as usize,
                batch: batch as usize,
                threads: threads as usize,
                precision,
                backends,
                min_time: std::time::Duration::from_secs_f64(min_time),
                seed: 0,
                passes: hsc::bench::PASSES.into_iter().filter(|p| passes.iter().any(|q| q == p)).collect(),
            };
            bench::bench(&c, compile_ms, &bench::Args { options, json })
        }),
        Command::Train {
            model,
            data,
            resume,
            layers,
            hidden,
            epochs,
            lr,
            batch,
            grad,
            eps,
            seed,
            out,
            dropout,
            weight_decay,
            validation,
            precision,
            backend,
            dims,
        } => {
            if let Some(dir) = resume {
                return with_run(&dir, color, |model, _| train::resume(model, &dir, data.as_deref()));
            }
            let (Some(model), Some(data)) = (model, data) else {
                eprintln!("error: `hsc train` needs a model and --data DIR, or --resume RUN");
                return ExitCode::from(2);
            };
            let checks = [
                ("--lr", lr, lr > 0.0 && lr.is_finite()),
                ("--eps", eps, eps > 0.0 && eps.is_finite()),
                ("--dropout", dropout, (0.0..1.0).contains(&dropout)),
                ("--weight-decay", weight_decay, (0.0..1.0).contains(&weight_decay)),
                ("--validation", validation, (0.0..1.0).contains(&validation)),
            ];
            if let Some((name, value, _)) = checks.iter().find(|c| !c.2) {
                let d = Diagnostic::error(format!("{name} {value} is out of range")).with_note(
                    "--lr and --eps are positive; --dropout, --weight-decay and --validation are in [0, 1)",
                );
                eprint!("{}", render(&[d], "", "", color));
                return ExitCode::from(2);
            }
            let grad = match grad {
                GradArg::Rhel => hsc_train::train::GradMethod::Rhel { eps },
                GradArg::Tangent => hsc_train::train::GradMethod::Tangent,
                GradArg::Bptt => hsc_train::train::GradMethod::Bptt,
            };
            let settings = train::Settings {
                data,
                hidden: hidden as usize,
                layers: layers as usize,
                dropout,
                config: hsc_train::train::Config {
                    epochs: epochs as usize,
                    lr,
                    batch: batch as usize,
                    grad,
                    seed,
                    weight_decay,
                },
                validation,
                precision,
                backend,
                defines: dims.define.iter().map(|o| format!("{}={}", o.name, o.value)).collect(),
            };
            let argv: Vec<String> = std::env::args().collect();
            run(&model, &dims.define, color, |front| {
                let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
                let m = c.model(backend, precision)?;
                train::train(m, &model, &out, settings.clone(), &argv)
            })
        }
        Command::Eval { run: dir, data } => {
            with_run(&dir, color, |model, _| train::eval(model, &dir, data.as_deref()))
        }
        Command::Simulate { model, steps, dt, seed, precision, backend, free, out, plot, dims } => {
            run(&model, &dims.define, color, |front| {
                let Some(c) = compiled(front, dt)? else { return Ok(String::new().into()) };
                let args = simulate::Args {
                    steps: steps as usize,
                    seed,
                    precision,
                    backend,
                    free,
                    out: out.clone(),
                    plot: plot.clone(),
                };
                simulate::simulate(&c, &args)
            })
        }
    }
}

/// Runs `output` on the model of a `hsc train` run folder, compiled as the run was.
fn with_run(
    dir: &Path,
    color: bool,
    output: impl Fn(hsc_runtime::Model, &serde_json::Value) -> Result<Output, Diagnostic>,
) -> ExitCode {
    let command = match train::stored(dir) {
        Ok(c) => c,
        Err(d) => {
            eprint!("{}", render(&[d], "", "", color));
            return ExitCode::from(1);
        }
    };
    let (backend, precision) = match train::stored_engine(dir, &command) {
        Ok(engine) => engine,
        Err(d) => {
            eprint!("{}", render(&[d], "", "", color));
            return ExitCode::from(1);
        }
    };
    let defines = train::stored_defines(&command);
    run(&dir.join("model.ham"), &defines, color, |front| {
        let Some(c) = compiled(front, None)? else { return Ok(String::new().into()) };
        output(c.model(backend, precision)?, &command)
    })
}

/// Most diagnostics printed for one file; past that, a count (a file with thousands of errors
/// is better fixed from the first ones).
const MAX_DIAGNOSTICS_SHOWN: usize = 50;

/// Reads and checks the model, prints its diagnostics to stderr and, when it is valid, what
/// `output` makes of it to stdout.
fn run(
    path: &Path,
    overrides: &[Override],
    color: bool,
    output: impl Fn(&FrontEnd) -> Result<Output, Diagnostic>,
) -> ExitCode {
    let name = path.display().to_string();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            let d = Diagnostic::error(format!("cannot read `{name}`: {e}"));
            eprint!("{}", render(&[d], &name, "", color));
            return ExitCode::from(1);
        }
    };
    let front = hsc::front_end(&bytes, overrides);
    let failed = has_errors(&front.diagnostics);
    let mut stderr = std::io::stderr().lock();
    let shown = &front.diagnostics[..front.diagnostics.len().min(MAX_DIAGNOSTICS_SHOWN)];
    let _ = stderr.write_all(render(shown, &name, &front.source, color).as_bytes());
    if front.diagnostics.len() > shown.len() {
        let _ = writeln!(stderr, "... and {} more diagnostics", front.diagnostics.len() - shown.len());
    }
    if failed {
        let errors = front.diagnostics.iter().filter(|d| d.is_error()).count();
        let _ = writeln!(stderr, "{name}: {errors} error{} found", if errors == 1 { "" } else { "s" });
        return ExitCode::from(1);
    }
    match output(&front) {
        Ok(out) => {
            let _ = std::io::stdout().lock().write_all(out.text.as_bytes());
            if out.ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(d) => {
            let _ = stderr.write_all(render(&[d], &name, &front.source, color).as_bytes());
            ExitCode::from(1)
        }
    }
}

/// Colour on a terminal, plain text when piped or when `NO_COLOR` is set (no-color.org).
fn use_color() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}
