//! One diagnostic type for the whole compiler, and its rendering.
//!
//! Every stage reports problems as [`Diagnostic`] values: plain data (severity, message,
//! labelled spans, notes) that is collected first and rendered once, at the edge, through
//! codespan-reporting. Nothing here prints.

use std::fmt;

use codespan_reporting::diagnostic as cs;
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};

/// A byte range `start..end` in the source text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span `start..end`. Offsets beyond `u32::MAX` saturate (sources that large are
    /// refused before parsing).
    pub fn new(start: usize, end: usize) -> Span {
        let clamp = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
        Span { start: clamp(start), end: clamp(end.max(start)) }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span { start: self.start.min(other.start), end: self.end.max(other.end) }
    }

    /// The byte range, for slicing the source.
    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The model is accepted, but something looks wrong.
    Warning,
    /// The model is refused.
    Error,
}

/// A span with a message. The primary label says what is wrong; secondary labels give context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub span: Span,
    /// What, in a few words (may be empty).
    pub message: String,
    /// Whether this is the place of the problem rather than context for it.
    pub primary: bool,
}

/// A problem found in the user's input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// One sentence, lower case, no final period.
    pub message: String,
    /// Places in the source; may be empty (problems with command-line options).
    pub labels: Vec<Label>,
    /// Further lines, each rendered as `= note` (or `= help: ...`).
    pub notes: Vec<String>,
}

impl Diagnostic {
    /// An error with no labels yet.
    pub fn error(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// A bug of hsc rather than a problem with the user's model: "internal compiler error:
    /// `what`", with a request to report it. The one form every stage uses for its own bugs.
    pub fn internal(what: impl std::fmt::Display) -> Diagnostic {
        Diagnostic::error(format!("internal compiler error: {what}"))
            .with_note("please report this, with the model file")
    }

    /// A warning with no labels yet.
    pub fn warning(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(message) }
    }

    /// Adds the primary label: the place of the problem.
    pub fn with_primary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: true });
        self
    }

    /// Adds a secondary label: context for the problem.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, message: message.into(), primary: false });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    /// Adds a note that says how to fix the problem.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.notes.push(format!("help: {}", help.into()));
        self
    }

    /// Whether this diagnostic refuses the model.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Whether any of the diagnostics is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// Renders diagnostics against the source they point into, in the style of rustc: the source
/// line, a marker under the span, the label, the notes. With `color`, ANSI colour codes are
/// included; without, the text is plain (for pipes, files, snapshots and `NO_COLOR`).
pub fn render(diagnostics: &[Diagnostic], file_name: &str, source: &str, color: bool) -> String {
    let file = SimpleFile::new(file_name, source);
    let config = term::Config::default();
    let mut out = String::new();
    for d in diagnostics {
        let cs = to_codespan(d, source);
        let rendered = if color {
            let mut buffer = termcolor::Buffer::ansi();
            term::emit_to_write_style(&mut buffer, &config, &file, &cs)
                .map(|()| String::from_utf8_lossy(buffer.as_slice()).into_owned())
        } else {
            term::emit_into_string(&config, &file, &cs)
        };
        match rendered {
            Ok(text) => out.push_str(&text),
            // A span outside the source is a compiler bug; still show the message.
            Err(e) => out.push_str(&format!("{}: {} (span not shown: {e})\n", d.severity_word(), d.message)),
        }
    }
    out
}

impl Diagnostic {
    fn severity_word(&self) -> &'static str {
        match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

fn to_codespan(d: &Diagnostic, source: &str) -> cs::Diagnostic<()> {
    let severity = match d.severity {
        Severity::Error => cs::Severity::Error,
        Severity::Warning => cs::Severity::Warning,
    };
    // Keep every range inside the source and on character boundaries, so that rendering
    // can never slice through a multi-byte character.
    let clamp = |s: Span| {
        let mut start = (s.start as usize).min(source.len());
        while !source.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (s.end as usize).clamp(start, source.len());
        while !source.is_char_boundary(end) {
            end += 1;
        }
        start..end
    };
    let labels = d
        .labels
        .iter()
        .map(|l| {
            let style = if l.primary { cs::LabelStyle::Primary } else { cs::LabelStyle::Secondary };
            cs::Label::new(style, (), clamp(l.span)).with_message(l.message.clone())
        })
        .collect();
    cs::Diagnostic::new(severity)
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(d.notes.clone())
}
