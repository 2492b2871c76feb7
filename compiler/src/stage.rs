//! The printed form of every stage of the compilation: what `hsc emit --stage` prints and the
//! snapshot tests pin down, made in one place so that what is tested is what the CLI prints.
//!
//! ```
//! let source = b"model Spring\nparam k = 1\nstate q momentum p\nH = 0.5 * p^2 + 0.5 * k * q^2\n";
//! let front = hsc::front_end(source, &[]);
//! let ir = hsc::stage(&front, hsc::Stage::Ir, hsc::kernel::Precision::F64).unwrap();
//! assert!(ir.contains("Spring"));
//! assert_eq!("kernels".parse(), Ok(hsc::Stage::Kernels));
//! ```

use hsc_grammar::Diagnostic;

use crate::kernel::Precision;
use crate::{Backend, FrontEnd};

/// A stage of the compilation with a printed form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The syntax tree ([`hsc_grammar::ast::Printer`]).
    Ast,
    /// The typed tensor-expression IR ([`crate::ir::Program`]).
    Ir,
    /// Hamilton's equations and every derivative ([`crate::symbolic::Equations`]).
    Equations,
    /// The kernels as [`crate::kernel::lower`] makes them, before the optimiser.
    Lowered,
    /// The kernels as [`crate::compile`] builds them: optimised and verified.
    Kernels,
    /// The C of the kernels ([`crate::backend::c::emit()`]).
    C,
    /// The CUDA C of the kernels ([`crate::backend::cuda::emit()`]).
    Cuda,
    /// The machine code of the kernels as the Cranelift JIT compiles it for this machine.
    Asm,
    /// The assembly of the kernels' C as the system's C compiler makes it for this machine.
    CAsm,
}

impl Stage {
    /// Every stage, in the order of the pipeline (and of the command line's list).
    pub const ALL: [Stage; 9] = [
        Stage::Ast,
        Stage::Ir,
        Stage::Equations,
        Stage::Lowered,
        Stage::Kernels,
        Stage::C,
        Stage::Cuda,
        Stage::Asm,
        Stage::CAsm,
    ];

    /// The one name a stage has: on the command line (`--stage kernels`) and in the names
    /// of the snapshots (`nonlin_hru@kernels`).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Ast => "ast",
            Stage::Ir => "ir",
            Stage::Equations => "equations",
            Stage::Lowered => "lowered",
            Stage::Kernels => "kernels",
            Stage::C => "c",
            Stage::Cuda => "cuda",
            Stage::Asm => "asm",
            Stage::CAsm => "c-asm",
        }
    }

    /// A sentence on what the stage prints.
    pub fn about(self) -> &'static str {
        match self {
            Stage::Ast => "The syntax tree, one node per line with its line:column",
            Stage::Ir => "The typed tensor-expression IR",
            Stage::Equations => "Hamilton's equations and every derivative the later passes need",
            Stage::Lowered => "The kernel IR of every pass as lowered, before the optimiser",
            Stage::Kernels => "The kernel IR of every pass: loop nests with scalar SSA",
            Stage::C => "The C of every pass (what the system's C compiler builds for `--backend c`)",
            Stage::Cuda => "The CUDA C of every pass (what NVRTC compiles for `--backend cuda`)",
            Stage::Asm => "The machine code of every pass, as the Cranelift JIT compiles it for this machine",
            Stage::CAsm => "The assembly of every pass, as the system's C compiler makes it for this machine",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Stage {
    type Err = String;

    /// The inverse of [`Stage::name`].
    fn from_str(s: &str) -> Result<Stage, String> {
        hsc_runtime::parse_name(s, &Stage::ALL, Stage::name, "stage")
    }
}

/// The text of `stage` for the model `front` checked; `precision` is the arithmetic of the
/// C, the CUDA C and the machine code (the other stages have none). Every stage past the syntax tree
/// needs a model without errors; a stop of a later stage (the symbolic budget, a kernel that
/// does not verify, Cranelift) is its diagnostic.
pub fn stage(front: &FrontEnd, stage: Stage, precision: Precision) -> Result<String, Diagnostic> {
    let checked = || match (&front.program, &front.facts) {
        (Some(program), Some(facts)) => Ok((program, facts)),
        _ => Err(Diagnostic::error(format!("the model has errors: there is no `{stage}` to print"))),
    };
    let compiled = || checked().and_then(|(program, facts)| crate::compile(program.clone(), facts));
    Ok(match stage {
        Stage::Ast => hsc_grammar::ast::Printer::new(&front.ast, &front.source).to_string(),
        Stage::Ir => checked()?.0.to_string(),
        Stage::Equations => {
            let (program, facts) = checked()?;
            crate::equations(program, facts)?.to_string()
        }
        Stage::Lowered => {
            let (program, facts) = checked()?;
            crate::kernel::lower(program, &crate::equations(program, facts)?).to_string()
        }
        Stage::Kernels => compiled()?.module.to_string(),
        Stage::C => crate::backend::c::emit(&compiled()?.module, precision).text,
        Stage::CAsm => crate::backend::c::assembly(&compiled()?.module, precision)
            .map_err(|e| e.diagnostic(Backend::C))?,
        Stage::Cuda => crate::backend::cuda::emit(&compiled()?.module, precision).text,
        Stage::Asm => crate::backend::cranelift::disassemble(&compiled()?.module, precision)
            .map_err(|e| e.diagnostic(Backend::Cranelift))?,
    })
}

/// What `hsc check` prints of a model without errors: its sizes, arrays, the split of its
/// energy and its derivatives ([`crate::summary()`]).
pub fn check(front: &FrontEnd) -> Result<String, Diagnostic> {
    let (Some(program), Some(facts)) = (&front.program, &front.facts) else {
        return Err(Diagnostic::error("the model has errors: there is no summary to print"));
    };
    Ok(crate::summary(program, facts, &crate::equations(program, facts)?))
}
