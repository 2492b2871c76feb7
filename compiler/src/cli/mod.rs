//! Commands of the `hsc` binary: argument parsing, reading files, printing, exit codes.
//!
//! One file per command, each with its clap arguments (`Args`) and one function from them
//! to what it prints; this file holds the command list, `main`, and what they share: reading
//! and checking the model (`run`, `with_run`), the [`Output`] of a command, `-D` overrides and
//! the parser of the library's named choices ([`named`]).
//!
//! Exit codes: 0 success, 1 a problem with the user's model or files, 2 a usage error (clap's
//! own code for bad arguments).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

/// A line on stderr; unlike eprintln!, it does not panic when stderr is a closed pipe.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod alloc;
mod bench;
mod check;
mod compile;
mod emit;
mod eval;
mod fit;
mod gradcheck;
mod simulate;
mod train;

use clap::{Parser, Subcommand};
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

/// The commands, in the order `hsc --help` lists them; each one's help is its `Args`' doc.
#[derive(Subcommand, Debug)]
enum Command {
    Check(check::Args),
    Emit(emit::Args),
    Gradcheck(gradcheck::Args),
    Compile(compile::Args),
    Bench(bench::Args),
    Simulate(simulate::Args),
    Train(train::Args),
    Fit(fit::Args),
    Eval(eval::Args),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let color = use_color();
    match cli.command {
        Command::Check(a) => run(&a.model, &a.dims.define, color, |front| check::check(front, &a)),
        Command::Emit(a) => run(&a.model, &a.dims.define, color, |front| emit::emit(front, &a)),
        Command::Gradcheck(a) => {
            run(&a.model, &a.dims.define, color, |front| gradcheck::gradcheck(front, &a))
        }
        Command::Compile(a) => run(&a.model, &a.dims.define, color, |front| compile::compile(front, &a)),
        Command::Bench(a) => run(&a.model, &a.dims.define, color, |front| bench::bench(front, &a)),
        Command::Simulate(a) => run(&a.model, &a.dims.define, color, |front| simulate::simulate(front, &a)),
        Command::Train(a) => train::train(&a, color),
        Command::Fit(a) => fit::fit(&a, color),
        Command::Eval(a) => with_run(&a.run, color, |model, _| eval::eval(model, &a)),
    }
}

/// A choice the library names (a backend, a precision, a stage): the command line offers the library's
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

impl Named for hsc::Stage {
    const ALL: &'static [Self] = &hsc::Stage::ALL;
    fn name(self) -> &'static str {
        hsc::Stage::name(self)
    }
    fn about(self) -> &'static str {
        hsc::Stage::about(self)
    }
}

/// The backend a command runs on: the one named, else [`hsc::Backend::native`] (C where a
/// working C compiler is found), with one line saying why when that is not C.
fn backend_or_native(named: Option<hsc::Backend>) -> hsc::Backend {
    named.unwrap_or_else(|| {
        let (backend, why) = hsc::Backend::native();
        if let Some(why) = why {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "note: {why}; running on {}", backend.title());
        }
        backend
    })
}

/// A progress bar over one epoch's minibatches, with the running loss (`scientific`: as
/// `1.2345e-6`, for losses that shrink by orders of magnitude).
struct EpochBar {
    bar: indicatif::ProgressBar,
    scientific: bool,
}

impl EpochBar {
    fn new(epoch: usize, total: usize, scientific: bool) -> EpochBar {
        let bar = indicatif::ProgressBar::new(1);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "epoch {epoch}/{total} {{bar:30}} {{pos}}/{{len}} {{msg}}"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        EpochBar { bar, scientific }
    }
}

impl hsc_train::train::Observer for EpochBar {
    fn batch(&mut self, p: &hsc_train::train::Progress) {
        self.bar.set_length(p.batches as u64);
        self.bar.set_position(p.done as u64);
        let loss = p.running_loss;
        self.bar.set_message(if self.scientific {
            format!("loss {loss:.4e}")
        } else {
            format!("loss {loss:.4}")
        });
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

/// The `-D` overrides every command that reads a model takes.
#[derive(clap::Args, Debug)]
struct Dims {
    /// Override a dim's default: `-D P=256` (repeatable).
    #[arg(short = 'D', value_name = "NAME=VALUE", value_parser = parse_define)]
    define: Vec<Override>,
}

fn parse_define(text: &str) -> Result<Override, String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
            Ok(Override { name: name.trim().to_owned(), value: value.trim().to_owned() })
        }
        _ => Err(format!("expected NAME=VALUE, as in `-D P=256`, not `{text}`")),
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
