//! hsc-grammar: the .ham language's grammar, syntax tree and diagnostics.
//!
//! [`parse`] turns source text into an [`ast::File`] and a list of [`Diagnostic`]s. It never
//! fails and never panics: what it could not read is reported, and it goes on at the next
//! declaration. [`Diagnostic`] is the one problem type of the whole compiler; [`render`]
//! prints diagnostics against their source through codespan-reporting.
//!
//! ```
//! let source = "model M\nstate q momentum p\nH = 0.5 * p^2 + 0.5 * q^2\n";
//! let (file, diagnostics) = hsc_grammar::parse(source);
//! assert!(diagnostics.is_empty());
//! assert_eq!(file.decls.len(), 3);
//! ```

#![warn(missing_docs)]

pub mod ast;
pub mod diagnostic;
mod parser;

pub use diagnostic::{Diagnostic, Label, Severity, Span, has_errors, render};
pub use parser::{MAX_BRACKET_DEPTH, MAX_EXPR_DEPTH, MAX_SOURCE_BYTES, parse};
