//! Semantic analysis: from the syntax tree to the typed IR ([`crate::ir::Program`]).
//!
//! [`analyze`] checks a parsed file against the rules of language.md and lowers it:
//!
//! 1. **Declarations**: one `model` line, first; every name declared once and not a keyword or
//!    a built-in function; one `H`, at most one `loss` and one `integrator`.
//! 2. **Numbers**: dims (with `-D` overrides) and consts evaluated in any order
//!    ([`constant`]); every tensor's shape and size checked against [`MAX_ELEMENTS`]; param
//!    initialisers checked.
//! 3. **Expressions**: lets ordered by their uses (a cycle is an error), then lowered with H
//!    and the loss ([`expr`]): names resolved, indices bound by `sum` and `let`, one size per
//!    index, every access inside its array, wrap-around, explicit ranges.
//! 4. **Warnings**: unused lets, params, inputs and targets; functions that are not smooth.
//!
//! Every problem found is reported; the analysis goes on wherever it can, so one run lists
//! them all. The program is returned only when there is no error.

mod constant;
mod decls;
mod expr;
#[cfg(test)]
mod tests;

use hsc_grammar::{Diagnostic, Span, ast};

use crate::ir::Program;

/// The largest number of elements any one array may have, and so the largest dim.
pub const MAX_ELEMENTS: u64 = 1 << 28;

/// A `-D NAME=VALUE` from the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Override {
    /// The dim's name.
    pub name: String,
    /// The value as typed (checked by sema).
    pub value: String,
}

/// What sema produced: the program when the model is valid, and every diagnostic.
#[derive(Debug)]
pub struct Analysis {
    /// The typed IR, present when there is no error.
    pub program: Option<Program>,
    /// Errors and warnings, in the order found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks a parsed file and lowers it to the typed IR.
pub fn analyze(file: &ast::File, overrides: &[Override]) -> Analysis {
    decls::run(file, overrides)
}

/// What a declared name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SymbolKind {
    Dim,
    Const,
    Input,
    Param,
    Position,
    Momentum,
    Let,
    Target,
}

impl SymbolKind {
    fn word(self) -> &'static str {
        match self {
            SymbolKind::Dim => "dim",
            SymbolKind::Const => "const",
            SymbolKind::Input => "input",
            SymbolKind::Param => "param",
            SymbolKind::Position => "state",
            SymbolKind::Momentum => "momentum",
            SymbolKind::Let => "let",
            SymbolKind::Target => "target",
        }
    }
}

/// A declared name: what it is, and where (the name in its declaration).
#[derive(Clone, Copy, Debug)]
struct Symbol {
    kind: SymbolKind,
    span: Span,
}

/// Up to one close spelling among `candidates`, for "did you mean" help.
fn suggest<'c>(name: &str, candidates: impl IntoIterator<Item = &'c str>) -> Option<&'c str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.len().max(name.len()))
        .min()
        .map(|(_, c)| c)
}
