//! The symbolic expression DAG: hash-consed nodes in canonical form.
//!
//! Every node is built through a smart constructor ([`Dag::add`], [`Dag::mul`], ...) that
//! simplifies as it builds: constants fold, `0` and `1` vanish, nested sums and products
//! flatten, like terms collect (`2x + 3x = 5x`), powers of one base combine (`x * x = x^2`),
//! and operands are sorted. A node identical to one already built is that node (hash-consing),
//! so every common subexpression exists once: CSE is a property of the DAG, not a pass.
//!
//! Children are built before their parents, so handles grow in topological order. A side
//! table records each node's free index variables. Every constructor does a bounded amount of
//! work, so simplification always ends; [`Dag::check_budget`] bounds the DAG's size.

use std::collections::HashMap;
use std::fmt;

use cranelift_entity::{PrimaryMap, SecondaryMap, entity_impl};

use crate::ir::{Func, TensorId};

/// Handle of a node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Node(u32);
entity_impl!(Node, "%s");

/// Handle of an index variable of the DAG.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Var(u32);
entity_impl!(Var, "%v");

/// An index variable: its name for printing and its half-open range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarInfo {
    /// The name to print.
    pub name: String,
    /// The dim its range is, when it is a whole dim (then printing leaves the range out).
    pub dim: Option<String>,
    /// First value.
    pub lo: i64,
    /// One past the last value.
    pub hi: i64,
}

/// A leaf array: a tensor of the model, or a direction (tangent vector) of one of its
/// tensors, the `v` of a Hessian-vector product.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Leaf {
    /// A tensor of the model.
    Tensor(TensorId),
    /// The direction `v` paired with that tensor.
    Direction(TensorId),
    /// Per-step cotangents `dL/dq` of a position tensor, for models without a loss.
    Cotangent(TensorId),
}

/// An index: `((var + inner) mod wrap) + outer`, or the constant `outer` when `var` is none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ix {
    /// The index variable.
    pub var: Option<Var>,
    /// Added before wrapping.
    pub inner: i64,
    /// The Euclidean modulus, if any.
    pub wrap: Option<u64>,
    /// Added after wrapping.
    pub outer: i64,
}

impl Ix {
    /// The plain index `var`.
    pub fn var(v: Var) -> Ix {
        Ix { var: Some(v), inner: 0, wrap: None, outer: 0 }
    }

    /// The constant index `c`.
    pub fn constant(c: i64) -> Ix {
        Ix { var: None, inner: 0, wrap: None, outer: c }
    }

    /// Its value when the variable has value `x`.
    pub fn at(self, x: i64) -> i64 {
        let base = self.var.map_or(0, |_| x) + self.inner;
        let base = match self.wrap {
            Some(m) => base.rem_euclid(m as i64),
            None => base,
        };
        base + self.outer
    }

    /// This index with its variable replaced by the index `by`; `None` when the result does
    /// not have the form `((v + a) mod m) + b`.
    pub fn substitute(self, by: Ix) -> Option<Ix> {
        if self.var.is_none() {
            return Some(self);
        }
        match (by.wrap, self.wrap) {
            // (v + a + b') + ...: plain offsets add.
            (None, _) => Some(Ix { var: by.var, inner: by.inner + by.outer + self.inner, ..self }),
            // (((v + a) mod m) + b + inner) + outer: keep by's wrap.
            (Some(_), None) => Some(Ix { outer: by.outer + self.inner + self.outer, ..by }),
            // ((((v + a) mod m) + b + inner) mod m) + outer = ((v + a + b + inner) mod m) + outer.
            (Some(m), Some(n)) if m == n => Some(Ix {
                var: by.var,
                inner: by.inner + by.outer + self.inner,
                wrap: Some(m),
                outer: self.outer,
            }),
            _ => None,
        }
    }
}

/// The condition `lo <= ix < hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cond {
    /// The index tested.
    pub ix: Ix,
    /// Lowest value allowed.
    pub lo: i64,
    /// One past the highest.
    pub hi: i64,
}

/// A number with total equality, so that it can be hashed (`-0.0` is stored as `0.0`).
#[derive(Clone, Copy, Debug)]
pub struct Num(pub f64);

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Num {}
impl std::hash::Hash for Num {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// A node of the DAG.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Term {
    /// A number.
    Const(Num),
    /// An element of a leaf array.
    Load {
        /// Which array.
        leaf: Leaf,
        /// One index per axis.
        index: Vec<Ix>,
    },
    /// The sum of two or more terms, sorted.
    Add(Vec<Node>),
    /// The product of two or more factors, sorted; a constant factor comes first.
    Mul(Vec<Node>),
    /// `base ^ exponent`.
    Pow(Node, Node),
    /// A function of one argument.
    Call(Func, Node),
    /// The sum of `body` over the ranges of `over`.
    Sum {
        /// Summed variables, sorted.
        over: Vec<Var>,
        /// The summand.
        body: Node,
    },
    /// 1 where every condition holds, else 0: a boundary guard. A product holding a guard
    /// is 0 where the guard is, whatever its other factors are (they are not evaluated).
    Guard(Vec<Cond>),
    /// 1 where `var` equals the index, else 0 (a Kronecker delta). Differentiation makes them;
    /// sums eliminate them.
    Delta(Var, Ix),
}

/// Why building stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// The DAG grew past its node limit.
    NodeLimit(usize),
    /// Building it took more than this much work (operands hashed and combined).
    WorkLimit(usize),
    /// An index substitution left the forms the DAG represents.
    UnsupportedIndex,
    /// An expression (with its lets inlined) nests deeper than this.
    DepthLimit(u32),
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopReason::NodeLimit(n) => write!(f, "the derivatives grew past {n} nodes"),
            StopReason::WorkLimit(n) => write!(f, "the derivatives took more than {n} steps to build"),
            StopReason::UnsupportedIndex => f.write_str("an index of a derivative has no supported form"),
            StopReason::DepthLimit(n) => {
                write!(f, "an expression, with its lets inlined, nests more than {n} levels deep")
            }
        }
    }
}

/// The DAG: nodes, the hash-consing table, free variables and index variables.
#[derive(Clone, Debug)]
pub struct Dag {
    nodes: PrimaryMap<Node, Term>,
    dedup: HashMap<Term, Node>,
    free: SecondaryMap<Node, Vec<Var>>,
    depth: SecondaryMap<Node, u32>,
    /// Every index variable.
    pub vars: PrimaryMap<Var, VarInfo>,
    node_limit: usize,
    /// Operands handled so far, and the most allowed: past it, constructors return 0 at once
    /// and [`Dag::check_budget`] fails, so that no model makes the stage run for long.
    work: usize,
    work_limit: usize,
    /// Set when a construction could not be expressed; see [`Dag::check_budget`].
    pub unsupported: bool,
}

impl Default for Dag {
    fn default() -> Dag {
        Dag::with_node_limit(1 << 20)
    }
}

impl Dag {
    /// An empty DAG that refuses to grow past `limit` nodes.
    pub fn with_node_limit(limit: usize) -> Dag {
        Dag {
            nodes: PrimaryMap::new(),
            dedup: HashMap::new(),
            free: SecondaryMap::new(),
            depth: SecondaryMap::new(),
            vars: PrimaryMap::new(),
            node_limit: limit,
            work: 0,
            work_limit: 250_000,
            unsupported: false,
        }
    }

    /// `Ok` while the DAG is within its budget and every construction was expressible.
    pub fn check_budget(&self) -> Result<(), StopReason> {
        if self.unsupported {
            Err(StopReason::UnsupportedIndex)
        } else if self.work > self.work_limit {
            Err(StopReason::WorkLimit(self.work_limit))
        } else if self.nodes.len() > self.node_limit {
            Err(StopReason::NodeLimit(self.node_limit))
        } else {
            Ok(())
        }
    }

    /// The node behind a handle.
    pub fn get(&self, n: Node) -> &Term {
        &self.nodes[n]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the DAG is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The depth of a node: 1 for a leaf, one more than its deepest operand otherwise.
    /// Every recursive walk over the DAG is bounded by it.
    pub fn depth(&self, n: Node) -> u32 {
        self.depth[n]
    }

    /// The free index variables of a node, sorted.
    pub fn free(&self, n: Node) -> &[Var] {
        &self.free[n]
    }

    /// A new index variable over `lo..hi`; `dim` names the range when it is a whole dim.
    pub fn var(&mut self, name: &str, lo: i64, hi: i64, dim: Option<String>) -> Var {
        self.vars.push(VarInfo { name: name.to_owned(), dim, lo, hi })
    }

    /// The constant value of a node, if it is one.
    pub fn constant(&self, n: Node) -> Option<f64> {
        match self.nodes[n] {
            Term::Const(Num(c)) => Some(c),
            _ => None,
        }
    }

    /// Whether the work budget is spent; constructors then return 0 without working.
    pub fn exhausted(&self) -> bool {
        self.work > self.work_limit
    }

    /// The work done so far (for budgets and benchmarks).
    pub fn work(&self) -> usize {
        self.work
    }

    /// Interns a term (already in canonical form).
    pub(super) fn intern(&mut self, term: Term) -> Node {
        if let Some(&n) = self.dedup.get(&term) {
            return n;
        }
        let mut free: Vec<Var> = match &term {
            Term::Const(_) => Vec::new(),
            Term::Load { index, .. } => index.iter().filter_map(|i| i.var).collect(),
            Term::Add(xs) | Term::Mul(xs) => xs.iter().flat_map(|&x| self.free[x].clone()).collect(),
            Term::Pow(a, b) => self.free[*a].iter().chain(&self.free[*b]).copied().collect(),
            Term::Call(_, a) => self.free[*a].clone(),
            Term::Sum { over, body } => {
                self.free[*body].iter().copied().filter(|v| !over.contains(v)).collect()
            }
            Term::Guard(conds) => conds.iter().filter_map(|c| c.ix.var).collect(),
            Term::Delta(v, ix) => std::iter::once(*v).chain(ix.var).collect(),
        };
        free.sort();
        free.dedup();
        let depth = 1 + match &term {
            Term::Add(xs) | Term::Mul(xs) => xs.iter().map(|&x| self.depth[x]).max().unwrap_or(0),
            Term::Pow(a, b) => self.depth[*a].max(self.depth[*b]),
            Term::Call(_, a) | Term::Sum { body: a, .. } => self.depth[*a],
            _ => 0,
        };
        let n = self.nodes.push(term.clone());
        self.free[n] = free;
        self.depth[n] = depth;
        self.dedup.insert(term, n);
        n
    }

    // ---- constructors ---------------------------------------------------------------------

    /// A number (`-0.0` becomes `0.0`).
    pub fn num(&mut self, c: f64) -> Node {
        self.intern(Term::Const(Num(if c == 0.0 { 0.0 } else { c })))
    }

    /// An element of a leaf array.
    pub fn load(&mut self, leaf: Leaf, index: Vec<Ix>) -> Node {
        let index = index.into_iter().map(|ix| self.normalize(ix)).collect();
        self.intern(Term::Load { leaf, index })
    }

    /// The simplest form of an index: a wrap that never wraps over the variable's range is
    /// dropped, and offsets without a wrap are added into one.
    pub fn normalize(&self, ix: Ix) -> Ix {
        let Some(v) = ix.var else { return Ix::constant(ix.at(0)) };
        let (lo, hi) = (self.vars[v].lo + ix.inner, self.vars[v].hi + ix.inner);
        match ix.wrap {
            Some(m) if lo >= 0 && hi <= m as i64 => {
                Ix { var: Some(v), inner: ix.inner + ix.outer, wrap: None, outer: 0 }
            }
            Some(_) => ix,
            None => Ix { var: Some(v), inner: ix.inner + ix.outer, wrap: None, outer: 0 },
        }
    }

    /// `a + b`.
    pub fn add2(&mut self, a: Node, b: Node) -> Node {
        self.add(vec![a, b])
    }

    /// `a - b`.
    pub fn sub(&mut self, a: Node, b: Node) -> Node {
        let nb = self.neg(b);
        self.add(vec![a, nb])
    }

    /// `-a`.
    pub fn neg(&mut self, a: Node) -> Node {
        let m = self.num(-1.0);
        self.mul(vec![m, a])
    }

    /// `a * b`.
    pub fn mul2(&mut self, a: Node, b: Node) -> Node {
        self.mul(vec![a, b])
    }

    /// `a / b`.
    pub fn div(&mut self, a: Node, b: Node) -> Node {
        let m = self.num(-1.0);
        let inv = self.pow(b, m);
        self.mul(vec![a, inv])
    }

    /// The coefficient and the rest of a term: `3 * x * y` is `(3, x * y)`.
    fn split_coefficient(&mut self, n: Node) -> (f64, Node) {
        match self.nodes[n].clone() {
            Term::Const(Num(c)) => (c, self.num(1.0)),
            Term::Mul(xs) => match self.constant(xs[0]) {
                Some(c) => {
                    let rest = xs[1..].to_vec();
                    (c, self.mul(rest))
                }
                None => (1.0, n),
            },
            _ => (1.0, n),
        }
    }

    /// The sum of `terms`: flattened, constants folded, like terms collected, sorted.
    pub fn add(&mut self, terms: Vec<Node>) -> Node {
        self.work += terms.len();
        if self.exhausted() {
            return self.num(0.0);
        }
        let mut flat = Vec::new();
        let mut stack = terms;
        while let Some(t) = stack.pop() {
            match &self.nodes[t] {
                Term::Add(xs) => stack.extend(xs.iter().copied()),
                _ => flat.push(t),
            }
        }
        // Collect like terms: coefficient per distinct rest, in first-seen order.
        let mut constant = 0.0;
        let mut order: Vec<Node> = Vec::new();
        let mut coefficient: HashMap<Node, f64> = HashMap::new();
        for t in flat {
            if let Some(c) = self.constant(t) {
                constant += c;
                continue;
            }
            let (c, rest) = self.split_coefficient(t);
            match coefficient.get_mut(&rest) {
                Some(sum) => *sum += c,
                None => {
                    order.push(rest);
                    coefficient.insert(rest, c);
                }
            }
        }
        let mut out: Vec<Node> = Vec::new();
        for rest in order {
            let c = coefficient[&rest];
            if c != 0.0 {
                let k = self.num(c);
                out.push(self.mul(vec![k, rest]));
            }
        }
        if constant != 0.0 || out.is_empty() {
            out.push(self.num(constant));
        }
        if out.len() == 1 {
            return out[0];
        }
        out.sort();
        self.intern(Term::Add(out))
    }

    /// The product of `factors`: flattened, constants folded, powers of one base combined,
    /// sorted with the constant first.
    pub fn mul(&mut self, factors: Vec<Node>) -> Node {
        self.work += factors.len();
        if self.exhausted() {
            return self.num(0.0);
        }
        let mut flat = Vec::new();
        let mut stack = factors;
        while let Some(f) = stack.pop() {
            match &self.nodes[f] {
                Term::Mul(xs) => stack.extend(xs.iter().copied()),
                _ => flat.push(f),
            }
        }
        let mut constant = 1.0;
        let mut order: Vec<Node> = Vec::new();
        let mut exponent: HashMap<Node, Vec<Node>> = HashMap::new();
        let mut guards: Vec<Cond> = Vec::new();
        for f in flat {
            if let Some(c) = self.constant(f) {
                constant *= c;
                continue;
            }
            if let Term::Guard(conds) = &self.nodes[f] {
                guards.extend(conds.iter().copied());
                continue;
            }
            let (base, e) = match self.nodes[f].clone() {
                Term::Pow(b, e) => (b, e),
                _ => (f, self.num(1.0)),
            };
            match exponent.get_mut(&base) {
                Some(es) => es.push(e),
                None => {
                    order.push(base);
                    exponent.insert(base, vec![e]);
                }
            }
        }
        if constant == 0.0 {
            return self.num(0.0);
        }
        let mut out = Vec::new();
        for base in order {
            let es = exponent.remove(&base).unwrap_or_default();
            let e = self.add(es);
            let p = self.pow(base, e);
            match self.constant(p) {
                Some(c) => constant *= c,
                None => out.push(p),
            }
        }
        if !guards.is_empty() {
            let g = self.guard(guards);
            match self.constant(g) {
                Some(0.0) => return self.num(0.0),
                Some(_) => {}
                None => out.push(g),
            }
        }
        if constant == 0.0 {
            return self.num(0.0);
        }
        out.sort();
        // A number times a sum is distributed, so that like terms can meet: 0.5 (2x + 2y) = x + y.
        if let ([single], true) = (&out[..], constant != 1.0)
            && let Term::Add(terms) = self.nodes[*single].clone()
        {
            let k = self.num(constant);
            let scaled: Vec<Node> = terms.into_iter().map(|t| self.mul2(k, t)).collect();
            return self.add(scaled);
        }
        if constant != 1.0 || out.is_empty() {
            let k = self.num(constant);
            out.insert(0, k);
        }
        if out.len() == 1 {
            return out[0];
        }
        self.intern(Term::Mul(out))
    }

    /// `base ^ exponent`, folded where the exponent is 0 or 1 or both are numbers, and
    /// `(x^a)^b = x^(a b)` for an integer `b`.
    pub fn pow(&mut self, base: Node, exponent: Node) -> Node {
        match (self.constant(base), self.constant(exponent)) {
            (_, Some(0.0)) => return self.num(1.0),
            (_, Some(1.0)) => return base,
            (Some(b), Some(e)) => return self.num(b.powf(e)),
            (Some(1.0), None) => return self.num(1.0),
            _ => {}
        }
        if let Some(e) = self.constant(exponent).filter(|e| e.fract() == 0.0) {
            match self.nodes[base].clone() {
                // (x^a)^n = x^(a n)
                Term::Pow(b, a) => {
                    let ae = self.mul2(a, exponent);
                    return self.pow(b, ae);
                }
                // (x y)^n = x^n y^n
                Term::Mul(xs) => {
                    let n = self.num(e);
                    let powers: Vec<Node> = xs.into_iter().map(|x| self.pow(x, n)).collect();
                    return self.mul(powers);
                }
                _ => {}
            }
        }
        self.intern(Term::Pow(base, exponent))
    }

    /// `f(a)`, folded when `a` is a number.
    pub fn call(&mut self, f: Func, a: Node) -> Node {
        match self.constant(a) {
            Some(x) => self.num(f.eval(x)),
            None => self.intern(Term::Call(f, a)),
        }
    }

    /// The guard `conds` (1 where all hold): conditions that always hold are dropped, one
    /// that never holds makes it 0.
    pub fn guard(&mut self, conds: Vec<Cond>) -> Node {
        let mut kept: Vec<Cond> = Vec::new();
        for c in conds {
            // [lo <= k + a < hi] is [lo - a <= k < hi - a].
            let c = match self.normalize(c.ix) {
                Ix { var: Some(v), inner, wrap: None, .. } => {
                    Cond { ix: Ix::var(v), lo: c.lo - inner, hi: c.hi - inner }
                }
                ix => Cond { ix, ..c },
            };
            let (lo, hi) = self.range_of(c.ix);
            if lo >= c.lo && hi <= c.hi {
                continue; // always holds
            }
            if hi <= c.lo || lo >= c.hi {
                return self.num(0.0); // never holds
            }
            if !kept.contains(&c) {
                kept.push(c);
            }
        }
        if kept.is_empty() {
            return self.num(1.0);
        }
        kept.sort();
        self.intern(Term::Guard(kept))
    }

    /// The half-open range of values an index takes over its variable's range.
    pub fn range_of(&self, ix: Ix) -> (i64, i64) {
        let (lo, hi) = match ix.var {
            Some(v) => (self.vars[v].lo, self.vars[v].hi),
            None => (0, 1),
        };
        match (ix.var, ix.wrap) {
            (None, _) => (ix.at(0), ix.at(0) + 1),
            (Some(_), Some(m)) if hi - lo >= m as i64 => (ix.outer, ix.outer + m as i64),
            (Some(_), Some(m)) => {
                let (a, b) = ((lo + ix.inner).rem_euclid(m as i64), (hi - 1 + ix.inner).rem_euclid(m as i64));
                if a <= b { (a + ix.outer, b + 1 + ix.outer) } else { (ix.outer, ix.outer + m as i64) }
            }
            (Some(_), None) => (lo + ix.inner + ix.outer, hi + ix.inner + ix.outer),
        }
    }

    /// The Kronecker delta `[var == ix]`.
    pub fn delta(&mut self, var: Var, ix: Ix) -> Node {
        let ix = self.normalize(ix);
        self.intern(Term::Delta(var, ix))
    }
}
