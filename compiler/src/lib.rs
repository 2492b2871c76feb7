//! hsc: a compiler from Hamiltonians written in .ham to symplectic kernels trained with RHEL.
//!
//! The pipeline is a sequence of stages, each a module with one entry point:
//!
//! | stage | entry point | output |
//! |---|---|---|
//! | parse (crate hsc-grammar) | [`hsc_grammar::parse`] | [`hsc_grammar::ast::File`] |
//! | sema | [`sema::analyze`] | [`ir::Program`], the typed tensor-expression IR |
//! | analysis | [`analysis::analyze`] | [`analysis::Facts`]: `H = K(p) + V(q, u)`, even in `p` |
//! | symbolic | [`symbolic::differentiate`] | [`symbolic::Equations`]: Hamilton's equations, every derivative |
//!
//! [`front_end`] runs them in order on the bytes of a file and collects every diagnostic.
//! A model is valid when it passes all of them. [`stage()`] prints any stage, later ones
//! (the kernels, CUDA C, machine code) included.
//!
//! ```
//! let source = b"model Spring\nparam k = 1\nstate q momentum p\nH = 0.5 * p^2 + 0.5 * k * q^2\n";
//! let checked = hsc::front_end(source, &[]);
//! let program = checked.program.expect("a valid model");
//! assert_eq!(program.name, "Spring");
//! assert!(checked.diagnostics.is_empty());
//! ```

#![warn(missing_docs)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod analysis;
pub mod aot;
pub mod backend;
pub mod bench;
pub mod build;
pub mod gradcheck;
pub mod ir;
pub mod kernel;
pub mod sema;
pub mod simulate;
pub mod stage;
mod summary;
pub mod symbolic;

use hsc_grammar::{Diagnostic, Span, has_errors};

pub use sema::Override;
pub use stage::{Stage, stage};

/// Derives the equations of a valid program, its energy split as `facts` says; a stop of the
/// symbolic stage (a budget, an index form it cannot express) is a diagnostic.
pub fn equations(program: &ir::Program, facts: &analysis::Facts) -> Result<symbolic::Equations, Diagnostic> {
    symbolic::differentiate(program, facts).map_err(|why| match why {
        symbolic::StopReason::DepthLimit(_) => Diagnostic::error(format!("the model is too deep to differentiate: {why}"))
            .with_primary(program.exprs.span(program.hamiltonian), "in this energy")
            .with_help("long chains of lets that each use the one before nest deeply; sums and products of many terms do not"),
        symbolic::StopReason::NodeLimit(_) | symbolic::StopReason::WorkLimit(_) => {
            Diagnostic::error(format!("the model is too large to differentiate: {why}"))
                .with_primary(program.exprs.span(program.hamiltonian), "in this energy")
                .with_help("write repeated terms once, with `sum` over an index, or name them with `let`")
        }
        symbolic::StopReason::UnsupportedIndex => Diagnostic::internal(format!("the symbolic stage stopped: {why}")),
    })
}
pub use summary::summary;

/// A model compiled to kernels.
#[derive(Debug)]
pub struct Compiled {
    /// The checked program.
    pub program: ir::Program,
    /// Its derivatives.
    pub equations: symbolic::Equations,
    /// Its kernels, verified, with their facts.
    pub module: kernel::Verified,
}

/// What runs the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The reference interpreter: slow, simple, the oracle.
    Interp,
    /// Vectorised C from the system's C compiler, compiled just in time (and cached).
    C,
    /// Native code from Cranelift, compiled just in time.
    Cranelift,
    /// CUDA C compiled by NVRTC, on GPU 0.
    Cuda,
}

impl Backend {
    /// Every backend, in the order the command line lists them.
    pub const ALL: [Backend; 4] = [Backend::Interp, Backend::C, Backend::Cranelift, Backend::Cuda];

    /// `"interp"`, `"c"`, `"cranelift"` or `"cuda"`: the one name a backend has, on the
    /// command line, in a run folder and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Interp => "interp",
            Backend::C => "c",
            Backend::Cranelift => "cranelift",
            Backend::Cuda => "cuda",
        }
    }

    /// Its name in a sentence: `interpreter`, `Cranelift`, `CUDA`.
    pub fn title(self) -> &'static str {
        match self {
            Backend::Interp => "interpreter",
            Backend::C => "C",
            Backend::Cranelift => "Cranelift",
            Backend::Cuda => "CUDA",
        }
    }

    /// A sentence on what the backend is.
    pub fn about(self) -> &'static str {
        match self {
            Backend::Interp => "the reference interpreter (slow; the oracle)",
            Backend::C => "vectorised C compiled just in time by the system's C compiler (cached)",
            Backend::Cranelift => "native code compiled just in time by Cranelift",
            Backend::Cuda => "CUDA C compiled by NVRTC, run on GPU 0",
        }
    }

    /// The CPU backend to use where none is named: [`Backend::C`] where a working C compiler
    /// is found, else [`Backend::Cranelift`] with the reason C is not used.
    pub fn native() -> (Backend, Option<String>) {
        match backend::c::Toolchain::find() {
            Ok(_) => (Backend::C, None),
            Err(e) => (Backend::Cranelift, Some(format!("the C backend is not used: {e}"))),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Backend {
    type Err = String;

    /// The inverse of [`Backend::name`].
    fn from_str(s: &str) -> Result<Backend, String> {
        hsc_runtime::parse_name(s, &Backend::ALL, Backend::name, "backend")
    }
}

impl Compiled {
    /// A runtime model that runs the kernels on the reference interpreter.
    pub fn interpreted(&self, precision: kernel::Precision) -> hsc_runtime::Model {
        let engine = kernel::Interpreter::new(self.module.shared(), precision);
        hsc_runtime::Model::new(self.module.spec.clone(), std::sync::Arc::new(engine))
    }

    /// A runtime model whose kernels are native code compiled now by Cranelift.
    pub fn jitted(&self, precision: kernel::Precision) -> Result<hsc_runtime::Model, Diagnostic> {
        let engine =
            backend::cranelift::jit(&self.module, precision).map_err(|e| e.diagnostic(Backend::Cranelift))?;
        Ok(hsc_runtime::Model::new(self.module.spec.clone(), std::sync::Arc::new(engine)))
    }

    /// A runtime model on `backend`.
    pub fn model(
        &self,
        backend: Backend,
        precision: kernel::Precision,
    ) -> Result<hsc_runtime::Model, Diagnostic> {
        match backend {
            Backend::Interp => Ok(self.interpreted(precision)),
            Backend::C => {
                let engine = backend::c::jit(&self.module, precision).map_err(|e| e.diagnostic(backend))?;
                Ok(hsc_runtime::Model::new(self.module.spec.clone(), std::sync::Arc::new(engine)))
            }
            Backend::Cranelift => self.jitted(precision),
            Backend::Cuda => backend::cuda::gpu(&self.module, precision).map_err(|e| e.diagnostic(backend)),
        }
    }
}

/// Reads, checks and compiles a model file, with dims overridden by `overrides`
/// (`Override { name: "P".into(), value: "256".into() }` is `-D P=256`), and compiles its
/// kernels just in time on [`Backend::native`] (C where a C compiler works, else Cranelift):
/// the runtime model, ready to run.
///
/// On error, the diagnostics rendered as text (as `hsc check` prints them).
///
/// ```
/// let model = hsc::jit("../examples/nonlin_hru.ham", &[], hsc::kernel::Precision::F64).unwrap();
/// assert_eq!(model.spec().name, "NonlinHRU");
/// ```
pub fn jit(
    path: impl AsRef<std::path::Path>,
    overrides: &[Override],
    precision: kernel::Precision,
) -> Result<hsc_runtime::Model, String> {
    let compiled = load(path.as_ref(), overrides)?;
    compiled
        .model(Backend::native().0, precision)
        .map_err(|d| hsc_grammar::render(&[d], &path.as_ref().display().to_string(), "", false))
}

/// Reads, checks and compiles a model file to kernels; on error the diagnostics, rendered.
pub fn load(path: &std::path::Path, overrides: &[Override]) -> Result<Compiled, String> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| format!("error: cannot read `{name}`: {e}\n"))?;
    compile_source(&name, &bytes, overrides)
}

/// Checks and compiles the source of a model (`name` labels it in the diagnostics); on error
/// the diagnostics, rendered.
pub fn compile_source(name: &str, bytes: &[u8], overrides: &[Override]) -> Result<Compiled, String> {
    let front = front_end(bytes, overrides);
    let render = |ds: &[Diagnostic]| hsc_grammar::render(ds, name, &front.source, false);
    let (Some(program), Some(facts)) = (&front.program, &front.facts) else {
        return Err(render(&front.diagnostics));
    };
    compile(program.clone(), facts).map_err(|d| render(&[d]))
}

/// Derives the equations of a valid program, whose energy the analysis split as `facts`
/// says, and builds its kernels.
pub fn compile(program: ir::Program, facts: &analysis::Facts) -> Result<Compiled, Diagnostic> {
    let equations = equations(&program, facts)?;
    let module = kernel::Verified::new(kernel::build(&program, &equations)).map_err(|errors| {
        let what = format!("the kernels do not verify ({} violations)", errors.len());
        errors.iter().fold(Diagnostic::internal(what), |d, e| d.with_note(e.to_string()))
    })?;
    Ok(Compiled { program, equations, module })
}

/// The result of the front end on one file.
#[derive(Debug)]
pub struct FrontEnd {
    /// The source as text (invalid UTF-8 replaced), for rendering the diagnostics.
    pub source: String,
    /// The syntax tree (possibly partial when there are syntax errors).
    pub ast: hsc_grammar::ast::File,
    /// The checked program, when the file has no error.
    pub program: Option<ir::Program>,
    /// What the analysis found, when the file has no error.
    pub facts: Option<analysis::Facts>,
    /// Every error and warning, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and checks a model file given as bytes. Never panics: every problem, invalid
/// UTF-8 included, is a diagnostic. Semantic analysis runs only when the syntax is clean.
pub fn front_end(bytes: &[u8], overrides: &[Override]) -> FrontEnd {
    let (source, utf8_error) = match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), None),
        Err(e) => (String::from_utf8_lossy(bytes).into_owned(), Some(e)),
    };
    if let Some(e) = utf8_error {
        // In the lossy text the bad sequence became U+FFFD (3 bytes) at the same offset.
        let at = e.valid_up_to();
        let d = Diagnostic::error("the file is not valid UTF-8")
            .with_primary(Span::new(at, at + 3), format!("invalid byte sequence at byte {at}"))
            .with_note("a .ham file is UTF-8 text");
        return FrontEnd {
            source,
            ast: Default::default(),
            program: None,
            facts: None,
            diagnostics: vec![d],
        };
    }
    let (ast, mut diagnostics) = hsc_grammar::parse(&source);
    if has_errors(&diagnostics) {
        return FrontEnd { source, ast, program: None, facts: None, diagnostics };
    }
    let sema = sema::analyze(&ast, overrides);
    diagnostics.extend(sema.diagnostics);
    let Some(program) = sema.program else {
        return FrontEnd { source, ast, program: None, facts: None, diagnostics };
    };
    match analysis::analyze(&program) {
        Ok(facts) => FrontEnd { source, ast, program: Some(program), facts: Some(facts), diagnostics },
        Err(errors) => {
            diagnostics.extend(errors);
            FrontEnd { source, ast, program: None, facts: None, diagnostics }
        }
    }
}
