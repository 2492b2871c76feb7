//! `hsc emit`: one stage of the compilation, as text.

use std::path::PathBuf;

use clap::ValueEnum;
use hsc::FrontEnd;
use hsc::kernel::Precision;
use hsc_grammar::Diagnostic;

use super::{Dims, Output, compiled, named};

/// Print a stage of the compilation.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The .ham file.
    pub model: PathBuf,
    /// Which stage to print.
    #[arg(long, value_enum)]
    stage: Stage,
    /// The arithmetic of the CUDA C or the machine code (`--stage cuda`, `--stage asm`).
    #[arg(long, default_value = "f64", value_parser = named::<Precision>())]
    precision: Precision,
    #[command(flatten)]
    pub dims: Dims,
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

/// The text of the stage asked for.
pub fn emit(front: &FrontEnd, args: &Args) -> Result<Output, Diagnostic> {
    let text = match args.stage {
        Stage::Ast => hsc_grammar::ast::Printer::new(&front.ast, &front.source).to_string(),
        Stage::Ir => front.program.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        Stage::Equations => match (&front.program, &front.facts) {
            (Some(program), Some(facts)) => hsc::equations(program, facts)?.to_string(),
            _ => String::new(),
        },
        Stage::Kernels => compiled(front, None)?.map(|c| c.module.to_string()).unwrap_or_default(),
        Stage::Cuda => compiled(front, None)?
            .map(|c| hsc::backend::cuda::emit(&c.module, args.precision).text)
            .unwrap_or_default(),
        Stage::Asm => match compiled(front, None)? {
            Some(c) => hsc::backend::cranelift::disassemble(&c.module, args.precision)
                .map_err(|e| e.diagnostic(hsc::Backend::Cranelift))?,
            None => String::new(),
        },
    };
    Ok(text.into())
}
