//! The syntax tree of a .ham file, with spans.
//!
//! Expressions live in one arena ([`File::exprs`]) and refer to each other by [`ExprId`];
//! children are always pushed before their parents. Chains of `+ -` and of `* / %` are kept
//! flat ([`ExprKind::Chain`]), so a sum of ten thousand terms is one node, not a tree ten
//! thousand deep; the parser bounds the remaining depth (brackets, `^`), which keeps every
//! recursive walk over the tree within a small stack.

use std::fmt;

use crate::diagnostic::Span;

/// A whole file: its declarations in source order and the expressions they use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// Declarations, in the order written.
    pub decls: Vec<Decl>,
    /// Every expression of the file; children before parents.
    pub exprs: Vec<Expr>,
}

/// Index of an expression in [`File::exprs`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

impl File {
    /// The expression behind a handle.
    pub fn expr(&self, id: ExprId) -> &Expr {
        &self.exprs[id.0 as usize]
    }
}

/// A name as written, with its place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    /// The text.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// One declaration (a line of the language's table, possibly spanning several lines).
#[derive(Clone, Debug, PartialEq)]
pub struct Decl {
    /// What is declared.
    pub kind: DeclKind,
    /// The whole declaration.
    pub span: Span,
}

/// The forms of declaration. Fields are named after the syntax shown in each variant's doc.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq)]
pub enum DeclKind {
    /// `model Name`
    Model(Ident),
    /// `dim P = 64`
    Dim { name: Ident, value: ExprId },
    /// `const g = 9.81`
    Const { name: Ident, value: ExprId },
    /// `input u[N]`
    Input { name: Ident, shape: Vec<ExprId> },
    /// `param W[P] = init`
    Param { name: Ident, shape: Vec<ExprId>, init: Option<ExprId> },
    /// `state q[P] momentum p`
    State { position: Ident, shape: Vec<ExprId>, momentum: Ident },
    /// `let name[i, j] = expr`
    Let { name: Ident, indices: Vec<Ident>, body: ExprId },
    /// `target y[K]`
    Target { name: Ident, shape: Vec<ExprId> },
    /// `loss = expr`
    Loss(ExprId),
    /// `H = expr`
    Hamiltonian(ExprId),
    /// `integrator leapfrog(dt = 0.1)`
    Integrator { method: Ident, args: Vec<(Ident, ExprId)> },
}

impl DeclKind {
    /// The keyword that starts this declaration.
    pub fn keyword(&self) -> &'static str {
        match self {
            DeclKind::Model(_) => "model",
            DeclKind::Dim { .. } => "dim",
            DeclKind::Const { .. } => "const",
            DeclKind::Input { .. } => "input",
            DeclKind::Param { .. } => "param",
            DeclKind::State { .. } => "state",
            DeclKind::Let { .. } => "let",
            DeclKind::Target { .. } => "target",
            DeclKind::Loss(_) => "loss",
            DeclKind::Hamiltonian(_) => "H",
            DeclKind::Integrator { .. } => "integrator",
        }
    }
}

/// An expression node.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// The text it was parsed from.
    pub span: Span,
}

/// The forms of expression. Fields are named after the syntax shown in each variant's doc.
#[allow(missing_docs)]
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A literal; `text` is kept so that sizes can be checked exactly.
    Number { value: f64, text: String },
    /// A bare name: a scalar, a dim, a const, or an index inside `[ ]`.
    Name(Ident),
    /// `base[e, ...]`
    Index { base: Ident, indices: Vec<ExprId> },
    /// `func(e, ...)`
    Call { func: Ident, args: Vec<ExprId> },
    /// `sum(i, j in a..b, body)`
    Sum { binders: Vec<Binder>, body: ExprId },
    /// `-e`
    Neg(ExprId),
    /// `head op e op e ...` with operators of one precedence level (`+ -` or `* / %`),
    /// evaluated left to right.
    Chain { head: ExprId, tail: Vec<(BinOp, ExprId)> },
    /// `base ^ exponent` (right-associative: `a^b^c` is `a^(b^c)`).
    Pow { base: ExprId, exponent: ExprId },
    /// `(e)`, kept so that spans and printing follow the source.
    Paren(ExprId),
}

/// A binary operator of a [`ExprKind::Chain`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%` (wrap-around in indices)
    Rem,
}

impl BinOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
        }
    }
}

/// One index of a `sum`, with its optional explicit range `lo..hi` (half-open).
#[derive(Clone, Debug, PartialEq)]
pub struct Binder {
    /// The index name.
    pub name: Ident,
    /// `in lo..hi`, when written.
    pub range: Option<(ExprId, ExprId)>,
}

// ---- printing -------------------------------------------------------------------------------

/// Prints the tree one node per line, indented, with each node's `line:column`; the form of
/// `hsc emit --stage ast` and of the `{example}@ast` snapshots.
pub struct Printer<'a> {
    file: &'a File,
    lines: LineIndex,
}

impl<'a> Printer<'a> {
    /// A printer for `file`, whose spans point into `source`.
    pub fn new(file: &'a File, source: &str) -> Printer<'a> {
        Printer { file, lines: LineIndex::new(source) }
    }

    fn at(&self, span: Span) -> String {
        let (line, col) = self.lines.line_col(span.start);
        format!("@{line}:{col}")
    }

    fn shape(&self, f: &mut fmt::Formatter<'_>, shape: &[ExprId], depth: usize) -> fmt::Result {
        for &e in shape {
            writeln!(f, "{:indent$}size", "", indent = 2 * depth)?;
            self.expr(f, e, depth + 1)?;
        }
        Ok(())
    }

    fn expr(&self, f: &mut fmt::Formatter<'_>, id: ExprId, depth: usize) -> fmt::Result {
        let e = self.file.expr(id);
        let pad = 2 * depth;
        let at = self.at(e.span);
        match &e.kind {
            ExprKind::Number { text, .. } => writeln!(f, "{:pad$}number {text} {at}", ""),
            ExprKind::Name(n) => writeln!(f, "{:pad$}name {} {at}", "", n.name),
            ExprKind::Index { base, indices } => {
                writeln!(f, "{:pad$}index {} {at}", "", base.name)?;
                indices.iter().try_for_each(|&i| self.expr(f, i, depth + 1))
            }
            ExprKind::Call { func, args } => {
                writeln!(f, "{:pad$}call {} {at}", "", func.name)?;
                args.iter().try_for_each(|&a| self.expr(f, a, depth + 1))
            }
            ExprKind::Sum { binders, body } => {
                writeln!(f, "{:pad$}sum {at}", "")?;
                for b in binders {
                    writeln!(f, "{:pad$}  binder {} {}", "", b.name.name, self.at(b.name.span))?;
                    if let Some((lo, hi)) = b.range {
                        self.expr(f, lo, depth + 2)?;
                        self.expr(f, hi, depth + 2)?;
                    }
                }
                self.expr(f, *body, depth + 1)
            }
            ExprKind::Neg(x) => {
                writeln!(f, "{:pad$}neg {at}", "")?;
                self.expr(f, *x, depth + 1)
            }
            ExprKind::Chain { head, tail } => {
                let ops: Vec<&str> = tail.iter().map(|(op, _)| op.symbol()).collect();
                writeln!(f, "{:pad$}chain {} {at}", "", ops.join(" "))?;
                self.expr(f, *head, depth + 1)?;
                tail.iter().try_for_each(|&(_, x)| self.expr(f, x, depth + 1))
            }
            ExprKind::Pow { base, exponent } => {
                writeln!(f, "{:pad$}pow {at}", "")?;
                self.expr(f, *base, depth + 1)?;
                self.expr(f, *exponent, depth + 1)
            }
            ExprKind::Paren(x) => {
                writeln!(f, "{:pad$}paren {at}", "")?;
                self.expr(f, *x, depth + 1)
            }
        }
    }
}

impl fmt::Display for Printer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.file.decls {
            let at = self.at(d.span);
            match &d.kind {
                DeclKind::Model(n) => writeln!(f, "model {} {at}", n.name)?,
                DeclKind::Dim { name, value } => {
                    writeln!(f, "dim {} {at}", name.name)?;
                    self.expr(f, *value, 1)?;
                }
                DeclKind::Const { name, value } => {
                    writeln!(f, "const {} {at}", name.name)?;
                    self.expr(f, *value, 1)?;
                }
                DeclKind::Input { name, shape } | DeclKind::Target { name, shape } => {
                    writeln!(f, "{} {} {at}", d.kind.keyword(), name.name)?;
                    self.shape(f, shape, 1)?;
                }
                DeclKind::Param { name, shape, init } => {
                    writeln!(f, "param {} {at}", name.name)?;
                    self.shape(f, shape, 1)?;
                    if let Some(init) = init {
                        writeln!(f, "  init")?;
                        self.expr(f, *init, 2)?;
                    }
                }
                DeclKind::State { position, shape, momentum } => {
                    writeln!(f, "state {} momentum {} {at}", position.name, momentum.name)?;
                    self.shape(f, shape, 1)?;
                }
                DeclKind::Let { name, indices, body } => {
                    let idx: Vec<&str> = indices.iter().map(|i| i.name.as_str()).collect();
                    writeln!(f, "let {}[{}] {at}", name.name, idx.join(", "))?;
                    self.expr(f, *body, 1)?;
                }
                DeclKind::Loss(e) | DeclKind::Hamiltonian(e) => {
                    writeln!(f, "{} {at}", d.kind.keyword())?;
                    self.expr(f, *e, 1)?;
                }
                DeclKind::Integrator { method, args } => {
                    writeln!(f, "integrator {} {at}", method.name)?;
                    for (name, value) in args {
                        writeln!(f, "  arg {}", name.name)?;
                        self.expr(f, *value, 2)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Byte offset to 1-based `(line, column)`, columns counted in characters.
#[derive(Clone, Debug)]
pub struct LineIndex {
    starts: Vec<usize>,
    text: String,
}

impl LineIndex {
    /// Indexes the line starts of `source`.
    pub fn new(source: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(source.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts, text: source.to_owned() }
    }

    /// The 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = (offset as usize).min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let col = self.text.get(start..offset).map_or(offset - start, |s| s.chars().count());
        (line + 1, col + 1)
    }
}
