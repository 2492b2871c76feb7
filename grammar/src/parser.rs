//! Source text to [`ast::File`], one declaration at a time, with recovery.
//!
//! The parser never fails: it returns the declarations it could read and a diagnostic for
//! every syntax error. After an error it skips to the next line that starts a declaration and
//! goes on, so one run reports the syntax errors of every declaration.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::Pair;

use crate::ast::{self, BinOp, Binder, Decl, DeclKind, Expr, ExprId, ExprKind, Ident};
use crate::diagnostic::{Diagnostic, Span};

#[derive(pest_derive::Parser)]
#[grammar = "ham.pest"]
struct HamParser;

/// Deepest bracket nesting accepted (`(`, `[`). Beyond it the source is refused before pest
/// runs, so that neither pest nor any later recursive walk can exhaust a thread's stack.
pub const MAX_BRACKET_DEPTH: usize = 64;
/// Deepest expression tree accepted (brackets, calls, sums and `^` all count one level).
pub const MAX_EXPR_DEPTH: u32 = 200;
/// Largest source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 16 << 20;

/// Words that begin a declaration; the parser resumes at a line that starts with one.
const DECL_KEYWORDS: [&str; 11] =
    ["model", "dim", "const", "input", "param", "state", "let", "target", "loss", "H", "integrator"];

/// Reserved words that cannot be names.
const RESERVED: [&str; 14] = [
    "model",
    "dim",
    "const",
    "input",
    "param",
    "state",
    "momentum",
    "let",
    "target",
    "loss",
    "H",
    "integrator",
    "sum",
    "in",
];

/// Parses a whole source text. Never panics; every problem is a diagnostic.
pub fn parse(source: &str) -> (ast::File, Vec<Diagnostic>) {
    let mut file = ast::File::default();
    let mut diagnostics = Vec::new();
    if source.len() > MAX_SOURCE_BYTES {
        let d = Diagnostic::error(format!(
            "the source is {} bytes long; hsc reads models of at most {} bytes",
            source.len(),
            MAX_SOURCE_BYTES
        ));
        return (file, vec![d]);
    }
    if let Some(d) = check_bracket_depth(source) {
        return (file, vec![d]);
    }
    pest::set_error_detail(true);

    let mut pos = skip_trivia(source, 0);
    while pos < source.len() {
        match HamParser::parse(Rule::item, &source[pos..]) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next().and_then(|item| item.into_inner().next()) else {
                    break;
                };
                let end = pos + pair.as_span().end();
                let mut builder = Builder { file: &mut file, offset: pos, errors: Vec::new() };
                let decl = builder.decl(pair);
                let errors = builder.errors;
                if errors.is_empty() {
                    file.decls.push(decl);
                }
                diagnostics.extend(errors);
                pos = skip_trivia(source, end.max(pos + 1));
            }
            Err(error) => {
                diagnostics.push(syntax_error(source, pos, &error));
                match next_decl_line(source, pos) {
                    Some(next) => pos = next,
                    None => break,
                }
            }
        }
    }
    (file, diagnostics)
}

/// Skips whitespace and `#` comments.
fn skip_trivia(source: &str, mut pos: usize) -> usize {
    let bytes = source.as_bytes();
    while pos < bytes.len() {
        match bytes[pos] {
            b' ' | b'\t' | b'\r' | b'\n' => pos += 1,
            b'#' => {
                while pos < bytes.len() && bytes[pos] != b'\n' {
                    pos += 1;
                }
            }
            _ => break,
        }
    }
    pos
}

/// The start of the first line after `pos` that begins with a declaration keyword.
fn next_decl_line(source: &str, pos: usize) -> Option<usize> {
    let mut line_start = source[pos..].find('\n')? + pos + 1;
    loop {
        let first = skip_spaces(source, line_start);
        if starts_decl(&source[first..]) {
            return Some(first);
        }
        line_start = source[line_start..].find('\n')? + line_start + 1;
    }
}

fn skip_spaces(source: &str, mut pos: usize) -> usize {
    while source[pos..].starts_with([' ', '\t', '\r']) {
        pos += 1;
    }
    pos
}

fn starts_decl(text: &str) -> bool {
    let word_end = text.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(text.len());
    DECL_KEYWORDS.contains(&&text[..word_end])
}

/// Refuses sources whose brackets nest deeper than [`MAX_BRACKET_DEPTH`].
fn check_bracket_depth(source: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let mut in_comment = false;
    for (i, c) in source.char_indices() {
        match c {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            '(' | '[' if !in_comment => {
                depth += 1;
                if depth > MAX_BRACKET_DEPTH {
                    return Some(
                        Diagnostic::error(format!("brackets nest more than {MAX_BRACKET_DEPTH} levels deep"))
                            .with_primary(Span::new(i, i + 1), "this bracket is one level too deep")
                            .with_help("name a part of the expression with `let`"),
                    );
                }
            }
            ')' | ']' if !in_comment => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

// ---- syntax errors --------------------------------------------------------------------------

fn syntax_error(source: &str, offset: usize, error: &pest::error::Error<Rule>) -> Diagnostic {
    let at = offset
        + match error.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let at = at.min(source.len());
    let (found, found_len) = token_at(source, at);
    // At the end of the file, point just after the last thing written, not at a blank line.
    let at = if found.is_empty() { trim_trivia_end(&source[..at]).len() } else { at };
    let expected = match &error.variant {
        ErrorVariant::ParsingError { positives, .. } => {
            let literals = error
                .parse_attempts()
                .map(|a| a.expected_tokens().iter().map(|t| t.to_string()).collect())
                .unwrap_or_default();
            expectation(positives, literals)
        }
        ErrorVariant::CustomError { message } => message.clone(),
    };
    let span = Span::new(at, at + found_len.max(1));
    let span = if found.is_empty() { Span::new(at, at) } else { span };
    let (message, label) = if found.is_empty() {
        ("unexpected end of file".to_owned(), format!("expected {expected}"))
    } else if RESERVED.contains(&found.as_str()) && expected.contains("a name") {
        (format!("`{found}` is a keyword and cannot be used as a name"), "expected a name here".to_owned())
    } else if RESERVED.contains(&found.as_str()) {
        (format!("unexpected keyword `{found}`"), format!("expected {expected}"))
    } else if found.starts_with("U+") {
        (format!("unexpected invisible character {found}"), format!("expected {expected}"))
    } else {
        (format!("unexpected `{found}`"), format!("expected {expected}"))
    };
    let mut d = Diagnostic::error(message).with_primary(span, label);
    if expected.contains("a declaration") {
        d = d.with_note(
            "a declaration starts with `model`, `dim`, `const`, `input`, `param`, `state`, \
             `let`, `target`, `loss =`, `H =` or `integrator`",
        );
    }
    if found.starts_with("U+") {
        d = d.with_help("only spaces, tabs and newlines separate tokens; delete this character");
    }
    if found == ";" {
        d = d.with_help("declarations need no `;`: end the line instead");
    }
    let unclosed = source.get(offset..at).and_then(unclosed_bracket);
    if let Some(open) = unclosed.filter(|_| expected.contains("`)`") || expected.contains("`]`")) {
        d = d.with_secondary(Span::new(offset + open, offset + open + 1), "this bracket is never closed");
    }
    d
}

/// The offset of the last bracket in `text` that is still open at its end.
fn unclosed_bracket(text: &str) -> Option<usize> {
    let mut open = Vec::new();
    let mut in_comment = false;
    for (i, c) in text.char_indices() {
        match c {
            '#' => in_comment = true,
            '\n' => in_comment = false,
            '(' | '[' if !in_comment => open.push(i),
            ')' | ']' if !in_comment => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

/// The token that starts at `at`: a word, a number or one character.
/// Returns how to show it, and its length in bytes; empty at the end of the file. A character
/// that cannot be seen (a vertical tab, a no-break space) is shown by its code point.
fn token_at(source: &str, at: usize) -> (String, usize) {
    let rest = source.get(at..).unwrap_or_default();
    let Some(first) = rest.chars().next() else { return (String::new(), 0) };
    if first.is_ascii_alphanumeric() || first == '_' {
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'));
        let word = rest[..end.unwrap_or(rest.len())].trim_end_matches('.');
        (word.to_owned(), word.len())
    } else if rest.trim_start_matches([' ', '\t', '\r', '\n']).is_empty() {
        (String::new(), 0)
    } else if first.is_whitespace() || first.is_control() {
        (format!("U+{:04X}", first as u32), first.len_utf8())
    } else {
        (first.to_string(), first.len_utf8())
    }
}

/// Turns what pest expected into words: "`)`, `,` or an operator".
fn expectation(positives: &[Rule], literals: Vec<String>) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut push = |w: String| {
        if !words.contains(&w) {
            words.push(w);
        }
    };
    for lit in literals {
        match lit.as_str() {
            "+" | "-" | "*" | "/" | "%" | "^" => push("an operator".into()),
            // `(` and `[` could always follow a name (a call, an element); they are rarely
            // what was missing, so they are left out.
            ")" | "]" | "," | "=" | ".." => push(format!("`{lit}`")),
            _ => {}
        }
    }
    for rule in positives {
        let word = match rule {
            Rule::ident => "a name",
            Rule::number => "a number",
            Rule::expr
            | Rule::term
            | Rule::unary
            | Rule::power
            | Rule::paren
            | Rule::call
            | Rule::indexed
            | Rule::sum_call
            | Rule::neg => "an expression",
            Rule::add_op | Rule::mul_op | Rule::pow_op => "an operator",
            Rule::item
            | Rule::decl
            | Rule::model_decl
            | Rule::dim_decl
            | Rule::const_decl
            | Rule::input_decl
            | Rule::param_decl
            | Rule::state_decl
            | Rule::let_decl
            | Rule::target_decl
            | Rule::loss_decl
            | Rule::hamiltonian
            | Rule::integrator_decl
            | Rule::kw_model
            | Rule::kw_dim
            | Rule::kw_const
            | Rule::kw_input
            | Rule::kw_param
            | Rule::kw_state
            | Rule::kw_let
            | Rule::kw_target
            | Rule::kw_loss
            | Rule::kw_h
            | Rule::kw_integrator => "a declaration",
            Rule::kw_momentum => "`momentum`",
            Rule::kw_in => "`in`",
            Rule::binder => "an index name",
            Rule::shape | Rule::let_indices => "`[`",
            _ => continue,
        };
        push(word.into());
    }
    // "a name" is implied by "an expression"; an operator offered beside an expression is
    // the sign of a unary minus, also implied.
    if words.iter().any(|w| w == "an expression") {
        words.retain(|w| w != "a name" && w != "a number" && w != "an operator");
    }
    match words.len() {
        0 => "something else".into(),
        1 => words.remove(0),
        n => format!("{} or {}", words[..n - 1].join(", "), words[n - 1]),
    }
}

// ---- pairs to AST ---------------------------------------------------------------------------

struct Builder<'f> {
    file: &'f mut ast::File,
    offset: usize,
    errors: Vec<Diagnostic>,
}

impl Builder<'_> {
    /// The span of a pair, without the whitespace and comments pest may leave at its end.
    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        let text = trim_trivia_end(pair.as_str());
        Span::new(self.offset + s.start(), self.offset + s.start() + text.len())
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        Ident { name: pair.as_str().to_owned(), span: self.span(&pair) }
    }

    fn push(&mut self, kind: ExprKind, span: Span) -> ExprId {
        let id = ExprId(u32::try_from(self.file.exprs.len()).unwrap_or(u32::MAX));
        self.file.exprs.push(Expr { kind, span });
        id
    }

    fn decl(&mut self, pair: Pair<'_, Rule>) -> Decl {
        let span = self.span(&pair);
        let inner = pair.into_inner().next().expect("grammar: decl has one alternative");
        let rule = inner.as_rule();
        let mut parts = inner.into_inner().filter(|p| !is_keyword_rule(p.as_rule()));
        let mut next = || parts.next().expect("grammar: declaration parts");
        let kind = match rule {
            Rule::model_decl => DeclKind::Model(self.ident(next())),
            Rule::dim_decl => {
                let name = self.ident(next());
                DeclKind::Dim { name, value: self.expr(next()) }
            }
            Rule::const_decl => {
                let name = self.ident(next());
                DeclKind::Const { name, value: self.expr(next()) }
            }
            Rule::input_decl | Rule::target_decl => {
                let name = self.ident(next());
                let shape = parts.next().map(|s| self.list(s)).unwrap_or_default();
                if rule == Rule::input_decl {
                    DeclKind::Input { name, shape }
                } else {
                    DeclKind::Target { name, shape }
                }
            }
            Rule::param_decl => {
                let name = self.ident(next());
                let (mut shape, mut init) = (Vec::new(), None);
                for p in parts.by_ref() {
                    if p.as_rule() == Rule::shape {
                        shape = self.list(p);
                    } else {
                        init = Some(self.expr(p));
                    }
                }
                DeclKind::Param { name, shape, init }
            }
            Rule::state_decl => {
                let position = self.ident(next());
                let mut shape = Vec::new();
                let mut momentum = None;
                for p in parts.by_ref() {
                    if p.as_rule() == Rule::shape {
                        shape = self.list(p);
                    } else {
                        momentum = Some(self.ident(p));
                    }
                }
                let momentum = momentum.expect("grammar: state has a momentum");
                DeclKind::State { position, shape, momentum }
            }
            Rule::let_decl => {
                let name = self.ident(next());
                let mut indices = Vec::new();
                let mut body = None;
                for p in parts.by_ref() {
                    if p.as_rule() == Rule::let_indices {
                        indices = p.into_inner().map(|i| self.ident(i)).collect();
                    } else {
                        body = Some(self.expr(p));
                    }
                }
                DeclKind::Let { name, indices, body: body.expect("grammar: let has a body") }
            }
            Rule::loss_decl => DeclKind::Loss(self.expr(next())),
            Rule::hamiltonian => DeclKind::Hamiltonian(self.expr(next())),
            Rule::integrator_decl => {
                let method = self.ident(next());
                let args = parts
                    .map(|arg| {
                        let mut kv = arg.into_inner();
                        let key = self.ident(kv.next().expect("grammar: arg name"));
                        let value = self.expr(kv.next().expect("grammar: arg value"));
                        (key, value)
                    })
                    .collect();
                DeclKind::Integrator { method, args }
            }
            r => unreachable!("grammar: unexpected declaration rule {r:?}"),
        };
        Decl { kind, span }
    }

    fn list(&mut self, pair: Pair<'_, Rule>) -> Vec<ExprId> {
        pair.into_inner().map(|p| self.expr(p)).collect()
    }

    /// Builds an expression; its depth is checked against [`MAX_EXPR_DEPTH`].
    fn expr(&mut self, pair: Pair<'_, Rule>) -> ExprId {
        self.expr_rec(pair).0
    }

    /// Builds an expression and returns it with its depth.
    fn expr_rec(&mut self, pair: Pair<'_, Rule>) -> (ExprId, u32) {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr | Rule::term => {
                let mut inner = pair.into_inner();
                let first = inner.next().expect("grammar: chain head");
                let (head, mut depth) = self.expr_rec(first);
                let mut tail = Vec::new();
                while let Some(op) = inner.next() {
                    let op = match op.as_str() {
                        "+" => BinOp::Add,
                        "-" => BinOp::Sub,
                        "*" => BinOp::Mul,
                        "/" => BinOp::Div,
                        _ => BinOp::Rem,
                    };
                    let (x, d) = self.expr_rec(inner.next().expect("grammar: operand"));
                    depth = depth.max(d);
                    tail.push((op, x));
                }
                if tail.is_empty() {
                    (head, depth)
                } else {
                    self.node(ExprKind::Chain { head, tail }, span, depth + 1)
                }
            }
            Rule::unary => {
                let mut negs = 0usize;
                let mut result = None;
                for p in pair.into_inner() {
                    if p.as_rule() == Rule::neg {
                        negs += 1;
                    } else {
                        result = Some(self.expr_rec(p));
                    }
                }
                let (x, depth) = result.expect("grammar: unary operand");
                // `--x` is `x`: fold the signs instead of nesting them.
                if negs % 2 == 1 { self.node(ExprKind::Neg(x), span, depth + 1) } else { (x, depth) }
            }
            Rule::power => {
                // atom (^ neg* atom)*, folded from the right: `a^-b^c` is a^(-(b^c)); the
                // signs written before an exponent apply to the whole chain on its right.
                let mut operands: Vec<(usize, ExprId, u32, Span)> = Vec::new();
                let mut negs = 0;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::neg => negs += 1,
                        Rule::pow_op => {}
                        _ => {
                            let s = self.span(&p);
                            let (x, d) = self.expr_rec(p);
                            operands.push((negs, x, d, s));
                            negs = 0;
                        }
                    }
                }
                let (mut negs, mut acc, mut depth, mut acc_span) =
                    operands.pop().expect("grammar: power operand");
                while let Some((n, base, d, base_span)) = operands.pop() {
                    if negs % 2 == 1 {
                        (acc, depth) = self.node(ExprKind::Neg(acc), acc_span, depth + 1);
                    }
                    acc_span = base_span.to(acc_span);
                    (acc, depth) =
                        self.node(ExprKind::Pow { base, exponent: acc }, acc_span, depth.max(d) + 1);
                    negs = n;
                }
                (acc, depth)
            }
            Rule::number => {
                let text = pair.as_str().to_owned();
                let value: f64 = text.parse().unwrap_or(f64::INFINITY);
                if !value.is_finite() {
                    self.errors.push(
                        Diagnostic::error("number too large")
                            .with_primary(span, "this does not fit in a 64-bit float")
                            .with_note("the largest finite value is about 1.8e308"),
                    );
                }
                self.node(ExprKind::Number { value, text }, span, 1)
            }
            Rule::ident => {
                let id = self.ident(pair);
                self.node(ExprKind::Name(id), span, 1)
            }
            Rule::paren => {
                let (x, d) = self.expr_rec(pair.into_inner().next().expect("grammar: paren"));
                self.node(ExprKind::Paren(x), span, d + 1)
            }
            Rule::call | Rule::indexed => {
                let rule = pair.as_rule();
                let mut inner = pair.into_inner();
                let name = self.ident(inner.next().expect("grammar: callee"));
                let mut depth = 0;
                let args: Vec<ExprId> = inner
                    .map(|p| {
                        let (x, d) = self.expr_rec(p);
                        depth = depth.max(d);
                        x
                    })
                    .collect();
                let kind = if rule == Rule::call {
                    ExprKind::Call { func: name, args }
                } else {
                    ExprKind::Index { base: name, indices: args }
                };
                self.node(kind, span, depth + 1)
            }
            Rule::sum_call => {
                let mut binders = Vec::new();
                let mut body = None;
                let mut depth = 0;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::kw_sum => {}
                        Rule::binder => {
                            let mut b = p.into_inner();
                            let name = self.ident(b.next().expect("grammar: binder name"));
                            let range = match (b.next(), b.next(), b.next()) {
                                (Some(_kw_in), Some(lo), Some(hi)) => {
                                    let (lo, d1) = self.expr_rec(lo);
                                    let (hi, d2) = self.expr_rec(hi);
                                    depth = depth.max(d1).max(d2);
                                    Some((lo, hi))
                                }
                                _ => None,
                            };
                            binders.push(Binder { name, range });
                        }
                        _ => {
                            let (x, d) = self.expr_rec(p);
                            depth = depth.max(d);
                            body = Some(x);
                        }
                    }
                }
                let body = body.expect("grammar: sum body");
                self.node(ExprKind::Sum { binders, body }, span, depth + 1)
            }
            r => unreachable!("grammar: unexpected expression rule {r:?}"),
        }
    }

    /// Pushes a node of the given depth, reporting the first node that is too deep.
    fn node(&mut self, kind: ExprKind, span: Span, depth: u32) -> (ExprId, u32) {
        if depth == MAX_EXPR_DEPTH + 1 {
            self.errors.push(
                Diagnostic::error(format!("expression nested more than {MAX_EXPR_DEPTH} levels deep"))
                    .with_primary(span, "this expression is too deep")
                    .with_help("name parts of it with `let`"),
            );
        }
        (self.push(kind, span), depth)
    }
}

/// `text` without trailing whitespace and `#` comments. A `#` is never part of an expression,
/// so one on the last line starts a comment.
fn trim_trivia_end(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_end();
        let last_line = trimmed.rfind('\n').map_or(0, |i| i + 1);
        match trimmed[last_line..].find('#') {
            Some(hash) => text = &trimmed[..last_line + hash],
            None => return trimmed,
        }
    }
}

fn is_keyword_rule(rule: Rule) -> bool {
    matches!(
        rule,
        Rule::kw_model
            | Rule::kw_dim
            | Rule::kw_const
            | Rule::kw_input
            | Rule::kw_param
            | Rule::kw_state
            | Rule::kw_momentum
            | Rule::kw_let
            | Rule::kw_target
            | Rule::kw_loss
            | Rule::kw_h
            | Rule::kw_integrator
    )
}
