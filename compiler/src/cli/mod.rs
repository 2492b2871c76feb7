//! Commands of the `hsc` binary: argument parsing, reading files, printing, exit codes.
//!
//! Exit codes: 0 success, 1 a problem with the user's model or files, 2 a usage error (clap's
//! own code for bad arguments).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
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
        #[command(flatten)]
        dims: Dims,
    },
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
                return Ok(String::new());
            };
            let equations = hsc::equations(program)?;
            Ok(hsc::summary(program, facts, &equations))
        }),
        Command::Emit { model, stage, dims } => run(&model, &dims.define, color, |front| match stage {
            Stage::Ast => Ok(hsc_grammar::ast::Printer::new(&front.ast, &front.source).to_string()),
            Stage::Ir => Ok(front.program.as_ref().map(|p| p.to_string()).unwrap_or_default()),
            Stage::Equations => match &front.program {
                Some(program) => Ok(hsc::equations(program)?.to_string()),
                None => Ok(String::new()),
            },
        }),
    }
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
    output: impl Fn(&FrontEnd) -> Result<String, Diagnostic>,
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
        Ok(text) => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
            ExitCode::SUCCESS
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
