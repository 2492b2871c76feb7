//! The symbolic stage: Hamilton's equations and every derivative the later passes need,
//! derived with index notation on a hash-consed DAG.
//!
//! [`differentiate`] imports `H` (and the loss) from the typed IR into a [`Dag`], takes
//! `K(p, params)` and `V(q, inputs, params)` from the split the analysis proved
//! ([`crate::analysis::Facts`]), and derives the [`Table`] the kernels read, the one source
//! of every derivative (the lowering derives nothing):
//!
//! | quantity | used by |
//! |---|---|
//! | `dK/dp`, `dV/dq` for every state pair | the drift and the kick (Hamilton's equations) |
//! | `dV/dθ`, `dK/dθ` for every param θ | RHEL's accumulators |
//! | `dV/du` for every input | gradients to the layer below |
//! | `d²V/dq² · δq`, `d²K/dp² · δp` | the tangent echo and the BPTT adjoint |
//! | `d²V/dθ dq · δq`, `d²K/dθ dp · δp`, `d²V/du dq · δq` | their parameter and input parts |
//! | `dV/dq · δq`, `dK/dp · δp` | a trainable step's own gradient |
//! | `dl/dq`, `dl/dp`, `dl/dθ`, `dl/du` | the nudges and the loss's direct gradients |
//!
//! The loss is the model's own, or `sum(dL/dq · q)` over per-step cotangents when it has
//! none, so that the kernels treat both alike.
//!
//! A derivative is a DAG node with free index variables (`dV/dq[k]` has `k` free); its size
//! does not depend on the dims. Hessian-vector products are directional derivatives of the
//! gradients (forward mode), so they need no deltas. All derivatives share one DAG, so a
//! subexpression common to several of them is one node ([`Equations::shared`]).

mod dag;
mod diff;
pub mod eval;
mod import;
mod print;
mod sums;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;

pub use dag::{Cond, Dag, Ix, Leaf, Node, StopReason, Term, Var, VarInfo};
pub use diff::{directional, gradient};
pub use print::Printer;

use crate::analysis::Facts;
use crate::ir::{ExprId, Program, Role, TensorId};

/// What is differentiated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Of {
    /// The kinetic energy `K(p, params)`.
    Kinetic,
    /// The potential energy `V(q, inputs, params)`.
    Potential,
    /// The per-step loss.
    Loss,
}

impl Of {
    fn symbol(self) -> &'static str {
        match self {
            Of::Kinetic => "K",
            Of::Potential => "V",
            Of::Loss => "l",
        }
    }
}

/// Along which direction a second derivative is taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Along {
    /// `δq` for every position.
    Positions,
    /// `δp` for every momentum.
    Momenta,
}

/// One derivative: `d(of)/d(wrt)[out]`, or its derivative along a direction.
#[derive(Clone, Debug, PartialEq)]
pub struct Derivative {
    /// Of what.
    pub of: Of,
    /// With respect to which tensor.
    pub wrt: TensorId,
    /// For a second derivative, the direction of the second differentiation.
    pub along: Option<Along>,
    /// The free variables, one per axis of `wrt`.
    pub out: Vec<Var>,
    /// The expression.
    pub node: Node,
}

/// A gradient and its Hessian-vector product: `dG/dx[out]`, and its derivative along the
/// state `G` reads (`δq` for `V`, `δp` for `K`).
#[derive(Clone, Debug, PartialEq)]
pub struct WithHvp {
    /// The gradient.
    pub grad: Derivative,
    /// Its derivative along the state's direction, over the same free variables.
    pub hvp: Derivative,
}

/// Every derivative the kernels read, by what it is for; `None` where it is identically
/// zero. This is the one source of derivatives: the lowering reads it and derives nothing.
#[derive(Clone, Debug)]
pub struct Table {
    /// `dV/dq` and `d²V/dq² · δq` per state pair: the kick and its tangent.
    pub kick: Vec<Option<WithHvp>>,
    /// `dK/dp` and `d²K/dp² · δp` per state pair: the drift and its tangent.
    pub drift: Vec<Option<WithHvp>>,
    /// `dV/dθ` and `d²V/dθdq · δq` per param.
    pub v_param: Vec<Option<WithHvp>>,
    /// `dK/dθ` and `d²K/dθdp · δp` per param.
    pub k_param: Vec<Option<WithHvp>>,
    /// `dV/du` and `d²V/dudq · δq` per input.
    pub v_input: Vec<Option<WithHvp>>,
    /// `dV/dq · δq` and `dK/dp · δp`: a trainable step's own gradient, in the tangent echo
    /// and BPTT.
    pub v_along: Node,
    /// See `v_along`.
    pub k_along: Node,
    /// `dl/dq` per state pair: the nudge of the momenta.
    pub loss_q: Vec<Option<Derivative>>,
    /// `dl/dp` per state pair: the nudge of the positions.
    pub loss_p: Vec<Option<Derivative>>,
    /// `dl/dθ` per param: the loss's direct gradient.
    pub loss_param: Vec<Option<Derivative>>,
    /// `dl/du` per input: the loss's direct gradient.
    pub loss_input: Vec<Option<Derivative>>,
}

/// Hamilton's equations and the derivatives of a model.
#[derive(Clone, Debug)]
pub struct Equations {
    /// The DAG holding everything below.
    pub dag: Dag,
    /// `H`.
    pub hamiltonian: Node,
    /// `K(p, params)`: `H` without the terms the analysis found to be potential.
    pub kinetic: Node,
    /// `V(q, inputs, params)`: `H` without the kinetic terms.
    pub potential: Node,
    /// The per-step loss the kernels differentiate: the model's own `loss`, or, for a model
    /// without one, `sum(dL/dq · q)` over the per-step cotangents of the positions.
    pub loss: Node,
    /// Whether `loss` is the model's own.
    pub has_loss: bool,
    /// Every derivative.
    pub table: Table,
    names: HashMap<TensorId, String>,
    pairs: Vec<(TensorId, TensorId)>,
}

/// Imports `H` of `program` into `dag` (lets inlined) and returns its node.
pub fn import(dag: &mut Dag, program: &Program) -> Result<Node, StopReason> {
    let vars = import::index_vars(dag, program);
    let imported = import::import(dag, program, &vars, &|_| false)?;
    Ok(imported.nodes[program.hamiltonian].expect("the whole arena is imported"))
}

/// Derives Hamilton's equations and every derivative the kernels read, for a valid model
/// whose energy the analysis split into kinetic and potential terms (`facts`).
pub fn differentiate(program: &Program, facts: &Facts) -> Result<Equations, StopReason> {
    let mut dag = Dag::default();
    let vars = import::index_vars(&mut dag, program);
    let imported = import::import(&mut dag, program, &vars, &|_| false)?;
    let node = |e| imported.nodes[e].expect("the whole arena is imported");
    let hamiltonian = node(program.hamiltonian);
    let own_loss = program.loss.map(node);
    // K is H with every potential part read as 0, V with every kinetic part: the split the
    // analysis proved, on the same DAG (shared subexpressions stay shared).
    let mut part: HashMap<ExprId, Of> = HashMap::new();
    part.extend(facts.kinetic_terms.iter().map(|&e| (e, Of::Kinetic)));
    part.extend(facts.potential_terms.iter().map(|&e| (e, Of::Potential)));
    let only = |dag: &mut Dag, kept: Of| -> Result<Node, StopReason> {
        let dropped = |e: ExprId| part.get(&e).is_some_and(|&p| p != kept);
        let zeroed = import::import(dag, program, &vars, &dropped)?;
        Ok(zeroed.nodes[program.hamiltonian].expect("the whole arena is imported"))
    };
    let kinetic = only(&mut dag, Of::Kinetic)?;
    let potential = only(&mut dag, Of::Potential)?;
    let positions: Vec<TensorId> = program.pairs.iter().map(|p| p.position).collect();
    let momenta: Vec<TensorId> = program.pairs.iter().map(|p| p.momentum).collect();
    let loss = match own_loss {
        Some(l) => l,
        None => cotangent_loss(&mut dag, program, &positions),
    };
    let of = |pred: fn(&Role) -> bool| -> Vec<TensorId> {
        program.tensors.iter().filter(|(_, t)| pred(&t.role)).map(|(id, _)| id).collect()
    };
    let params = of(|r| matches!(r, Role::Param(_)));
    let inputs = of(|r| *r == Role::Input);

    let mut d = Deriver { program, dag: &mut dag, out_vars: HashMap::new(), letters: letters(program) };
    let (k, v, l) = (kinetic, potential, loss);
    let table = Table {
        kick: positions.iter().map(|&q| d.with_hvp(Of::Potential, v, q, &positions)).collect(),
        drift: momenta.iter().map(|&p| d.with_hvp(Of::Kinetic, k, p, &momenta)).collect(),
        v_param: params.iter().map(|&t| d.with_hvp(Of::Potential, v, t, &positions)).collect(),
        k_param: params.iter().map(|&t| d.with_hvp(Of::Kinetic, k, t, &momenta)).collect(),
        v_input: inputs.iter().map(|&t| d.with_hvp(Of::Potential, v, t, &positions)).collect(),
        v_along: d.along(v, &positions),
        k_along: d.along(k, &momenta),
        loss_q: positions.iter().map(|&q| d.first(Of::Loss, l, q)).collect(),
        loss_p: momenta.iter().map(|&p| d.first(Of::Loss, l, p)).collect(),
        loss_param: params.iter().map(|&t| d.first(Of::Loss, l, t)).collect(),
        loss_input: inputs.iter().map(|&t| d.first(Of::Loss, l, t)).collect(),
    };
    dag.check_budget()?;
    Ok(Equations {
        dag,
        hamiltonian,
        kinetic,
        potential,
        loss,
        has_loss: own_loss.is_some(),
        table,
        names: program.tensors.iter().map(|(id, t)| (id, t.name.clone())).collect(),
        pairs: program.pairs.iter().map(|p| (p.position, p.momentum)).collect(),
    })
}

/// `sum over each position array of dL/dq[i] · q[i]`: the loss whose gradient is the per-step
/// cotangents, for a model without a loss of its own.
fn cotangent_loss(dag: &mut Dag, program: &Program, positions: &[TensorId]) -> Node {
    let mut terms = Vec::new();
    for &q in positions {
        let vars: Vec<Var> = program.tensors[q]
            .shape
            .iter()
            .enumerate()
            .map(|(a, axis)| {
                dag.var(["i", "j", "k", "l"].get(a).unwrap_or(&"r"), 0, axis.size as i64, axis.dim.clone())
            })
            .collect();
        let index: Vec<Ix> = vars.iter().map(|&v| Ix::var(v)).collect();
        let g = dag.load(Leaf::Cotangent(q), index.clone());
        let x = dag.load(Leaf::Tensor(q), index);
        let prod = dag.mul2(g, x);
        terms.push(if vars.is_empty() { prod } else { dag.sum(vars, prod) });
    }
    dag.add(terms)
}

/// The names free for output variables: ten names no tensor, dim or const is called (a few
/// letters first, then `k1`, `k2`, ... if a model took them all).
fn letters(program: &Program) -> Vec<String> {
    let taken: Vec<&str> = program
        .tensors
        .values()
        .map(|t| t.name.as_str())
        .chain(program.dims.iter().map(|d| d.name.as_str()))
        .chain(program.consts.iter().map(|c| c.name.as_str()))
        .collect();
    let letters = ["k", "l", "m", "n", "a", "b", "c", "d", "r", "s"].map(String::from);
    let numbered = (1..).map(|i| format!("k{i}"));
    letters.into_iter().chain(numbered).filter(|l| !taken.contains(&l.as_str())).take(10).collect()
}

/// Builds derivatives with output variables shared between them: one per (axis position,
/// axis), so that `dV/dq[k]` and `dV/dW[k]` are functions of the same `k` and share their
/// subexpressions.
struct Deriver<'a> {
    program: &'a Program,
    dag: &'a mut Dag,
    out_vars: HashMap<(usize, u64, Option<String>), Var>,
    letters: Vec<String>,
}

impl Deriver<'_> {
    /// `d(root)/d(wrt)[out]`; `None` when it is identically 0.
    fn first(&mut self, of: Of, root: Node, wrt: TensorId) -> Option<Derivative> {
        let mut out = Vec::new();
        for (a, axis) in self.program.tensors[wrt].shape.iter().enumerate() {
            let key = (a, axis.size, axis.dim.clone());
            let name = &self.letters[self.out_vars.len() % self.letters.len()];
            let dag = &mut *self.dag;
            let v = *self
                .out_vars
                .entry(key)
                .or_insert_with(|| dag.var(name, 0, axis.size as i64, Some(axis.label())));
            out.push(v);
        }
        let node = gradient(self.dag, root, Leaf::Tensor(wrt), &out);
        (self.dag.constant(node) != Some(0.0)).then_some(Derivative { of, wrt, along: None, out, node })
    }

    /// The derivative of `e` along the directions of the state arrays `of`.
    fn along(&mut self, e: Node, of: &[TensorId]) -> Node {
        let parts: Vec<Node> =
            of.iter().map(|&s| directional(self.dag, e, Leaf::Tensor(s), Leaf::Direction(s))).collect();
        self.dag.add(parts)
    }

    /// A gradient and its derivative along `directions` (the positions for `V`, the momenta
    /// for `K`).
    fn with_hvp(&mut self, of: Of, root: Node, wrt: TensorId, directions: &[TensorId]) -> Option<WithHvp> {
        let grad = self.first(of, root, wrt)?;
        let node = self.along(grad.node, directions);
        let along = if of == Of::Kinetic { Along::Momenta } else { Along::Positions };
        let hvp = Derivative { along: Some(along), node, ..grad.clone() };
        Some(WithHvp { grad, hvp })
    }
}

impl Table {
    /// Every derivative, in the order `--stage equations` prints them: first derivatives
    /// (state pairs, params, inputs), the loss's, then the Hessian-vector products.
    pub fn derivatives(&self) -> Vec<&Derivative> {
        let pairs = self.drift.iter().zip(&self.kick).flat_map(|(k, v)| [k, v]);
        let params = self.v_param.iter().zip(&self.k_param).flat_map(|(v, k)| [v, k]);
        let energy: Vec<&WithHvp> = pairs.chain(params).chain(&self.v_input).flatten().collect();
        let loss =
            [&self.loss_q, &self.loss_p, &self.loss_param, &self.loss_input].into_iter().flatten().flatten();
        energy.iter().map(|w| &w.grad).chain(loss).chain(energy.iter().map(|w| &w.hvp)).collect()
    }
}

impl Equations {
    /// The name of a leaf array: the tensor's, or `δ` and the tensor's for a direction.
    pub fn leaf_name(&self, leaf: Leaf) -> String {
        match leaf {
            Leaf::Tensor(t) => self.names[&t].clone(),
            Leaf::Direction(t) => format!("δ{}", self.names[&t]),
            Leaf::Cotangent(t) => format!("dL/d{}", self.names[&t]),
        }
    }

    /// `dV/dq[k]`, `d²V/dW dq · δq`, ...: the name of a derivative.
    pub fn label(&self, d: &Derivative) -> String {
        let wrt = &self.names[&d.wrt];
        let at = self.at(&d.out);
        let of = d.of.symbol();
        match d.along {
            None => format!("d{of}/d{wrt}{at}"),
            Some(along) => {
                let by = match along {
                    Along::Positions => "dq · δq",
                    Along::Momenta => "dp · δp",
                };
                format!("d²{of}/d{wrt}{at} {by}")
            }
        }
    }

    /// `[k, l]` for the output variables of a derivative (empty for a scalar).
    fn at(&self, out: &[Var]) -> String {
        let idx: Vec<&str> = out.iter().map(|&v| self.dag.vars[v].name.as_str()).collect();
        if idx.is_empty() { String::new() } else { format!("[{}]", idx.join(", ")) }
    }

    /// Prints a node as math.
    pub fn show(&self, n: Node) -> String {
        Printer::new(&self.dag, &|l| self.leaf_name(l)).print(n)
    }

    /// Subexpressions used more than once by the given roots (CSE), children first, with their
    /// use counts; numbers and single elements are left out.
    pub fn shared(&self, roots: &[Node]) -> Vec<(Node, usize)> {
        let mut uses: HashMap<Node, usize> = HashMap::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<Node> = roots.to_vec();
        while let Some(n) = stack.pop() {
            if !seen.insert(n) {
                continue;
            }
            let children: Vec<Node> = match self.dag.get(n) {
                Term::Add(xs) | Term::Mul(xs) => xs.clone(),
                Term::Pow(a, b) => vec![*a, *b],
                Term::Call(_, a) | Term::Sum { body: a, .. } => vec![*a],
                _ => Vec::new(),
            };
            for c in children {
                *uses.entry(c).or_default() += 1;
                stack.push(c);
            }
        }
        for r in roots {
            *uses.entry(*r).or_default() += 1;
        }
        let mut shared: Vec<(Node, usize)> = uses
            .into_iter()
            .filter(|&(n, k)| k > 1 && !matches!(self.dag.get(n), Term::Const(_) | Term::Load { .. }))
            .collect();
        shared.sort();
        shared
    }

    /// Hamilton's equations, one line per state array: `dq[k]/dt = dH/dp[k] = ...`.
    pub fn hamilton(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for d in self.table.derivatives().into_iter().filter(|d| d.along.is_none() && d.of != Of::Loss) {
            let at = self.at(&d.out);
            let Some(partner) = self.partner(d) else { continue };
            let body = self.show(d.node);
            let wrt = &self.names[&d.wrt];
            lines.push(match d.of {
                Of::Kinetic => format!("d{partner}{at}/dt = dH/d{wrt}{at} = {body}"),
                _ => format!("d{partner}{at}/dt = -dH/d{wrt}{at} = -({body})"),
            });
        }
        lines
    }

    /// For a derivative by a momentum, its position's name; by a position, its momentum's.
    fn partner(&self, d: &Derivative) -> Option<String> {
        self.pairs.iter().find_map(|&(q, p)| {
            if d.of == Of::Kinetic && d.wrt == p {
                Some(self.names[&q].clone())
            } else if d.of == Of::Potential && d.wrt == q {
                Some(self.names[&p].clone())
            } else {
                None
            }
        })
    }
}

impl fmt::Display for Equations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Hamilton's equations")?;
        for line in self.hamilton() {
            writeln!(f, "  {line}")?;
        }
        writeln!(f, "energy")?;
        writeln!(f, "  K = {}", self.show(self.kinetic))?;
        writeln!(f, "  V = {}", self.show(self.potential))?;
        let whose = if self.has_loss { "" } else { " (the cotangents' loss)" };
        writeln!(f, "  l = {}{whose}", self.show(self.loss))?;
        writeln!(f, "derivatives")?;
        let derivatives = self.table.derivatives();
        for d in &derivatives {
            writeln!(f, "  {} = {}", self.label(d), self.show(d.node))?;
        }
        writeln!(f, "  dV · δq = {}", self.show(self.table.v_along))?;
        writeln!(f, "  dK · δp = {}", self.show(self.table.k_along))?;
        let mut roots: Vec<Node> = derivatives.iter().map(|d| d.node).collect();
        roots.extend([self.table.v_along, self.table.k_along]);
        let shared = self.shared(&roots);
        writeln!(
            f,
            "shared subexpressions ({} nodes in the DAG, {} used more than once)",
            self.dag.len(),
            shared.len()
        )?;
        for (n, k) in shared.iter().take(12) {
            writeln!(f, "  {n} ×{k} = {}", self.show(*n))?;
        }
        if shared.len() > 12 {
            writeln!(f, "  ...")?;
        }
        Ok(())
    }
}
