//! The declaration pass: the names of the file, its numbers and tensors, then the lowering
//! of its expressions (in `expr`) and the assembly of the [`Program`].

use std::collections::{HashMap, HashSet};

use cranelift_entity::{PrimaryMap, SecondaryMap};
use hsc_grammar::ast::{self, DeclKind, ExprKind, Ident};
use hsc_grammar::{Diagnostic, Span, has_errors};

use super::constant::Constants;
use super::{Analysis, MAX_ELEMENTS, Override, Symbol, SymbolKind, suggest};
use crate::ir::{
    self, Axis, Dim, Dt, Exprs, Func, IndexId, Init, Integrator, Let, LetId, Method, Program, Role,
    StatePair, Tensor, TensorId,
};

/// Everything sema knows while it works. Expression lowering lives in `expr.rs`.
pub(super) struct Sema<'a> {
    pub(super) file: &'a ast::File,
    pub(super) names: &'a HashMap<String, Symbol>,
    pub(super) consts: Constants<'a>,
    pub(super) diagnostics: Vec<Diagnostic>,
    pub(super) tensors: PrimaryMap<TensorId, Tensor>,
    pub(super) tensor_ids: HashMap<String, TensorId>,
    pub(super) lets: PrimaryMap<LetId, Let>,
    pub(super) let_ids: HashMap<String, LetId>,
    /// Lets that could not be lowered; their uses report nothing more.
    pub(super) failed_lets: HashSet<String>,
    /// Lets whose value reads a target (directly or through another let).
    pub(super) lets_reading_targets: HashMap<LetId, String>,
    pub(super) indices: PrimaryMap<IndexId, ir::IndexVar>,
    pub(super) exprs: Exprs,
    /// Index variables in scope, innermost last.
    pub(super) scope: Vec<(String, IndexId)>,
    /// The accesses made with each open index variable, checked when its binder closes.
    pub(super) uses: SecondaryMap<IndexId, Vec<super::expr::Use>>,
    /// Names referred to anywhere.
    pub(super) used: HashSet<String>,
    /// What the expression being lowered is: targets are allowed only in the loss and lets.
    pub(super) place: Place,
    /// The target read by the let being lowered, if any.
    pub(super) target_read: Option<String>,
    /// Index variables whose errors would only repeat an error already reported.
    pub(super) silenced: HashSet<IndexId>,
}

/// Where an expression stands, for the rule that targets are only read by the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    Hamiltonian,
    Loss,
    Let,
}

pub(super) fn run(file: &ast::File, overrides: &[Override]) -> Analysis {
    let mut diagnostics = Vec::new();
    let names = declare(file, &mut diagnostics);
    let mut sema = Sema {
        file,
        names: &names,
        consts: Constants::new(file, &names),
        diagnostics,
        tensors: PrimaryMap::new(),
        tensor_ids: HashMap::new(),
        lets: PrimaryMap::new(),
        let_ids: HashMap::new(),
        failed_lets: HashSet::new(),
        lets_reading_targets: HashMap::new(),
        indices: PrimaryMap::new(),
        exprs: Exprs::default(),
        scope: Vec::new(),
        uses: SecondaryMap::new(),
        used: HashSet::new(),
        place: Place::Hamiltonian,
        target_read: None,
        silenced: HashSet::new(),
    };
    sema.consts.set_overrides(overrides);
    sema.mark_used_outside_lets();
    let (dims, consts) = sema.numbers();
    let pairs = sema.tensors_of_file();
    sema.lower_lets();
    let hamiltonian = sema.lower_root("H", Place::Hamiltonian);
    let loss = sema.lower_root("loss", Place::Loss);
    let integrator = sema.integrator();
    sema.warn_unused();

    let mut diagnostics = std::mem::take(&mut sema.diagnostics);
    diagnostics.append(&mut sema.consts.diagnostics);
    diagnostics.sort_by_key(|d| d.labels.first().map(|l| (l.span.start, l.span.end)).unwrap_or_default());
    let program = match (hamiltonian, integrator) {
        (Some(Some(hamiltonian)), Some(integrator)) if !has_errors(&diagnostics) => Some(Program {
            name: model_name(file),
            dims,
            consts,
            tensors: sema.tensors,
            pairs,
            lets: sema.lets,
            indices: sema.indices,
            exprs: sema.exprs,
            hamiltonian,
            loss: loss.flatten(),
            integrator,
        }),
        _ => None,
    };
    if let Some(Err(errors)) = program.as_ref().map(ir::verify) {
        let mut d = Diagnostic::internal("sema produced an IR that fails verification");
        for e in errors {
            d = d.with_note(e.to_string());
        }
        diagnostics.push(d);
        return Analysis { program: None, diagnostics };
    }
    Analysis { program, diagnostics }
}

fn model_name(file: &ast::File) -> String {
    file.decls
        .iter()
        .find_map(|d| match &d.kind {
            DeclKind::Model(n) => Some(n.name.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Checks the structure of the file and collects every declared name.
fn declare(file: &ast::File, diagnostics: &mut Vec<Diagnostic>) -> HashMap<String, Symbol> {
    let mut names: HashMap<String, Symbol> = HashMap::new();
    let mut once: HashMap<&'static str, Span> = HashMap::new();
    let mut add = |ident: &Ident, kind: SymbolKind, diagnostics: &mut Vec<Diagnostic>| {
        if let Some(first) = names.get(&ident.name) {
            diagnostics.push(
                Diagnostic::error(format!("`{}` is declared twice", ident.name))
                    .with_primary(ident.span, "declared again here")
                    .with_secondary(first.span, format!("first declared here, as a {}", first.kind.word()))
                    .with_help("every name is declared once; rename one of them"),
            );
        } else if let Some(why) = reserved_name(&ident.name) {
            diagnostics.push(
                Diagnostic::error(format!("`{}` cannot be declared as a {}", ident.name, kind.word()))
                    .with_primary(ident.span, why),
            );
        } else {
            names.insert(ident.name.clone(), Symbol { kind, span: ident.span });
        }
    };
    if file.decls.is_empty() {
        diagnostics.push(
            Diagnostic::error("the file holds no model")
                .with_note("a model needs at least a `model Name` line, a `state` and `H = ...`"),
        );
        return names;
    }
    for (i, d) in file.decls.iter().enumerate() {
        match &d.kind {
            DeclKind::Model(name) => {
                if let Some(&first) = once.get("model") {
                    diagnostics.push(
                        Diagnostic::error("a file holds one model")
                            .with_primary(d.span, "a second `model` line")
                            .with_secondary(first, "the model starts here"),
                    );
                } else {
                    once.insert("model", name.span);
                    if i != 0 {
                        diagnostics.push(
                            Diagnostic::error("`model` must be the first declaration")
                                .with_primary(d.span, "the model line comes too late")
                                .with_secondary(file.decls[0].span, "this declaration comes before it"),
                        );
                    }
                }
            }
            DeclKind::Dim { name, .. } => add(name, SymbolKind::Dim, diagnostics),
            DeclKind::Const { name, .. } => add(name, SymbolKind::Const, diagnostics),
            DeclKind::Input { name, .. } => add(name, SymbolKind::Input, diagnostics),
            DeclKind::Param { name, .. } => add(name, SymbolKind::Param, diagnostics),
            DeclKind::Target { name, .. } => add(name, SymbolKind::Target, diagnostics),
            DeclKind::Let { name, .. } => add(name, SymbolKind::Let, diagnostics),
            DeclKind::State { position, momentum, .. } => {
                add(position, SymbolKind::Position, diagnostics);
                add(momentum, SymbolKind::Momentum, diagnostics);
            }
            DeclKind::Hamiltonian(_) | DeclKind::Loss(_) | DeclKind::Integrator { .. } => {
                let key = d.kind.keyword();
                if let Some(&first) = once.get(key) {
                    let what = if key == "H" { "`H = ...`" } else { key };
                    diagnostics.push(
                        Diagnostic::error(format!("{what} is given twice"))
                            .with_primary(d.span, "given again here")
                            .with_secondary(first, "first given here")
                            .with_help("a model has one of each; combine them into one"),
                    );
                } else {
                    once.insert(key, d.span);
                }
            }
        }
    }
    let first = file.decls[0].span;
    if !once.contains_key("model") {
        diagnostics.push(
            Diagnostic::error("the file has no `model` line")
                .with_primary(
                    Span::new(first.start as usize, first.start as usize),
                    "the model should start here",
                )
                .with_help("begin the file with `model Name`; the name is used for generated code"),
        );
    }
    let model_span = once.get("model").copied().unwrap_or(Span::new(0, 0));
    if !once.contains_key("H") {
        diagnostics.push(
            Diagnostic::error("the model has no energy")
                .with_primary(model_span, "this model has no `H = ...`")
                .with_help("add a line `H = ...` that gives the Hamiltonian, e.g. `H = sum(i, 0.5 * p[i]^2 + 0.5 * q[i]^2)`"),
        );
    }
    if !file.decls.iter().any(|d| matches!(d.kind, DeclKind::State { .. })) {
        diagnostics.push(
            Diagnostic::error("the model has no state")
                .with_primary(model_span, "this model declares no positions and momenta")
                .with_help("declare a canonical pair, e.g. `state q[P] momentum p`"),
        );
    }
    names
}

/// Why a name cannot be declared, if it cannot.
fn reserved_name(name: &str) -> Option<String> {
    if Func::from_name(name).is_some() {
        Some(format!("`{name}` is a built-in function"))
    } else if name == "H" || name == "loss" {
        Some(format!("`{name}` names the model's {}", if name == "H" { "energy" } else { "loss" }))
    } else if name == "uniform" || name == "normal" {
        Some(format!("`{name}` is a param initialiser"))
    } else {
        None
    }
}

impl Sema<'_> {
    /// Evaluates every dim and const, in declaration order.
    fn numbers(&mut self) -> (Vec<Dim>, Vec<ir::Const>) {
        let (mut dims, mut consts) = (Vec::new(), Vec::new());
        for d in &self.file.decls {
            match &d.kind {
                DeclKind::Dim { name, .. } if self.owns(name) => {
                    if let Some(value) = self.consts.dim(&name.name) {
                        let overridden = self.consts.is_overridden(&name.name);
                        dims.push(Dim { name: name.name.clone(), value, overridden, span: name.span });
                    }
                }
                DeclKind::Const { name, .. } if self.owns(name) => {
                    if let Some(value) = self.consts.constant(&name.name) {
                        consts.push(ir::Const { name: name.name.clone(), value, span: name.span });
                    }
                }
                _ => {}
            }
        }
        (dims, consts)
    }

    /// Whether this identifier is the declaration its name resolves to (not a duplicate).
    pub(super) fn owns(&self, ident: &Ident) -> bool {
        self.names.get(&ident.name).is_some_and(|s| s.span == ident.span)
    }

    /// Declares every input, param, state pair and target, in declaration order.
    fn tensors_of_file(&mut self) -> Vec<StatePair> {
        let mut pairs = Vec::new();
        for d in &self.file.decls {
            match &d.kind {
                DeclKind::Input { name, shape } if self.owns(name) => {
                    self.tensor(name, shape, Role::Input);
                }
                DeclKind::Target { name, shape } if self.owns(name) => {
                    self.tensor(name, shape, Role::Target);
                }
                DeclKind::Param { name, shape, init } if self.owns(name) => {
                    let init = self.init(name, *init);
                    if let Some(init) = init {
                        self.tensor(name, shape, Role::Param(init));
                    }
                }
                DeclKind::State { position, shape, momentum }
                    if self.owns(position) && self.owns(momentum) =>
                {
                    let n = pairs.len();
                    let q = self.tensor(position, shape, Role::Position(n));
                    if let Some(q) = q {
                        let mut p = self.tensors[q].clone();
                        p.name = momentum.name.clone();
                        p.role = Role::Momentum(n);
                        p.span = momentum.span;
                        let p = self.tensors.push(p);
                        self.tensor_ids.insert(momentum.name.clone(), p);
                        pairs.push(StatePair { position: q, momentum: p });
                    }
                }
                _ => {}
            }
        }
        pairs
    }

    fn tensor(&mut self, name: &Ident, shape: &[ast::ExprId], role: Role) -> Option<TensorId> {
        let mut axes = Vec::new();
        let mut ok = true;
        for &e in shape {
            match self.consts.size(e, &format!("the size of `{}`", name.name)) {
                Some((size, dim)) => axes.push(Axis { size, dim }),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let len = axes.iter().try_fold(1u64, |acc, a| acc.checked_mul(a.size));
        if len.is_none_or(|n| n > MAX_ELEMENTS) {
            let count = axes.iter().map(|a| a.size as u128).product::<u128>();
            let sizes: Vec<String> = axes.iter().map(|a| a.size.to_string()).collect();
            self.diagnostics.push(
                Diagnostic::error(format!("`{}` is too large to allocate", name.name))
                    .with_primary(name.span, format!("{} elements ({})", count, sizes.join(" x ")))
                    .with_note(format!(
                        "hsc refuses arrays of more than {MAX_ELEMENTS} elements (2 GiB in f64)"
                    )),
            );
            return None;
        }
        let id = self.tensors.push(Tensor { name: name.name.clone(), role, shape: axes, span: name.span });
        self.tensor_ids.insert(name.name.clone(), id);
        Some(id)
    }

    /// A param's initialiser: a number, `uniform(low, high)` or `normal(mean, std)`.
    fn init(&mut self, name: &Ident, init: Option<ast::ExprId>) -> Option<Init> {
        let Some(init) = init else { return Some(Init::Constant(0.0)) };
        let e = self.file.expr(init);
        let what = format!("the initial value of `{}`", name.name);
        match &e.kind {
            ExprKind::Call { func, args } if func.name == "uniform" || func.name == "normal" => {
                if args.len() != 2 {
                    self.diagnostics.push(
                        Diagnostic::error(format!(
                            "`{}` takes 2 arguments, but {} were given",
                            func.name,
                            args.len()
                        ))
                        .with_primary(e.span, "here")
                        .with_help(if func.name == "uniform" {
                            "write `uniform(low, high)`"
                        } else {
                            "write `normal(mean, std)`"
                        }),
                    );
                    return None;
                }
                let a = self.consts.eval(args[0], &what);
                let b = self.consts.eval(args[1], &what);
                let (a, b) = (a?, b?);
                if func.name == "uniform" {
                    if a >= b {
                        self.diagnostics.push(
                            Diagnostic::error(format!("uniform({a}, {b}) has an empty range"))
                                .with_primary(e.span, "the lower bound must be below the upper bound"),
                        );
                        return None;
                    }
                    Some(Init::Uniform { low: a, high: b })
                } else {
                    if b < 0.0 {
                        self.diagnostics.push(
                            Diagnostic::error(format!("normal({a}, {b}) has a negative standard deviation"))
                                .with_primary(self.file.expr(args[1]).span, "this must be 0 or more"),
                        );
                        return None;
                    }
                    Some(Init::Normal { mean: a, std: b })
                }
            }
            ExprKind::Call { func, .. } if Func::from_name(&func.name).is_none() => {
                let hint = suggest(&func.name, ["uniform", "normal"]);
                let mut d = Diagnostic::error(format!("unknown initialiser `{}`", func.name))
                    .with_primary(func.span, "not an initialiser")
                    .with_note("a param starts as a number, `uniform(low, high)` or `normal(mean, std)`");
                if let Some(h) = hint {
                    d = d.with_help(format!("did you mean `{h}`?"));
                }
                self.diagnostics.push(d);
                None
            }
            _ => self.consts.eval(init, &what).map(Init::Constant),
        }
    }

    /// The integrator line, or the default `leapfrog(dt = 1)`.
    fn integrator(&mut self) -> Option<Integrator> {
        let file = self.file;
        let Some((method, args)) = file.decls.iter().find_map(|d| match &d.kind {
            DeclKind::Integrator { method, args } => Some((method, args)),
            _ => None,
        }) else {
            return Some(Integrator { method: Method::Leapfrog, dt: Dt::Fixed(1.0) });
        };
        let method_ok = match method.name.as_str() {
            "leapfrog" => Some(Method::Leapfrog),
            "yoshida4" => Some(Method::Yoshida4),
            other => {
                let mut d = Diagnostic::error(format!("unknown integrator `{other}`"))
                    .with_primary(method.span, "not an integrator of hsc")
                    .with_note(
                        "RHEL needs a symmetric composition of kicks and drifts: `leapfrog` or `yoshida4`",
                    );
                if let Some(h) = suggest(other, ["leapfrog", "yoshida4"]) {
                    d = d.with_help(format!("did you mean `{h}`?"));
                }
                self.diagnostics.push(d);
                None
            }
        };
        let mut dt = Some(Dt::Fixed(1.0));
        let mut seen: Option<Span> = None;
        for (key, value) in args {
            if key.name != "dt" {
                self.diagnostics.push(
                    Diagnostic::error(format!("unknown integrator argument `{}`", key.name))
                        .with_primary(key.span, "not an argument")
                        .with_help(
                            "the only argument is the step: `dt = 0.1` or `dt = h` for a scalar param `h`",
                        ),
                );
                dt = None;
                continue;
            }
            if let Some(first) = seen.replace(key.span) {
                self.diagnostics.push(
                    Diagnostic::error("`dt` is given twice")
                        .with_primary(key.span, "given again here")
                        .with_secondary(first, "first given here"),
                );
                dt = None;
                continue;
            }
            dt = self.step(*value);
        }
        Some(Integrator { method: method_ok?, dt: dt? })
    }

    /// The step: a scalar param (trainable) or a positive number.
    fn step(&mut self, value: ast::ExprId) -> Option<Dt> {
        let e = self.file.expr(value);
        if let ExprKind::Name(n) = &e.kind
            && let Some(&id) = self.tensor_ids.get(&n.name)
        {
            self.used.insert(n.name.clone());
            let t = &self.tensors[id];
            return if matches!(t.role, Role::Param(_)) && t.shape.is_empty() {
                Some(Dt::Param(id))
            } else {
                let what = if t.shape.is_empty() {
                    t.role.keyword().to_owned()
                } else {
                    format!("{} with {} axes", t.role.keyword(), t.shape.len())
                };
                self.diagnostics.push(
                    Diagnostic::error("the step must be a number or a scalar param")
                        .with_primary(n.span, format!("`{}` is a {what}", n.name))
                        .with_secondary(t.span, "declared here"),
                );
                None
            };
        }
        let h = self.consts.eval(value, "the step `dt`")?;
        if h > 0.0 {
            Some(Dt::Fixed(h))
        } else {
            self.diagnostics.push(
                Diagnostic::error(format!("the step must be positive, not {h}"))
                    .with_primary(e.span, "here")
                    .with_note(
                        "to run time backwards, flip the momenta instead: RHEL's echo does exactly that",
                    ),
            );
            None
        }
    }

    /// Lowers `H = ...` or `loss = ...`. `None`: missing H or an error; `Some(None)`: no loss.
    fn lower_root(&mut self, keyword: &str, place: Place) -> Option<Option<ir::ExprId>> {
        let file = self.file;
        let Some(expr) = file.decls.iter().find_map(|d| match (&d.kind, keyword) {
            (DeclKind::Hamiltonian(e), "H") | (DeclKind::Loss(e), "loss") => Some(*e),
            _ => None,
        }) else {
            return if keyword == "H" { None } else { Some(None) };
        };
        self.place = place;
        let lowered = self.lower(expr)?;
        Some(Some(lowered))
    }

    /// Records the names that H, the loss, sizes, numbers and the step mention (lets are
    /// recorded when they are ordered), so that "never used" is not said of a name whose use
    /// had an error.
    fn mark_used_outside_lets(&mut self) {
        let file = self.file;
        for d in &file.decls {
            let exprs: Vec<ast::ExprId> = match &d.kind {
                DeclKind::Dim { value, .. } | DeclKind::Const { value, .. } => vec![*value],
                DeclKind::Input { shape, .. }
                | DeclKind::Target { shape, .. }
                | DeclKind::State { shape, .. } => shape.clone(),
                DeclKind::Param { shape, init, .. } => shape.iter().copied().chain(*init).collect(),
                DeclKind::Hamiltonian(e) | DeclKind::Loss(e) => vec![*e],
                DeclKind::Integrator { args, .. } => args.iter().map(|(_, e)| *e).collect(),
                DeclKind::Model(_) | DeclKind::Let { .. } => Vec::new(),
            };
            for e in exprs {
                self.used.extend(super::expr::names_in(file, e).map(str::to_owned));
            }
        }
    }

    /// Warns about lets, params, inputs and targets that nothing reads.
    fn warn_unused(&mut self) {
        let mut unused: Vec<(&Symbol, &String)> = self
            .names
            .iter()
            .filter(|(name, s)| {
                matches!(s.kind, SymbolKind::Let | SymbolKind::Param | SymbolKind::Input | SymbolKind::Target)
                    && !self.used.contains(*name)
            })
            .map(|(n, s)| (s, n))
            .collect();
        unused.sort_by_key(|(s, _)| s.span);
        for (s, name) in unused {
            let (message, note) = match s.kind {
                SymbolKind::Let => {
                    (format!("let `{name}` is never used"), "remove it, or use it in `H` or the loss")
                }
                SymbolKind::Param => {
                    (format!("param `{name}` is never used"), "its gradient will always be zero")
                }
                SymbolKind::Input => (format!("input `{name}` is never used"), "the model ignores this data"),
                _ => (format!("target `{name}` is never used"), "targets are read by `loss = ...`"),
            };
            self.diagnostics
                .push(Diagnostic::warning(message).with_primary(s.span, "declared here").with_note(note));
        }
    }
}
