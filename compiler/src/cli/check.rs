//! `hsc check`: the summary of a valid model (its diagnostics are `run`'s).

use std::path::PathBuf;

use hsc::FrontEnd;
use hsc_grammar::Diagnostic;

use super::{Dims, Output};

/// Parse and check a model; print a summary, or every error found.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    #[command(flatten)]
    pub dims: Dims,
}

/// The summary of the model ([`hsc::stage::check`]): sizes, arrays, the energy's split, the
/// derivatives.
pub fn check(front: &FrontEnd, _: &Args) -> Result<Output, Diagnostic> {
    Ok(hsc::stage::check(front)?.into())
}
