//! `hsc emit`: one stage of the compilation, as text ([`hsc::stage()`]).

use std::path::PathBuf;

use hsc::kernel::Precision;
use hsc::{FrontEnd, Stage};
use hsc_grammar::Diagnostic;

use super::{Dims, Output, named};

/// Print a stage of the compilation.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    /// Which stage to print.
    #[arg(long, value_parser = named::<Stage>())]
    stage: Stage,
    /// The arithmetic of the CUDA C or the machine code (`--stage cuda`, `--stage asm`).
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    #[command(flatten)]
    pub dims: Dims,
}

/// The text of the stage asked for.
pub fn emit(front: &FrontEnd, args: &Args) -> Result<Output, Diagnostic> {
    Ok(hsc::stage(front, args.stage, args.precision)?.into())
}
