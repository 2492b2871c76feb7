//! The symbolic stage: Hamilton's equations and every derivative the later passes need,
//! derived with index notation on a hash-consed DAG.
//!
//! [`differentiate`] imports `H` (and the loss) from the typed IR into a [`Dag`], splits `H`
//! into `K(p, params)` and `V(q, inputs, params)`, and derives:
//!
//! | quantity | used by |
//! |---|---|
//! | `dK/dp`, `dV/dq` for every state pair | the drift and the kick (Hamilton's equations) |
//! | `dV/dθ`, `dK/dθ` for every param θ | RHEL's accumulators |
//! | `dV/du` for every input | gradients to the layer below |
//! | `d²V/dq² · δq`, `d²K/dp² · δp` | the tangent echo and the BPTT adjoint |
//! | `d²V/dθ dq · δq`, `d²K/dθ dp · δp`, `d²V/du dq · δq` | their parameter and input parts |
//! | `dl/dq`, `dl/dp`, `dl/dθ`, `d²l/dx² · δx` | the nudges of an in-model loss |
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

use crate::ir::{Program, Role, TensorId};

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
    /// Both.
    State,
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

/// Hamilton's equations and the derivatives of a model.
#[derive(Clone, Debug)]
pub struct Equations {
    /// The DAG holding everything below.
    pub dag: Dag,
    /// `H`.
    pub hamiltonian: Node,
    /// `K(p, params)`.
    pub kinetic: Node,
    /// `V(q, inputs, params)`.
    pub potential: Node,
    /// The loss, if the model has one.
    pub loss: Option<Node>,
    /// Every derivative, in a fixed order (state pairs, params, inputs, second derivatives,
    /// loss); derivatives that are identically 0 are left out.
    pub derivatives: Vec<Derivative>,
    names: HashMap<TensorId, String>,
    pairs: Vec<(TensorId, TensorId)>,
}

/// Imports `H` of `program` into `dag` (lets inlined) and returns its node.
pub fn import(dag: &mut Dag, program: &Program) -> Result<Node, StopReason> {
    let imported = import::import(dag, program)?;
    Ok(imported.nodes[program.hamiltonian].expect("the whole arena is imported"))
}

/// Derives Hamilton's equations and every derivative of a valid, separable model.
pub fn differentiate(program: &Program) -> Result<Equations, StopReason> {
    let mut dag = Dag::default();
    let imported = import::import(&mut dag, program)?;
    let node = |e| imported.nodes[e].expect("the whole arena is imported");
    let hamiltonian = node(program.hamiltonian);
    let loss = program.loss.map(node);
    let (kinetic, potential) = split(&mut dag, program, hamiltonian).ok_or(StopReason::NotSeparable)?;

    let mut eq = Equations {
        dag,
        hamiltonian,
        kinetic,
        potential,
        loss,
        derivatives: Vec::new(),
        names: program.tensors.iter().map(|(id, t)| (id, t.name.clone())).collect(),
        pairs: program.pairs.iter().map(|p| (p.position, p.momentum)).collect(),
    };
    let taken: Vec<&str> = program
        .tensors
        .values()
        .map(|t| t.name.as_str())
        .chain(program.dims.iter().map(|d| d.name.as_str()))
        .chain(program.consts.iter().map(|c| c.name.as_str()))
        .collect();
    let letters: Vec<&str> = ["k", "l", "m", "n", "a", "b", "c", "d", "r", "s"]
        .into_iter()
        .filter(|l| !taken.contains(l))
        .collect();
    let tensors: Vec<TensorId> = program.tensors.keys().collect();
    let role = |t: TensorId| program.tensors[t].role.clone();
    let positions: Vec<TensorId> = program.pairs.iter().map(|p| p.position).collect();
    let momenta: Vec<TensorId> = program.pairs.iter().map(|p| p.momentum).collect();

    // First derivatives.
    // One output variable per (axis position, axis), shared by every derivative, so that
    // dV/dq[k] and dV/dW[k] are functions of the same k and share their subexpressions.
    let mut out_vars: HashMap<(usize, u64, Option<String>), Var> = HashMap::new();
    let mut first = |eq: &mut Equations, of: Of, wrt: TensorId| -> Option<Derivative> {
        let root = match of {
            Of::Kinetic => eq.kinetic,
            Of::Potential => eq.potential,
            Of::Loss => eq.loss?,
        };
        let mut out = Vec::new();
        for (a, axis) in program.tensors[wrt].shape.iter().enumerate() {
            let key = (a, axis.size, axis.dim.clone());
            let fresh = out_vars.len();
            let v = *out_vars.entry(key).or_insert_with(|| {
                let dim = Some(axis.label());
                eq.dag.var(letters[fresh % letters.len()], 0, axis.size as i64, dim)
            });
            out.push(v);
        }
        let node = gradient(&mut eq.dag, root, Leaf::Tensor(wrt), &out);
        (eq.dag.constant(node) != Some(0.0)).then_some(Derivative { of, wrt, along: None, out, node })
    };
    let mut firsts = Vec::new();
    for pair in &program.pairs {
        firsts.extend(first(&mut eq, Of::Kinetic, pair.momentum));
        firsts.extend(first(&mut eq, Of::Potential, pair.position));
    }
    for &t in &tensors {
        if matches!(role(t), Role::Param(_)) {
            firsts.extend(first(&mut eq, Of::Potential, t));
            firsts.extend(first(&mut eq, Of::Kinetic, t));
        }
    }
    for &t in &tensors {
        if role(t) == Role::Input {
            firsts.extend(first(&mut eq, Of::Potential, t));
        }
    }
    let mut losses = Vec::new();
    if eq.loss.is_some() {
        for &t in &tensors {
            if matches!(role(t), Role::Position(_) | Role::Momentum(_) | Role::Param(_)) {
                losses.extend(first(&mut eq, Of::Loss, t));
            }
        }
    }
    // Second derivatives: each first derivative along the state it is a derivative of.
    let mut seconds = Vec::new();
    for d in firsts.iter().chain(&losses) {
        let along = match d.of {
            Of::Kinetic => Along::Momenta,
            Of::Potential => Along::Positions,
            Of::Loss => Along::State,
        };
        if d.of == Of::Loss && !matches!(role(d.wrt), Role::Position(_) | Role::Momentum(_)) {
            continue;
        }
        let directions: Vec<TensorId> = match along {
            Along::Positions => positions.clone(),
            Along::Momenta => momenta.clone(),
            Along::State => positions.iter().chain(&momenta).copied().collect(),
        };
        let parts: Vec<Node> = directions
            .iter()
            .map(|&s| directional(&mut eq.dag, d.node, Leaf::Tensor(s), Leaf::Direction(s)))
            .collect();
        let node = eq.dag.add(parts);
        if eq.dag.constant(node) != Some(0.0) {
            seconds.push(Derivative { along: Some(along), node, ..d.clone() });
        }
    }
    eq.derivatives = firsts.into_iter().chain(losses).chain(seconds).collect();
    eq.dag.check_budget()?;
    Ok(eq)
}

/// Splits a separable `H` into `(K, V)`; `None` if it is not separable term by term.
fn split(dag: &mut Dag, program: &Program, h: Node) -> Option<(Node, Node)> {
    let mut reads: HashMap<Node, (bool, bool)> = HashMap::new();
    split_node(dag, program, h, &mut reads)
}

fn split_node(
    dag: &mut Dag,
    program: &Program,
    n: Node,
    reads: &mut HashMap<Node, (bool, bool)>,
) -> Option<(Node, Node)> {
    let (p, q) = state_read(dag, program, n, reads);
    let zero = dag.num(0.0);
    if !p {
        return Some((zero, n));
    }
    if !q {
        return Some((n, zero));
    }
    match dag.get(n).clone() {
        Term::Add(xs) => {
            let (mut ks, mut vs) = (Vec::new(), Vec::new());
            for x in xs {
                let (k, v) = split_node(dag, program, x, reads)?;
                ks.push(k);
                vs.push(v);
            }
            Some((dag.add(ks), dag.add(vs)))
        }
        Term::Mul(xs) => {
            let (stateful, others): (Vec<Node>, Vec<Node>) = xs.into_iter().partition(|&x| {
                let (p, q) = state_read(dag, program, x, reads);
                p || q
            });
            let [one] = stateful[..] else { return None };
            let (k, v) = split_node(dag, program, one, reads)?;
            let mut kf = others.clone();
            kf.push(k);
            let mut vf = others;
            vf.push(v);
            Some((dag.mul(kf), dag.mul(vf)))
        }
        Term::Sum { over, body } => {
            let (k, v) = split_node(dag, program, body, reads)?;
            Some((dag.sum(over.clone(), k), dag.sum(over, v)))
        }
        _ => None,
    }
}

/// Whether a node reads momenta, and whether it reads positions or inputs.
fn state_read(
    dag: &Dag,
    program: &Program,
    n: Node,
    reads: &mut HashMap<Node, (bool, bool)>,
) -> (bool, bool) {
    if let Some(&r) = reads.get(&n) {
        return r;
    }
    let r = match dag.get(n) {
        Term::Load { leaf: Leaf::Tensor(t), .. } => match program.tensors[*t].role {
            Role::Momentum(_) => (true, false),
            Role::Position(_) | Role::Input => (false, true),
            _ => (false, false),
        },
        Term::Add(xs) | Term::Mul(xs) => {
            let xs = xs.clone();
            xs.iter().fold((false, false), |acc, &x| {
                let r = state_read(dag, program, x, reads);
                (acc.0 || r.0, acc.1 || r.1)
            })
        }
        Term::Pow(a, b) => {
            let (a, b) = (*a, *b);
            let (ra, rb) = (state_read(dag, program, a, reads), state_read(dag, program, b, reads));
            (ra.0 || rb.0, ra.1 || rb.1)
        }
        Term::Call(_, a) | Term::Sum { body: a, .. } => {
            let a = *a;
            state_read(dag, program, a, reads)
        }
        _ => (false, false),
    };
    reads.insert(n, r);
    r
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
                    Along::State => "dx · δx",
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
        for d in self.derivatives.iter().filter(|d| d.along.is_none() && d.of != Of::Loss) {
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
        if let Some(l) = self.loss {
            writeln!(f, "  l = {}", self.show(l))?;
        }
        writeln!(f, "derivatives")?;
        for d in &self.derivatives {
            writeln!(f, "  {} = {}", self.label(d), self.show(d.node))?;
        }
        let roots: Vec<Node> = self.derivatives.iter().map(|d| d.node).collect();
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
