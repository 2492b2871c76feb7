//! Analysis: the two properties of `H` that RHEL relies on, decided symbolically on the IR.
//!
//! [`analyze`] checks that
//!
//! - **`H` is separable**, `H = K(p, params) + V(q, inputs, params)`, which leapfrog and every
//!   symmetric composition of kicks and drifts need (rhel.md). `H` is split into additive terms
//!   (through `+`, `-`, sums, lets, and factors that depend on no state or input); a term that
//!   reads a momentum and also a position or an input is an error naming that term.
//! - **`H` is time-reversal symmetric**, `K(q, -p) = K(q, p)`. The parity in `p` of every
//!   kinetic term is computed by rules (a momentum is odd; odd times odd is even; an even
//!   function of anything is even, an odd function keeps the parity, ...); a term that is odd,
//!   or of no definite parity, is an error naming that term.
//!
//! Both checks are sufficient, not necessary: a term that is even only through a cancellation
//! (`exp(p) + exp(-p)`) is refused, with help that says how to write it (`2 * cosh(p)`).
//!
//! The facts found (which params enter `K`, which enter `V`) are returned for `hsc check` and
//! for the later stages.

use cranelift_entity::{EntityRef, SecondaryMap};
use hsc_grammar::Diagnostic;

use crate::ir::func::Symmetry;
use crate::ir::{BinaryOp, Expr, ExprId, Program, Role, TensorId, UnaryOp};

/// What the analysis found about a valid model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The parts of `H` that read momenta and nothing else of the state or the inputs: the
    /// largest such subexpressions along `H`'s additive split (`sum(i, p[i]^2 / (2 m))`, not
    /// each leaf of it). `H` with every other part read as 0 is `K`.
    pub kinetic_terms: Vec<ExprId>,
    /// The parts that read no momentum (positions, inputs, or only params and numbers): `H`
    /// with every other part read as 0 is `V`.
    pub potential_terms: Vec<ExprId>,
    /// The params `K` reads, in declaration order.
    pub kinetic_params: Vec<TensorId>,
    /// The params `V` reads, in declaration order.
    pub potential_params: Vec<TensorId>,
}

/// Checks separability and time-reversal symmetry of `H`; the facts, or every violation.
pub fn analyze(program: &Program) -> Result<Facts, Vec<Diagnostic>> {
    let deps = dependencies(program);
    let parity = parities(program);
    let terms = split_terms(program, &deps, program.hamiltonian);

    let mut errors = Vec::new();
    let mut facts = Facts {
        kinetic_terms: Vec::new(),
        potential_terms: Vec::new(),
        kinetic_params: Vec::new(),
        potential_params: Vec::new(),
    };
    let (mut kinetic_params, mut potential_params) = (TensorSet::default(), TensorSet::default());
    for Term { leaf: term, shown, factor_params } in terms {
        let mut d = deps[term].clone();
        d.params.union(&factor_params);
        let d = &d;
        let span = program.exprs.span(shown);
        if d.momentum && (d.position || d.input) {
            let what = if d.position { "a position" } else { "an input" };
            errors.push(
                Diagnostic::error(format!("this term couples a momentum with {what}"))
                    .with_primary(span, format!("reads {} and {}", names(program, d, true), names(program, d, false)))
                    .with_note("leapfrog and yoshida4 need H = K(p, params) + V(q, inputs, params): every term of H reads momenta or positions and inputs, never both")
                    .with_help("a position-dependent mass or a momentum coupled to the drive is not supported; move such effects into V"),
            );
            continue;
        }
        if d.momentum {
            match parity[term] {
                Parity::Free | Parity::Even => {}
                p => errors.push(
                    Diagnostic::error(if p == Parity::Odd {
                        "this term is odd in the momenta"
                    } else {
                        "this term is not even in the momenta"
                    })
                    .with_primary(span, "changes when every momentum changes sign")
                    .with_note("RHEL requires H(q, -p) = H(q, p): its echo runs the dynamics backwards by flipping the momenta")
                    .with_help("write the kinetic energy with even functions of p, such as p[i]^2, cosh, logcosh or sqrt(1 + p[i]^2)"),
                ),
            }
            kinetic_params.union(&d.params);
        } else {
            potential_params.union(&d.params);
        }
    }
    (facts.kinetic_terms, facts.potential_terms) = parts(program, &deps);
    facts.kinetic_params = kinetic_params.iter().collect();
    facts.potential_params = potential_params.iter().collect();
    if errors.is_empty() { Ok(facts) } else { Err(errors) }
}

/// A set of tensors as a bitset, so that the union of two costs a word per 64 tensors.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct TensorSet(Vec<u64>);

impl TensorSet {
    fn insert(&mut self, t: TensorId) {
        let i = t.index();
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }

    fn union(&mut self, other: &TensorSet) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }

    /// The tensors in the set, in declaration order.
    fn iter(&self) -> impl Iterator<Item = TensorId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| TensorId::new(w * 64 + b))
        })
    }
}

/// The state and data a node reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Deps {
    momentum: bool,
    position: bool,
    input: bool,
    params: TensorSet,
    /// The tensors read, for messages.
    tensors: TensorSet,
}

impl Deps {
    fn state_or_input(&self) -> bool {
        self.momentum || self.position || self.input
    }

    fn union(&mut self, other: &Deps) {
        self.momentum |= other.momentum;
        self.position |= other.position;
        self.input |= other.input;
        self.params.union(&other.params);
        self.tensors.union(&other.tensors);
    }
}

/// What every node reads, in one pass over the arena (children come first).
fn dependencies(program: &Program) -> SecondaryMap<ExprId, Deps> {
    let mut deps: SecondaryMap<ExprId, Deps> = SecondaryMap::new();
    for (id, e) in program.exprs.iter() {
        let mut d = Deps::default();
        match e {
            Expr::Load { tensor, .. } => {
                match program.tensors[*tensor].role {
                    Role::Momentum(_) => d.momentum = true,
                    Role::Position(_) => d.position = true,
                    Role::Input => d.input = true,
                    Role::Param(_) => d.params.insert(*tensor),
                    Role::Target => {}
                }
                d.tensors.insert(*tensor);
            }
            Expr::LetRef { target, .. } => d = deps[program.lets[*target].body].clone(),
            _ => {
                for c in e.children() {
                    let child = deps[c].clone();
                    d.union(&child);
                }
            }
        }
        deps[id] = d;
    }
    deps
}

/// A node's behaviour when every momentum changes sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Parity {
    /// Reads no momentum.
    #[default]
    Free,
    /// Unchanged.
    Even,
    /// Changes sign.
    Odd,
    /// Neither, as far as the rules can tell.
    Neither,
}

impl Parity {
    fn add(self, other: Parity) -> Parity {
        use Parity::*;
        match (self, other) {
            (Free, x) | (x, Free) if x != Odd => x,
            (Free, Odd) | (Odd, Free) => Neither,
            (Even, Even) => Even,
            (Odd, Odd) => Odd,
            _ => Neither,
        }
    }

    fn mul(self, other: Parity) -> Parity {
        use Parity::*;
        match (self, other) {
            (Free, x) | (x, Free) => x,
            (Neither, _) | (_, Neither) => Neither,
            (a, b) if a == b => Even,
            _ => Odd,
        }
    }
}

/// The parity in the momenta of every node.
fn parities(program: &Program) -> SecondaryMap<ExprId, Parity> {
    use Parity::*;
    let mut parity: SecondaryMap<ExprId, Parity> = SecondaryMap::new();
    for (id, e) in program.exprs.iter() {
        parity[id] = match e {
            Expr::Const(_) => Free,
            Expr::Load { tensor, .. } => {
                if matches!(program.tensors[*tensor].role, Role::Momentum(_)) {
                    Odd
                } else {
                    Free
                }
            }
            Expr::LetRef { target, .. } => parity[program.lets[*target].body],
            Expr::Unary(UnaryOp::Neg, a) | Expr::Sum { body: a, .. } => parity[*a],
            Expr::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => parity[*a].add(parity[*b]),
            Expr::Binary(BinaryOp::Mul | BinaryOp::Div, a, b) => parity[*a].mul(parity[*b]),
            Expr::Binary(BinaryOp::Pow, a, b) => match (parity[*a], parity[*b], program.exprs.get(*b)) {
                (base, Free, Expr::Const(n)) if base == Odd && n.fract() == 0.0 => {
                    if n.rem_euclid(2.0) == 0.0 { Even } else { Odd }
                }
                (Free, Free, _) => Free,
                (Even, Free, _) => Even,
                (Free | Even, Even, _) => Even,
                _ => Neither,
            },
            Expr::Call(f, a) => match (parity[*a], f.symmetry()) {
                (Free, _) => Free,
                (Even, _) => Even,
                (Odd, Symmetry::Even) => Even,
                (Odd, Symmetry::Odd) => Odd,
                _ => Neither,
            },
        };
    }
    parity
}

/// An additive term of `H`.
struct Term {
    /// The term, without the state-free factors around it.
    leaf: ExprId,
    /// The node to show in a message: the whole product `c[i] * p[i]`, not the `p[i]` in it.
    shown: ExprId,
    /// The params read by the factors that were set aside.
    factor_params: TensorSet,
}

/// Splits `e` into additive terms: through `+` and `-`, sums, lets, and products or quotients
/// with a factor that reads no state and no input (`0.5 * (p^2 + q^2)` is two terms).
fn split_terms(program: &Program, deps: &SecondaryMap<ExprId, Deps>, e: ExprId) -> Vec<Term> {
    let mut out = Vec::new();
    let mut stack = vec![(e, None, TensorSet::default())];
    while let Some((e, shown, factors)) = stack.pop() {
        let strip = |kept: ExprId, factor: ExprId, stack: &mut Vec<_>| {
            let mut f = factors.clone();
            f.union(&deps[factor].params);
            stack.push((kept, shown.or(Some(e)), f));
        };
        match program.exprs.get(e) {
            Expr::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => {
                stack.extend([(*b, None, factors.clone()), (*a, None, factors)])
            }
            Expr::Unary(UnaryOp::Neg, a) | Expr::Sum { body: a, .. } => stack.push((*a, shown, factors)),
            Expr::LetRef { target, .. } => stack.push((program.lets[*target].body, None, factors)),
            Expr::Binary(BinaryOp::Mul, a, b) if !deps[*a].state_or_input() => strip(*b, *a, &mut stack),
            Expr::Binary(BinaryOp::Mul | BinaryOp::Div, a, b) if !deps[*b].state_or_input() => {
                strip(*a, *b, &mut stack)
            }
            _ => out.push(Term { leaf: e, shown: shown.unwrap_or(e), factor_params: factors }),
        }
    }
    out
}

/// The kinetic and the potential parts of a separable `H`: the split of [`split_terms`],
/// stopped at the first subexpression that reads momenta only, or no momentum.
fn parts(program: &Program, deps: &SecondaryMap<ExprId, Deps>) -> (Vec<ExprId>, Vec<ExprId>) {
    let (mut kinetic, mut potential) = (Vec::new(), Vec::new());
    let mut stack = vec![program.hamiltonian];
    while let Some(e) = stack.pop() {
        let d = &deps[e];
        if !d.momentum {
            potential.push(e);
            continue;
        }
        if !d.position && !d.input {
            kinetic.push(e);
            continue;
        }
        match program.exprs.get(e) {
            Expr::Binary(BinaryOp::Add | BinaryOp::Sub, a, b) => stack.extend([*b, *a]),
            Expr::Unary(UnaryOp::Neg, a) | Expr::Sum { body: a, .. } => stack.push(*a),
            Expr::LetRef { target, .. } => stack.push(program.lets[*target].body),
            Expr::Binary(BinaryOp::Mul, a, b) if !deps[*a].state_or_input() => stack.push(*b),
            Expr::Binary(BinaryOp::Mul | BinaryOp::Div, a, b) if !deps[*b].state_or_input() => stack.push(*a),
            // A term coupling momenta with positions or inputs: refused by `analyze`.
            _ => {}
        }
    }
    (kinetic, potential)
}

/// The names of the momenta a term reads (`momenta`), or of its positions and inputs.
fn names(program: &Program, d: &Deps, momenta: bool) -> String {
    let list: Vec<String> = d
        .tensors
        .iter()
        .filter(|&t| {
            let role = &program.tensors[t].role;
            if momenta {
                matches!(role, Role::Momentum(_))
            } else {
                matches!(role, Role::Position(_) | Role::Input)
            }
        })
        .map(|t| format!("`{}`", program.tensors[t].name))
        .collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use crate::front_end;

    const HEAD: &str = "model M\ndim P = 4\ninput u[P]\nparam c[P] = 1\nparam m = 1\nstate q[P] momentum p\n";

    /// The analysis accepts `H` and finds these params in K.
    #[track_caller]
    fn accepts(h: &str, kinetic_params: &[&str]) {
        let source = format!("{HEAD}H = {h} + sum(i, c[i] * q[i]^2 + m * u[i] * q[i])\n");
        let front = front_end(source.as_bytes(), &[]);
        let facts = front.facts.unwrap_or_else(|| panic!("refused: {h}\n{:#?}", front.diagnostics));
        let program = front.program.unwrap();
        let names: Vec<&str> =
            facts.kinetic_params.iter().map(|&t| program.tensors[t].name.as_str()).collect();
        assert_eq!(names, kinetic_params, "params of K in {h}");
    }

    /// The analysis refuses `H` with an error containing `message`.
    #[track_caller]
    fn refuses(h: &str, message: &str) {
        let source = format!("{HEAD}H = {h} + sum(i, c[i] * q[i]^2 + m * u[i] * q[i])\n");
        let front = front_end(source.as_bytes(), &[]);
        assert!(front.program.is_none(), "accepted: {h}");
        assert!(
            front.diagnostics.iter().any(|d| d.message.contains(message)),
            "no `{message}` for {h}: {:#?}",
            front.diagnostics
        );
    }

    #[test]
    fn even_kinetic_energies() {
        accepts("sum(i, 0.5 * p[i]^2)", &[]);
        accepts("sum(i, p[i]^2 / (2 * m))", &["m"]);
        accepts("0.5 * sum(i, p[i]^2 + q[i]^2)", &[]);
        accepts("m * sum(i, p[i]^2 + q[i]^2)", &["m"]);
        accepts("sum(i, c[i] * (sqrt(1 + p[i]^2) - 1))", &["c"]);
        accepts("sum(i, j, c[i] * c[j] * p[i] * p[j])", &["c"]);
        accepts("sum(i, cosh(p[i]) + logcosh(p[i]) + abs(p[i]) + cos(p[i]))", &[]);
        accepts("sum(i, tanh(p[i]) * p[i] + sin(p[i])^2 + sinh(p[i]) * p[i]^3)", &[]);
        accepts("sum(i in 0..P-1, (p[i + 1] - p[i])^2)", &[]);
        accepts("sum(i, exp(p[i]^2) + p[i]^4 - p[i]^2 / m)", &["m"]);
    }

    #[test]
    fn couplings_are_refused() {
        refuses("sum(i, p[i]^2 * q[i]^2)", "couples a momentum with a position");
        refuses("sum(i, p[i]^2 * u[i])", "couples a momentum with an input");
        refuses("sum(i, (p[i] + q[i])^2)", "couples a momentum with a position");
        refuses("sum(i, p[i]^2 / (1 + q[i]^2))", "couples a momentum with a position");
    }

    #[test]
    fn odd_and_indefinite_terms_are_refused() {
        refuses("sum(i, 0.5 * p[i]^2 + c[i] * p[i])", "odd in the momenta");
        refuses("sum(i, p[i]^3)", "odd in the momenta");
        refuses("sum(i, sin(p[i]))", "odd in the momenta");
        refuses("sum(i, exp(p[i]))", "not even in the momenta");
        refuses("sum(i, sigmoid(p[i]))", "not even in the momenta");
        refuses("sum(i, p[i]^1.5)", "not even in the momenta");
        refuses("sum(i, p[i]^2 + p[i])", "odd in the momenta");
    }
}
