//! Compile-time numbers: `dim` and `const` values (with `-D` overrides), sizes, ranges,
//! initialiser arguments and fixed steps.
//!
//! Dims and consts may refer to each other in any order (`dim M = 2 * P`); they are evaluated
//! on demand and remembered, and a cycle is an error.

use std::collections::HashMap;

use hsc_grammar::ast::{self, BinOp, ExprKind};
use hsc_grammar::{Diagnostic, Span};

use crate::ir::Func;

use super::{MAX_ELEMENTS, Override, Symbol};

/// Longest chain of dims and consts referring to one another.
const MAX_CHAIN: usize = 256;

/// The evaluation state of one dim or const.
#[derive(Clone, Copy, Debug)]
enum State {
    Todo,
    Busy,
    Done(f64),
    Failed,
}

/// Evaluates dims and consts, and constant expressions over them.
pub(super) struct Constants<'a> {
    file: &'a ast::File,
    names: &'a HashMap<String, Symbol>,
    /// Value expression and state of every dim and const, by name.
    states: HashMap<String, (ast::ExprId, bool, State)>,
    overrides: HashMap<String, u64>,
    depth: usize,
    pub(super) diagnostics: Vec<Diagnostic>,
}

impl<'a> Constants<'a> {
    /// Prepares the dims and consts of `file`; `names` maps every declared name.
    pub(super) fn new(file: &'a ast::File, names: &'a HashMap<String, Symbol>) -> Constants<'a> {
        let mut states = HashMap::new();
        for d in &file.decls {
            match &d.kind {
                ast::DeclKind::Dim { name, value } => {
                    states.entry(name.name.clone()).or_insert((*value, true, State::Todo));
                }
                ast::DeclKind::Const { name, value } => {
                    states.entry(name.name.clone()).or_insert((*value, false, State::Todo));
                }
                _ => {}
            }
        }
        Constants { file, names, states, overrides: HashMap::new(), depth: 0, diagnostics: Vec::new() }
    }

    /// Checks and records `-D NAME=VALUE` overrides.
    pub(super) fn set_overrides(&mut self, overrides: &[Override]) {
        let dims: Vec<&str> =
            self.states.iter().filter(|(_, (_, is_dim, _))| *is_dim).map(|(n, _)| n.as_str()).collect();
        for o in overrides {
            let flag = format!("-D {}={}", o.name, o.value);
            if !dims.contains(&o.name.as_str()) {
                let mut sorted = dims.clone();
                sorted.sort();
                let mut d = Diagnostic::error(format!("{flag}: the model has no dim `{}`", o.name));
                d = match self.names.get(&o.name) {
                    Some(sym) => d.with_secondary(
                        sym.span,
                        format!("`{}` is a {}, not a dim", o.name, sym.kind.word()),
                    ),
                    None => d,
                };
                d = if sorted.is_empty() {
                    d.with_note("this model declares no dims")
                } else {
                    d.with_note(format!("its dims are {}", sorted.join(", ")))
                };
                self.diagnostics.push(d);
                continue;
            }
            let decl_span = self.names.get(&o.name).map(|s| s.span).unwrap_or_default();
            let value = match o.value.trim().parse::<u64>() {
                Ok(0) => Err("a size must be at least 1".to_owned()),
                Ok(v) if v > MAX_ELEMENTS => Err(format!("hsc refuses sizes above {MAX_ELEMENTS}")),
                Ok(v) => Ok(v),
                Err(_)
                    if o.value.trim().bytes().all(|b| b.is_ascii_digit()) && !o.value.trim().is_empty() =>
                {
                    Err(format!(
                        "{} does not fit in 64 bits; hsc refuses sizes above {MAX_ELEMENTS}",
                        o.value
                    ))
                }
                Err(_) => Err(format!("`{}` is not a whole number", o.value)),
            };
            match value {
                Ok(v) => {
                    if self.overrides.insert(o.name.clone(), v).is_some() {
                        self.diagnostics
                            .push(Diagnostic::error(format!("{flag}: `{}` is set twice with -D", o.name)));
                    }
                }
                Err(why) => self.diagnostics.push(
                    Diagnostic::error(format!("{flag}: {why}"))
                        .with_secondary(decl_span, format!("`{}` is declared here", o.name)),
                ),
            }
        }
    }

    /// The value of a dim, or `None` after reporting why it has none.
    pub(super) fn dim(&mut self, name: &str) -> Option<u64> {
        if let Some(&v) = self.overrides.get(name) {
            // Still evaluate the written default, so its errors are reported.
            self.named(name, Span::default());
            return Some(v);
        }
        self.named(name, Span::default()).map(|v| v as u64)
    }

    /// The value of a const.
    pub(super) fn constant(&mut self, name: &str) -> Option<f64> {
        self.named(name, Span::default())
    }

    /// Whether `-D` set this dim.
    pub(super) fn is_overridden(&self, name: &str) -> bool {
        self.overrides.contains_key(name)
    }

    fn named(&mut self, name: &str, use_span: Span) -> Option<f64> {
        let (expr, is_dim, state) = *self.states.get(name)?;
        match state {
            State::Done(v) => {
                if is_dim {
                    return Some(self.overrides.get(name).map_or(v, |&o| o as f64));
                }
                Some(v)
            }
            State::Failed => None,
            State::Busy => {
                let d = Diagnostic::error(format!("`{name}` is defined in terms of itself"))
                    .with_primary(use_span, format!("`{name}` is used here while it is being defined"));
                self.diagnostics.push(d);
                self.set(name, State::Failed);
                None
            }
            State::Todo if self.depth >= MAX_CHAIN => {
                let d = Diagnostic::error(format!(
                    "dims and consts refer to each other more than {MAX_CHAIN} levels deep"
                ))
                .with_primary(use_span, "while evaluating this");
                self.diagnostics.push(d);
                None
            }
            State::Todo => {
                self.set(name, State::Busy);
                self.depth += 1;
                let what = if is_dim { format!("dim `{name}`") } else { format!("const `{name}`") };
                let value = self.eval(expr, &what);
                self.depth -= 1;
                let value = value.and_then(|v| if is_dim { self.check_dim(name, expr, v) } else { Some(v) });
                if let Some(State::Failed) = self.states.get(name).map(|s| s.2) {
                    return None;
                }
                self.set(name, value.map_or(State::Failed, State::Done));
                if is_dim {
                    return value.map(|v| self.overrides.get(name).map_or(v, |&o| o as f64));
                }
                value
            }
        }
    }

    fn set(&mut self, name: &str, state: State) {
        if let Some(entry) = self.states.get_mut(name) {
            entry.2 = state;
        }
    }

    fn check_dim(&mut self, name: &str, expr: ast::ExprId, v: f64) -> Option<f64> {
        let span = self.file.expr(expr).span;
        let problem = if v.fract() != 0.0 {
            Some(format!("dim `{name}` must be a whole number, not {v}"))
        } else if v < 1.0 {
            Some(format!("dim `{name}` must be at least 1, not {v}"))
        } else if v > MAX_ELEMENTS as f64 {
            Some(format!("dim `{name}` is too large"))
        } else {
            None
        };
        match problem {
            None => Some(v),
            Some(message) => {
                let text = match &self.file.expr(expr).kind {
                    ExprKind::Number { text, .. } => text.clone(),
                    _ => v.to_string(),
                };
                self.diagnostics.push(
                    Diagnostic::error(message)
                        .with_primary(span, format!("{text} is not a size"))
                        .with_note(format!("a size is a whole number from 1 to {MAX_ELEMENTS}")),
                );
                None
            }
        }
    }

    /// Evaluates a constant expression; `what` names it in diagnostics ("the size of `W`").
    pub(super) fn eval(&mut self, id: ast::ExprId, what: &str) -> Option<f64> {
        let e = self.file.expr(id);
        let value = match &e.kind {
            ExprKind::Number { value, .. } => Some(*value),
            ExprKind::Paren(x) => self.eval(*x, what),
            ExprKind::Neg(x) => self.eval(*x, what).map(|v| -v),
            ExprKind::Name(n) => match self.names.get(&n.name).map(|s| s.kind) {
                Some(super::SymbolKind::Dim | super::SymbolKind::Const) => self.named(&n.name, n.span),
                Some(kind) => {
                    self.not_constant(e.span, what, &format!("`{}` is a {}", n.name, kind.word()));
                    None
                }
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(format!("unknown name `{}`", n.name))
                            .with_primary(n.span, "not declared")
                            .with_note(format!("{what} must be made of numbers, dims and consts")),
                    );
                    None
                }
            },
            ExprKind::Chain { head, tail } => {
                let mut acc = self.eval(*head, what);
                for &(op, x) in tail {
                    let rhs = self.eval(x, what);
                    acc = match (acc, rhs) {
                        (Some(a), Some(b)) => match op {
                            BinOp::Add => Some(a + b),
                            BinOp::Sub => Some(a - b),
                            BinOp::Mul => Some(a * b),
                            BinOp::Div => Some(a / b),
                            BinOp::Rem => Some(a.rem_euclid(b)),
                        },
                        _ => None,
                    };
                }
                acc
            }
            ExprKind::Pow { base, exponent } => {
                let (b, x) = (self.eval(*base, what), self.eval(*exponent, what));
                Some(b?.powf(x?))
            }
            ExprKind::Call { func, args } => match Func::from_name(&func.name) {
                Some(f) if args.len() == 1 => self.eval(args[0], what).map(|v| f.eval(v)),
                _ => {
                    self.not_constant(
                        e.span,
                        what,
                        &format!("`{}(...)` is not a built-in function of one number", func.name),
                    );
                    None
                }
            },
            ExprKind::Index { base, .. } => {
                self.not_constant(e.span, what, &format!("`{}[...]` is an array element", base.name));
                None
            }
            ExprKind::Sum { .. } => {
                self.not_constant(e.span, what, "a sum is not allowed here");
                None
            }
        }?;
        if value.is_finite() {
            Some(value)
        } else {
            self.diagnostics.push(
                Diagnostic::error(format!("{what} is not a finite number"))
                    .with_primary(e.span, format!("this evaluates to {value}")),
            );
            None
        }
    }

    fn not_constant(&mut self, span: Span, what: &str, why: &str) {
        self.diagnostics.push(
            Diagnostic::error(format!("{what} must be known at compile time"))
                .with_primary(span, why.to_owned())
                .with_note("use numbers, dims, consts, arithmetic and built-in functions"),
        );
    }

    /// Evaluates a constant that must be a whole number (sizes, ranges, offsets).
    pub(super) fn integer(&mut self, id: ast::ExprId, what: &str) -> Option<i64> {
        let v = self.eval(id, what)?;
        if v.fract() == 0.0 && v.abs() <= (1u64 << 53) as f64 {
            Some(v as i64)
        } else {
            let span = self.file.expr(id).span;
            self.diagnostics.push(
                Diagnostic::error(format!("{what} must be a whole number"))
                    .with_primary(span, format!("this is {v}")),
            );
            None
        }
    }

    /// Evaluates a size: a whole number from 1 to [`MAX_ELEMENTS`]; also returns the dim's name
    /// when the size is written as a bare dim.
    pub(super) fn size(&mut self, id: ast::ExprId, what: &str) -> Option<(u64, Option<String>)> {
        let v = self.integer(id, what)?;
        let span = self.file.expr(id).span;
        if v < 1 || v as u64 > MAX_ELEMENTS {
            self.diagnostics.push(
                Diagnostic::error(format!("{what} must be from 1 to {MAX_ELEMENTS}"))
                    .with_primary(span, format!("this is {v}")),
            );
            return None;
        }
        let dim = match &self.file.expr(id).kind {
            ExprKind::Name(n)
                if self.names.get(&n.name).is_some_and(|s| s.kind == super::SymbolKind::Dim) =>
            {
                Some(n.name.clone())
            }
            _ => None,
        };
        Some((v as u64, dim))
    }
}
