//! Expression lowering: names resolved, indices bound and sized, accesses checked.
//!
//! An index variable is created where it is bound (a `sum` binder, a `let`'s index). While
//! its binder's body is lowered, every access made with it is recorded as a [`Use`]; when the
//! binder closes, the variable gets its range, from the explicit `in lo..hi` or else from the
//! size of the axes it indexes (which must all agree), and every use is checked to stay
//! inside its array for the whole range.

use hsc_grammar::ast::{self, BinOp, ExprKind, Ident};
use hsc_grammar::{Diagnostic, Span};

use super::decls::{Place, Sema};
use super::{SymbolKind, suggest};
use crate::ir::{
    BinaryOp, Expr, ExprId, Func, Index, IndexId, IndexVar, Let, LetId, Role, TensorId, UnaryOp,
};

/// One access made with an index variable: `name[var + offset]` on an axis of `size`.
#[derive(Clone, Debug)]
pub(super) struct Use {
    size: u64,
    dim: Option<String>,
    offset: i64,
    wrap: Option<u64>,
    /// The index expression.
    span: Span,
    /// The array (tensor or let) indexed.
    array: String,
}

/// What an access reads.
#[derive(Clone, Copy, Debug)]
enum Array {
    Tensor(TensorId),
    Let(LetId),
}

/// How an index variable gets its range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Range {
    /// From the axes it indexes.
    Inferred,
    /// `in lo..hi`.
    Explicit(i64, i64),
    /// An explicit range that had an error (already reported).
    Broken,
}

/// Where an index variable was bound, for the wording of help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Site {
    Sum,
    Let,
}

/// `coeff * var + constant`, the shape every index must reduce to (with `coeff` 1 or 0).
#[derive(Clone, Copy, Debug)]
struct Affine {
    var: Option<IndexId>,
    coeff: i64,
    constant: i64,
}

impl Sema<'_> {
    // ---- lets ---------------------------------------------------------------------------

    /// Lowers every let, each after the lets it uses; lets in a cycle are an error.
    pub(super) fn lower_lets(&mut self) {
        let file = self.file;
        let lets: Vec<(&Ident, &[Ident], ast::ExprId)> = file
            .decls
            .iter()
            .filter_map(|d| match &d.kind {
                ast::DeclKind::Let { name, indices, body } if self.owns(name) => {
                    Some((name, indices.as_slice(), *body))
                }
                _ => None,
            })
            .collect();
        for &(_, _, body) in &lets {
            self.used.extend(names_in(file, body).map(str::to_owned));
        }
        let position = |n: &str| lets.iter().position(|(name, _, _)| name.name == n);
        let deps: Vec<Vec<usize>> = lets
            .iter()
            .map(|(_, _, body)| {
                let mut d: Vec<usize> = names_in(file, *body).filter_map(&position).collect();
                d.sort();
                d.dedup();
                d
            })
            .collect();
        // Kahn's algorithm, taking ready lets in declaration order.
        let mut done = vec![false; lets.len()];
        loop {
            let ready = (0..lets.len()).find(|&i| !done[i] && deps[i].iter().all(|&j| done[j]));
            let Some(i) = ready else { break };
            done[i] = true;
            let (name, indices, body) = lets[i];
            self.lower_let(name, indices, body);
        }
        let cycle: Vec<usize> = (0..lets.len()).filter(|&i| !done[i]).collect();
        if let Some(&first) = cycle.first() {
            let names: Vec<String> = cycle.iter().map(|&i| format!("`{}`", lets[i].0.name)).collect();
            let mut d = Diagnostic::error(if cycle.len() == 1 {
                format!("let {} is defined in terms of itself", names[0])
            } else {
                format!("lets {} are defined in terms of each other", names.join(", "))
            })
            .with_primary(lets[first].0.span, "this let's value depends on itself");
            for &i in &cycle[1..] {
                d = d.with_secondary(lets[i].0.span, "part of the cycle");
            }
            self.diagnostics.push(d.with_help("a let must be computable from declarations, not from itself"));
            for i in cycle {
                self.failed_lets.insert(lets[i].0.name.clone());
            }
        }
    }

    fn lower_let(&mut self, name: &Ident, indices: &[Ident], body: ast::ExprId) {
        let mut vars = Vec::new();
        let mut ok = true;
        for (k, ix) in indices.iter().enumerate() {
            if let Some(prev) = indices[..k].iter().find(|p| p.name == ix.name) {
                self.diagnostics.push(
                    Diagnostic::error(format!("index `{}` appears twice in let `{}`", ix.name, name.name))
                        .with_primary(ix.span, "again here")
                        .with_secondary(prev.span, "first here")
                        .with_help("each axis of a let needs an index of its own"),
                );
                ok = false;
                continue;
            }
            ok &= self.check_index_name(ix);
            vars.push(self.open_index(ix));
        }
        let saved = (self.place, self.target_read.take());
        self.place = Place::Let;
        let lowered = self.lower(body);
        self.place = saved.0;
        let reads = std::mem::replace(&mut self.target_read, saved.1);
        self.scope.truncate(self.scope.len() - vars.len());
        for &v in &vars {
            ok &= self.close_index(v, Range::Inferred, Site::Let);
        }
        match lowered {
            Some(body) if ok => {
                let id =
                    self.lets.push(Let { name: name.name.clone(), indices: vars, body, span: name.span });
                self.let_ids.insert(name.name.clone(), id);
                if let Some(t) = reads {
                    self.lets_reading_targets.insert(id, t);
                }
            }
            _ => {
                self.failed_lets.insert(name.name.clone());
            }
        }
    }

    // ---- expressions --------------------------------------------------------------------

    /// Lowers an expression; `None` after reporting what is wrong with it.
    pub(super) fn lower(&mut self, id: ast::ExprId) -> Option<ExprId> {
        let file = self.file;
        let e = file.expr(id);
        let span = e.span;
        match &e.kind {
            ExprKind::Number { value, .. } => Some(self.exprs.push(Expr::Const(*value), span, Vec::new())),
            ExprKind::Paren(x) => self.lower(*x),
            ExprKind::Neg(x) => {
                let a = self.lower(*x)?;
                Some(self.op(Expr::Unary(UnaryOp::Neg, a), span))
            }
            ExprKind::Chain { head, tail } => {
                let mut acc = self.lower(*head);
                let start = file.expr(*head).span;
                for &(op, x) in tail {
                    let rhs = self.lower(x);
                    let op = match op {
                        BinOp::Add => BinaryOp::Add,
                        BinOp::Sub => BinaryOp::Sub,
                        BinOp::Mul => BinaryOp::Mul,
                        BinOp::Div => BinaryOp::Div,
                        BinOp::Rem => {
                            self.diagnostics.push(
                                Diagnostic::error("`%` is only for wrap-around indices")
                                    .with_primary(file.expr(x).span, "the remainder of a value by this")
                                    .with_help(
                                        "wrap an index around an axis inside brackets: `x[(i + 1) % P]`",
                                    ),
                            );
                            acc = None;
                            continue;
                        }
                    };
                    acc = match (acc, rhs) {
                        (Some(a), Some(b)) => {
                            Some(self.op(Expr::Binary(op, a, b), start.to(file.expr(x).span)))
                        }
                        _ => None,
                    };
                }
                acc
            }
            ExprKind::Pow { base, exponent } => {
                let (a, b) = (self.lower(*base), self.lower(*exponent));
                Some(self.op(Expr::Binary(BinaryOp::Pow, a?, b?), span))
            }
            ExprKind::Call { func, args } => self.call(func, args, span),
            ExprKind::Name(n) => self.name(n),
            ExprKind::Index { base, indices } => self.access(base, indices, span),
            ExprKind::Sum { binders, body } => self.sum(binders, *body, span),
        }
    }

    /// Pushes an operation whose type is the union of its operands' types.
    fn op(&mut self, expr: Expr, span: Span) -> ExprId {
        let free = expr.children().iter().flat_map(|&c| self.exprs.free(c).to_vec()).collect();
        self.exprs.push(expr, span, free)
    }

    fn call(&mut self, func: &Ident, args: &[ast::ExprId], span: Span) -> Option<ExprId> {
        let Some(f) = Func::from_name(&func.name) else {
            let d = if func.name == "uniform" || func.name == "normal" {
                Diagnostic::error(format!("`{}` is only for initialising a param", func.name))
                    .with_primary(func.span, "not a function of the model")
                    .with_help(format!("write it after a param: `param W[P] = {}(...)`", func.name))
            } else {
                let mut d = Diagnostic::error(format!("unknown function `{}`", func.name))
                    .with_primary(func.span, "not a built-in function")
                    .with_note(format!(
                        "the functions are {}",
                        Func::ALL.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
                    ));
                if let Some(h) = suggest(&func.name, Func::ALL.iter().map(|f| f.name())) {
                    d = d.with_help(format!("did you mean `{h}`?"));
                }
                d
            };
            self.diagnostics.push(d);
            // Still check the arguments.
            for &a in args {
                let _ = self.lower(a);
            }
            return None;
        };
        if args.len() != 1 {
            self.diagnostics.push(
                Diagnostic::error(format!("`{}` takes 1 argument, but {} were given", func.name, args.len()))
                    .with_primary(span, format!("{} arguments", args.len())),
            );
            for &a in args {
                let _ = self.lower(a);
            }
            return None;
        }
        if !f.is_smooth() {
            self.diagnostics.push(
                Diagnostic::warning(format!("`{}` is not smooth at 0", func.name))
                    .with_primary(span, "its derivative jumps where the argument is 0")
                    .with_note(
                        "Hamilton's equations and RHEL use derivatives of H; near 0 they are one-sided",
                    )
                    .with_help(match f {
                        Func::Relu => "`softplus` is a smooth stand-in",
                        _ => "`sqrt(x^2 + eps)` or `logcosh` are smooth stand-ins",
                    }),
            );
        }
        let a = self.lower(args[0])?;
        Some(self.op(Expr::Call(f, a), span))
    }

    /// A bare name used as a value.
    fn name(&mut self, n: &Ident) -> Option<ExprId> {
        if let Some((_, var)) = self.scope.iter().rev().find(|(name, _)| *name == n.name) {
            let bound = self.indices[*var].span;
            self.diagnostics.push(
                Diagnostic::error(format!("index `{}` is used as a value", n.name))
                    .with_primary(n.span, "an index, outside brackets")
                    .with_secondary(bound, "bound here")
                    .with_help("indices select elements, as in `q[i]`; they are not numbers"),
            );
            return None;
        }
        let Some(sym) = self.names.get(&n.name).copied() else {
            self.unknown(n, "");
            return None;
        };
        self.used.insert(n.name.clone());
        match sym.kind {
            SymbolKind::Dim => {
                let v = self.consts.dim(&n.name)?;
                Some(self.exprs.push(Expr::Const(v as f64), n.span, Vec::new()))
            }
            SymbolKind::Const => {
                let v = self.consts.constant(&n.name)?;
                Some(self.exprs.push(Expr::Const(v), n.span, Vec::new()))
            }
            _ => self.access_of(n, &[], n.span),
        }
    }

    fn unknown(&mut self, n: &Ident, context: &str) {
        let candidates: Vec<&str> =
            self.names.keys().map(String::as_str).chain(self.scope.iter().map(|(s, _)| s.as_str())).collect();
        let mut d = Diagnostic::error(format!("unknown name `{}`{context}", n.name))
            .with_primary(n.span, "not declared");
        if let Some(h) = suggest(&n.name, candidates) {
            d = d.with_help(format!("did you mean `{h}`?"));
        } else if n.name.len() == 1 && n.name.chars().all(|c| c.is_ascii_lowercase()) {
            d = d.with_help(format!("if `{0}` is meant as an index, bind it: `sum({0}, ...)`", n.name));
        }
        self.diagnostics.push(d);
    }

    /// `base[indices]`.
    fn access(&mut self, base: &Ident, indices: &[ast::ExprId], span: Span) -> Option<ExprId> {
        if self.scope.iter().any(|(name, _)| *name == base.name) {
            self.diagnostics.push(
                Diagnostic::error(format!("index `{}` cannot be indexed", base.name))
                    .with_primary(base.span, "an index, not an array"),
            );
            return None;
        }
        let Some(sym) = self.names.get(&base.name).copied() else {
            self.unknown(base, "");
            return None;
        };
        self.used.insert(base.name.clone());
        if matches!(sym.kind, SymbolKind::Dim | SymbolKind::Const) {
            self.diagnostics.push(
                Diagnostic::error(format!("`{}` is a {} and has no elements", base.name, sym.kind.word()))
                    .with_primary(span, "indexing a number")
                    .with_secondary(sym.span, "declared here"),
            );
            return None;
        }
        self.access_of(base, indices, span)
    }

    /// An element of a tensor or a let (`indices` empty for scalars).
    fn access_of(&mut self, base: &Ident, indices: &[ast::ExprId], span: Span) -> Option<ExprId> {
        let sym = self.names[&base.name];
        // The array's axes, and the node to build.
        let (axes, target): (Vec<(u64, Option<String>)>, Array) = if sym.kind == SymbolKind::Let {
            let Some(&id) = self.let_ids.get(&base.name) else {
                // The let failed and was reported; say nothing more about this use.
                self.silence_scope();
                return None;
            };
            if let (Place::Hamiltonian, Some(t)) = (self.place, self.lets_reading_targets.get(&id)) {
                self.diagnostics.push(
                    Diagnostic::error(format!("let `{}` reads target `{t}`, but H cannot", base.name))
                        .with_primary(span, "used in H")
                        .with_note("targets are data for the loss; the energy must not depend on them"),
                );
                return None;
            }
            if let Some(t) = self.lets_reading_targets.get(&id) {
                self.target_read = Some(t.clone());
            }
            let l = &self.lets[id];
            let axes = l
                .indices
                .iter()
                .map(|&v| {
                    let v = &self.indices[v];
                    ((v.hi - v.lo) as u64, v.dim.clone())
                })
                .collect();
            (axes, Array::Let(id))
        } else {
            let Some(&id) = self.tensor_ids.get(&base.name) else {
                // Its declaration failed and was reported.
                self.silence_scope();
                return None;
            };
            let t = &self.tensors[id];
            if t.role == Role::Target {
                if self.place == Place::Hamiltonian {
                    self.diagnostics.push(
                        Diagnostic::error(format!("target `{}` is used in H", base.name))
                            .with_primary(span, "a target in the energy")
                            .with_secondary(t.span, "declared as a target here")
                            .with_note("targets are data for the loss; the energy must not depend on them"),
                    );
                    return None;
                }
                self.target_read = Some(base.name.clone());
            }
            (t.shape.iter().map(|a| (a.size, a.dim.clone())).collect(), Array::Tensor(id))
        };
        if indices.len() != axes.len() {
            let shape: Vec<String> =
                axes.iter().map(|(s, d)| d.clone().unwrap_or_else(|| s.to_string())).collect();
            let names = ["i", "j", "k", "l", "m", "n"];
            let example: Vec<&str> = names.iter().copied().cycle().take(axes.len()).collect();
            let (message, help) = if axes.is_empty() {
                (
                    format!("`{}` is a scalar and takes no index", base.name),
                    format!("write `{}` alone", base.name),
                )
            } else if indices.is_empty() {
                (
                    format!(
                        "`{}` has shape [{}] and needs {}",
                        base.name,
                        shape.join(", "),
                        indices_word(axes.len())
                    ),
                    format!(
                        "select elements inside a sum, e.g. `sum({0}, {1}[{0}])`",
                        example.join(", "),
                        base.name
                    ),
                )
            } else {
                (
                    format!(
                        "`{}` has shape [{}] but is given {}",
                        base.name,
                        shape.join(", "),
                        indices_word(indices.len())
                    ),
                    format!("give one index per axis: `{}[{}]`", base.name, example.join(", ")),
                )
            };
            self.diagnostics.push(
                Diagnostic::error(message)
                    .with_primary(span, format!("{} here", indices_word(indices.len())))
                    .with_secondary(sym.span, "declared here")
                    .with_help(help),
            );
            return None;
        }
        let mut index = Vec::new();
        let mut ok = true;
        for (&ix, (size, dim)) in indices.iter().zip(&axes) {
            match self.index(ix, *size, dim.clone(), &base.name) {
                Some(i) => index.push(i),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let free = index.iter().filter_map(|i| i.var).collect();
        let node = match target {
            Array::Tensor(tensor) => Expr::Load { tensor, index },
            Array::Let(target) => Expr::LetRef { target, index },
        };
        Some(self.exprs.push(node, span, free))
    }

    // ---- indices ------------------------------------------------------------------------

    /// One index of an access to an axis of `size`.
    fn index(&mut self, id: ast::ExprId, size: u64, dim: Option<String>, array: &str) -> Option<Index> {
        let file = self.file;
        let e = file.expr(id);
        let (base, wrap) = match &e.kind {
            ExprKind::Chain { head, tail } if tail.len() == 1 && tail[0].0 == BinOp::Rem => {
                (*head, Some(tail[0].1))
            }
            _ => (id, None),
        };
        let affine = self.affine(base)?;
        let wrap = match wrap {
            None => None,
            Some(m) => {
                let v = self.consts.integer(m, "the modulus of a wrap-around index")?;
                if v < 1 {
                    self.diagnostics.push(
                        Diagnostic::error(format!("wrap-around modulo {v}"))
                            .with_primary(file.expr(m).span, "the modulus must be at least 1"),
                    );
                    return None;
                }
                Some(v as u64)
            }
        };
        if affine.coeff != 0 && affine.coeff != 1 {
            self.diagnostics.push(
                Diagnostic::error("strided indices are not supported")
                    .with_primary(e.span, format!("this index steps by {}", affine.coeff))
                    .with_note("an index is `i`, `i + c`, `i - c`, `(i + c) % n` or a whole number"),
            );
            return None;
        }
        let var = if affine.coeff == 1 { affine.var } else { None };
        let Some(var) = var else {
            // A constant index: check it now.
            let c = match wrap {
                Some(m) => affine.constant.rem_euclid(m as i64),
                None => affine.constant,
            };
            if c < 0 || c as u64 >= size {
                self.diagnostics.push(
                    Diagnostic::error(format!("index {c} is outside `{array}`"))
                        .with_primary(e.span, format!("`{array}` has indices 0..{size} on this axis")),
                );
                return None;
            }
            return Some(Index { var: None, offset: c, wrap: None });
        };
        self.uses[var].push(Use {
            size,
            dim,
            offset: affine.constant,
            wrap,
            span: e.span,
            array: array.to_owned(),
        });
        Some(Index { var: Some(var), offset: affine.constant, wrap })
    }

    /// Reduces an index expression to `coeff * var + constant`.
    fn affine(&mut self, id: ast::ExprId) -> Option<Affine> {
        let file = self.file;
        let e = file.expr(id);
        let constant = |c: i64| Some(Affine { var: None, coeff: 0, constant: c });
        match &e.kind {
            ExprKind::Number { value, .. } if value.fract() == 0.0 && value.abs() < 1e15 => {
                constant(*value as i64)
            }
            ExprKind::Paren(x) => self.affine(*x),
            ExprKind::Neg(x) => {
                let a = self.affine(*x)?;
                Some(Affine { var: a.var, coeff: -a.coeff, constant: -a.constant })
            }
            ExprKind::Name(n) => {
                if let Some(&(_, var)) = self.scope.iter().rev().find(|(name, _)| *name == n.name) {
                    return Some(Affine { var: Some(var), coeff: 1, constant: 0 });
                }
                match self.names.get(&n.name).map(|s| s.kind) {
                    Some(SymbolKind::Dim | SymbolKind::Const) => {
                        self.used.insert(n.name.clone());
                        constant(self.consts.integer(id, "an index")?)
                    }
                    Some(kind) => {
                        self.bad_index(e.span, &format!("`{}` is a {}, not an index", n.name, kind.word()));
                        None
                    }
                    None => {
                        self.diagnostics.push(
                            Diagnostic::error(format!("unbound index `{}`", n.name))
                                .with_primary(n.span, "no `sum` or `let` binds this index")
                                .with_help(format!("bind it with a sum: `sum({0}, ...)`, or make it an index of the let: `let name[{0}] = ...`", n.name)),
                        );
                        None
                    }
                }
            }
            ExprKind::Chain { head, tail } => {
                let mut acc = self.affine(*head);
                for &(op, x) in tail {
                    let rhs = self.affine(x);
                    let (Some(a), Some(b)) = (acc, rhs) else {
                        acc = None;
                        continue;
                    };
                    acc = match op {
                        BinOp::Add | BinOp::Sub => {
                            let sign = if op == BinOp::Add { 1 } else { -1 };
                            if a.var.is_some() && b.var.is_some() && a.var != b.var {
                                self.bad_index(file.expr(x).span, "an index may use only one index variable");
                                None
                            } else {
                                let coeff = a.coeff.checked_add(sign * b.coeff);
                                let c = a.constant.checked_add(sign * b.constant);
                                match (coeff, c) {
                                    (Some(coeff), Some(constant)) => {
                                        Some(Affine { var: a.var.or(b.var), coeff, constant })
                                    }
                                    _ => {
                                        self.bad_index(e.span, "this index arithmetic overflows");
                                        None
                                    }
                                }
                            }
                        }
                        BinOp::Mul if a.var.is_none() || b.var.is_none() => {
                            let (k, v) = if a.var.is_none() { (a.constant, b) } else { (b.constant, a) };
                            match (v.coeff.checked_mul(k), v.constant.checked_mul(k)) {
                                (Some(coeff), Some(constant)) => Some(Affine { var: v.var, coeff, constant }),
                                _ => {
                                    self.bad_index(e.span, "this index arithmetic overflows");
                                    None
                                }
                            }
                        }
                        BinOp::Div if a.var.is_none() && b.var.is_none() => {
                            if b.constant != 0 && a.constant % b.constant == 0 {
                                constant(a.constant / b.constant)
                            } else {
                                self.bad_index(e.span, "this division does not give a whole number");
                                None
                            }
                        }
                        BinOp::Rem if a.var.is_none() && b.var.is_none() && b.constant != 0 => {
                            constant(a.constant.rem_euclid(b.constant))
                        }
                        BinOp::Rem => {
                            self.bad_index(e.span, "`%` wraps a whole index: write `(i + c) % n`");
                            None
                        }
                        _ => {
                            self.bad_index(e.span, "an index cannot be multiplied or divided by an index");
                            None
                        }
                    };
                    acc?;
                }
                acc
            }
            ExprKind::Number { .. } => {
                self.bad_index(e.span, "an index must be a whole number");
                None
            }
            _ => {
                self.bad_index(e.span, "not an index");
                None
            }
        }
    }

    fn bad_index(&mut self, span: Span, label: &str) {
        self.diagnostics
            .push(Diagnostic::error("unsupported index").with_primary(span, label.to_owned()).with_note(
            "an index is `i`, `i + c`, `i - c`, `(i + c) % n` or a whole number, with `c` and `n` constants",
        ));
    }

    /// Whether a new index name is free to use; reports why not.
    fn check_index_name(&mut self, ix: &Ident) -> bool {
        if let Some((_, outer)) = self.scope.iter().rev().find(|(name, _)| *name == ix.name) {
            let outer = self.indices[*outer].span;
            self.diagnostics.push(
                Diagnostic::error(format!("index `{}` is already bound", ix.name))
                    .with_primary(ix.span, "bound again here")
                    .with_secondary(outer, "first bound here")
                    .with_help("give the inner index another name"),
            );
            return false;
        }
        if let Some(sym) = self.names.get(&ix.name) {
            self.diagnostics.push(
                Diagnostic::error(format!("index `{}` has the name of a {}", ix.name, sym.kind.word()))
                    .with_primary(ix.span, "used as an index name")
                    .with_secondary(sym.span, format!("`{}` is declared here", ix.name))
                    .with_help("give the index a name of its own"),
            );
            return false;
        }
        true
    }

    /// Marks every index in scope as one whose errors would only repeat an earlier one.
    fn silence_scope(&mut self) {
        let vars: Vec<IndexId> = self.scope.iter().map(|&(_, v)| v).collect();
        self.silenced.extend(vars);
    }

    /// Creates an index variable and puts it in scope; its range is set when it closes.
    fn open_index(&mut self, ix: &Ident) -> IndexId {
        let var =
            self.indices.push(IndexVar { name: ix.name.clone(), lo: 0, hi: 0, dim: None, span: ix.span });
        self.uses[var] = Vec::new();
        self.scope.push((ix.name.clone(), var));
        var
    }

    // ---- sums ---------------------------------------------------------------------------

    fn sum(&mut self, binders: &[ast::Binder], body: ast::ExprId, span: Span) -> Option<ExprId> {
        let mut vars = Vec::new();
        let mut ok = true;
        for (k, b) in binders.iter().enumerate() {
            if let Some(prev) = binders[..k].iter().find(|p| p.name.name == b.name.name) {
                self.diagnostics.push(
                    Diagnostic::error(format!("index `{}` is bound twice by one sum", b.name.name))
                        .with_primary(b.name.span, "again here")
                        .with_secondary(prev.name.span, "first here"),
                );
                ok = false;
                continue;
            }
            ok &= self.check_index_name(&b.name);
            let range = match b.range {
                None => Range::Inferred,
                Some((lo, hi)) => {
                    let l = self.consts.integer(lo, "the start of a range");
                    let h = self.consts.integer(hi, "the end of a range");
                    match (l, h) {
                        (Some(l), Some(h)) if l < h => Range::Explicit(l, h),
                        (Some(l), Some(h)) => {
                            let s = self.file.expr(lo).span.to(self.file.expr(hi).span);
                            self.diagnostics.push(
                                Diagnostic::error(format!("the range {l}..{h} is empty"))
                                    .with_primary(s, "no value of the index lies in it")
                                    .with_note(
                                        "ranges are half-open, like Rust's: `0..P` runs from 0 to P - 1",
                                    ),
                            );
                            Range::Broken
                        }
                        _ => Range::Broken,
                    }
                }
            };
            vars.push((self.open_index(&b.name), range));
        }
        let lowered = self.lower(body);
        self.scope.truncate(self.scope.len() - vars.len());
        for &(v, range) in &vars {
            ok &= self.close_index(v, range, Site::Sum);
        }
        let body = lowered?;
        if !ok {
            return None;
        }
        let over: Vec<IndexId> = vars.iter().map(|&(v, _)| v).collect();
        let free = self.exprs.free(body).iter().copied().filter(|v| !over.contains(v)).collect();
        Some(self.exprs.push(Expr::Sum { over, body }, span, free))
    }

    /// Gives an index variable its range and checks every access made with it.
    fn close_index(&mut self, var: IndexId, range: Range, site: Site) -> bool {
        let uses = std::mem::take(&mut self.uses[var]);
        let name = self.indices[var].name.clone();
        let bound_at = self.indices[var].span;
        let (lo, hi, dim) = match range {
            Range::Broken => return false,
            Range::Explicit(lo, hi) => (lo, hi, None),
            Range::Inferred => {
                let Some(first) = uses.first() else {
                    if self.silenced.contains(&var) {
                        return false;
                    }
                    let help = match site {
                        Site::Sum => format!(
                            "use `{name}` to index an array, or give its range: `sum({name} in 0..P, ...)`"
                        ),
                        Site::Let => format!("use `{name}` in the let's value to index an array"),
                    };
                    self.diagnostics.push(
                        Diagnostic::error(format!("the range of index `{name}` is unknown"))
                            .with_primary(bound_at, "this index never indexes an array")
                            .with_help(help),
                    );
                    return false;
                };
                let clash = uses[1..].iter().find(|u| {
                    u.size != first.size || matches!((&u.dim, &first.dim), (Some(a), Some(b)) if a != b)
                });
                if let Some(u) = clash {
                    let describe = |u: &Use| match &u.dim {
                        Some(d) => format!("{d} = {}", u.size),
                        None => u.size.to_string(),
                    };
                    let message = match (&first.dim, &u.dim) {
                        (Some(a), Some(b)) if u.size == first.size => {
                            format!("index `{name}` runs over two different dims, {a} and {b}")
                        }
                        _ => format!(
                            "index `{name}` runs over two different sizes, {} and {}",
                            describe(first),
                            describe(u)
                        ),
                    };
                    let mut d = Diagnostic::error(message)
                        .with_primary(
                            u.span,
                            format!(
                                "here `{name}` runs over an axis of `{}` of size {}",
                                u.array,
                                describe(u)
                            ),
                        )
                        .with_secondary(
                            first.span,
                            format!("here over an axis of `{}` of size {}", first.array, describe(first)),
                        );
                    if u.size == first.size {
                        d = d.with_note("the sizes are equal now, but `-D` could set them apart");
                    }
                    self.diagnostics.push(d.with_help(
                        "each index runs over one size; use two indices, or give an explicit range",
                    ));
                    return false;
                }
                let dim = uses.iter().find_map(|u| u.dim.clone());
                (0, first.size as i64, dim)
            }
        };
        {
            let v = &mut self.indices[var];
            v.lo = lo;
            v.hi = hi;
            v.dim = dim;
        }
        let mut ok = true;
        for u in &uses {
            let size = u.size as i64;
            if let Some(m) = u.wrap {
                if m > u.size {
                    self.diagnostics.push(
                        Diagnostic::error(format!("wrapping modulo {m} can leave `{}`", u.array))
                            .with_primary(
                                u.span,
                                format!(
                                    "reaches up to {}, but `{}` has indices 0..{}",
                                    m - 1,
                                    u.array,
                                    u.size
                                ),
                            )
                            .with_help(
                                "wrap around the size of the axis, e.g. `(i + 1) % P` for an axis of size P",
                            ),
                    );
                    ok = false;
                }
                continue;
            }
            let (first, last) = (lo + u.offset, hi - 1 + u.offset);
            if first >= 0 && last < size {
                continue;
            }
            let (bad_i, reach) = if first < 0 { (lo, first) } else { (hi - 1, last) };
            let fit_lo = lo.max(-u.offset);
            let fit_hi = hi.min(size - u.offset);
            let bound = |v: i64| match &u.dim {
                Some(d) if v == size => d.clone(),
                Some(d) if v < size && size - v <= 4 => format!("{d}-{}", size - v),
                _ => v.to_string(),
            };
            let help = match (site, range) {
                (Site::Let, _) => "a let's index runs over its whole axis; put the offset inside a sum with an explicit range instead".to_owned(),
                _ if fit_lo >= fit_hi => "no range keeps this access inside the array".to_owned(),
                (Site::Sum, Range::Explicit(..)) => format!("this access needs `{name} in {}..{}`", bound(fit_lo), bound(fit_hi)),
                (Site::Sum, _) => format!("restrict the range: `sum({name} in {}..{}, ...)`", bound(fit_lo), bound(fit_hi)),
            };
            self.diagnostics.push(
                Diagnostic::error(format!("`{}` is read outside its bounds", u.array))
                    .with_primary(
                        u.span,
                        format!(
                            "at `{name}` = {bad_i} this is {reach}, but `{}` has indices 0..{}",
                            u.array, u.size
                        ),
                    )
                    .with_secondary(bound_at, format!("`{name}` runs over {lo}..{hi} here"))
                    .with_help(help),
            );
            ok = false;
        }
        ok
    }
}

fn indices_word(n: usize) -> String {
    format!("{n} {}", if n == 1 { "index" } else { "indices" })
}

/// Every name that an expression mentions (bare or indexed), without recursion.
pub(super) fn names_in(file: &ast::File, root: ast::ExprId) -> impl Iterator<Item = &str> {
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(id) = stack.pop() {
        match &file.expr(id).kind {
            ExprKind::Number { .. } => {}
            ExprKind::Name(n) => out.push(n.name.as_str()),
            ExprKind::Index { base, indices } => {
                out.push(base.name.as_str());
                stack.extend(indices);
            }
            ExprKind::Call { args, .. } => stack.extend(args),
            ExprKind::Sum { binders, body } => {
                stack.push(*body);
                for b in binders {
                    if let Some((lo, hi)) = b.range {
                        stack.extend([lo, hi]);
                    }
                }
            }
            ExprKind::Neg(x) | ExprKind::Paren(x) => stack.push(*x),
            ExprKind::Chain { head, tail } => {
                stack.push(*head);
                stack.extend(tail.iter().map(|(_, x)| *x));
            }
            ExprKind::Pow { base, exponent } => stack.extend([*base, *exponent]),
        }
    }
    out.into_iter()
}
