//! Lowering of symbolic expressions into kernel statements.
//!
//! [`Builder`] keeps a stack of open scopes: the kernel's root, the time loop, *phases* (the
//! statements between two writes of the state) and loops. Each DAG node is computed once per
//! scope, in the outermost scope where it is valid: below the loops that bind its free index
//! variables and below the scope where the arrays it reads last changed (params never change
//! in a kernel, inputs once per step, the state once per phase). This is loop-invariant code
//! motion and common-subexpression elimination in one rule. A sum or a function of one index
//! that is valid further out than the loop over that index is computed there for every index
//! into a scratch array ([`Builder::hoisted`]), so `sigmoid(c[k])` is computed once per `k`
//! per kernel and `sum(j, B[k, j] * u[j])` once per `k` per step, however many loops use them.

use std::collections::HashMap;
use std::rc::Rc;

use cranelift_entity::PrimaryMap;
use hsc_runtime::{Pass, Slot};

use super::{BinOp, Buf, Buffer, Cond, Index, Kernel, LoopVar, Op, Stmt, Value};
use crate::symbolic::{Cond as DagCond, Dag, Ix, Leaf, Node, Term, Var};

/// Where a leaf array's elements come from in a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct LeafBind {
    /// The buffer.
    pub buf: Buf,
    /// For a buffer with a time axis, which row.
    pub row: Option<Row>,
    /// Read as its negation (the momenta of an echo are `-p`).
    pub negate: bool,
    /// How long a value read from it stays valid.
    pub life: Life,
}

/// A row of a time-indexed buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Row {
    /// The current step plus an offset.
    Step(i64),
    /// A fixed row.
    Fixed(i64),
}

/// How long a value read from a buffer stays valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Life {
    /// The whole kernel (params).
    Kernel,
    /// One step (inputs, targets, a recorded trajectory).
    Step,
    /// One phase (the state and other buffers the kernel writes).
    Phase,
}

/// A product (or a sum of products) with one factor that differs between two bindings: see
/// [`Builder::split`].
#[derive(Clone, Debug)]
pub(super) struct Split {
    /// The factor that differs.
    pub factor: Node,
    /// The variables of the sum around the product (none for a plain product).
    pub over: Vec<Var>,
    /// The product's other factors, which read the same under both bindings.
    pub others: Vec<Node>,
}

/// The buffer of every leaf an expression may read.
pub(super) type Binding = HashMap<Leaf, LeafBind>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Root,
    Steps { var: LoopVar, reverse: bool },
    Phase,
    Loop { var: LoopVar, lo: i64, hi: i64 },
}

type MemoKey = (Node, Vec<LeafBind>);

struct Scope {
    kind: Kind,
    /// The DAG variable the scope binds, for loops.
    binds: Option<Var>,
    stmts: Vec<Stmt>,
    memo: HashMap<MemoKey, Value>,
    /// Per-index values computed in this scope for every index (see [`Builder::hoisted`]).
    arrays: HashMap<MemoKey, Buf>,
}

impl Scope {
    fn new(kind: Kind, binds: Option<Var>) -> Scope {
        Scope { kind, binds, stmts: Vec::new(), memo: HashMap::new(), arrays: HashMap::new() }
    }
}

/// Builds one kernel.
pub(super) struct Builder {
    pass: Pass,
    buffers: PrimaryMap<Buf, Buffer>,
    vars: PrimaryMap<LoopVar, String>,
    ranges: HashMap<LoopVar, (i64, i64)>,
    values: u32,
    scopes: Vec<Scope>,
    reads: HashMap<Node, Rc<[Leaf]>>,
    /// Each number once, in the root scope.
    consts: HashMap<u64, Value>,
}

impl Builder {
    pub fn new(pass: Pass) -> Builder {
        Builder {
            pass,
            buffers: PrimaryMap::new(),
            vars: PrimaryMap::new(),
            ranges: HashMap::new(),
            values: 0,
            scopes: vec![Scope::new(Kind::Root, None)],
            reads: HashMap::new(),
            consts: HashMap::new(),
        }
    }

    /// Declares a buffer.
    pub fn buffer(
        &mut self,
        name: impl Into<String>,
        slot: Option<Slot>,
        time: Option<usize>,
        shape: &[u64],
    ) -> Buf {
        self.buffers.push(Buffer { name: name.into(), slot, time, shape: shape.to_vec() })
    }

    /// The shape of a buffer (without its time axis).
    pub fn shape(&self, buf: Buf) -> Vec<u64> {
        self.buffers[buf].shape.clone()
    }

    /// The finished kernel.
    pub fn finish(mut self) -> Kernel {
        assert_eq!(self.scopes.len(), 1, "every scope is closed");
        let root = self.scopes.pop().expect("the root scope");
        Kernel {
            pass: self.pass,
            buffers: self.buffers,
            vars: self.vars,
            values: self.values,
            body: root.stmts,
        }
    }

    /// Runs `f` inside the time loop.
    pub fn steps(&mut self, reverse: bool, f: impl FnOnce(&mut Builder)) {
        let var = self.fresh_var("t", (0, i64::MAX));
        self.scopes.push(Scope::new(Kind::Steps { var, reverse }, None));
        f(self);
        self.close();
    }

    /// Runs `f` in a phase of its own: values read from buffers the kernel writes are not
    /// reused across phases.
    pub fn phase(&mut self, f: impl FnOnce(&mut Builder)) {
        self.scopes.push(Scope::new(Kind::Phase, None));
        f(self);
        self.close();
    }

    /// Runs `f` inside loops over the ranges of the DAG variables `vars`, which they bind.
    pub fn for_vars(&mut self, dag: &Dag, vars: &[Var], f: impl FnOnce(&mut Builder, &[Index])) {
        let mut index = Vec::new();
        for &v in vars {
            let info = &dag.vars[v];
            let var = self.fresh_var(&info.name, (info.lo, info.hi));
            self.scopes.push(Scope::new(Kind::Loop { var, lo: info.lo, hi: info.hi }, Some(v)));
            index.push(Index::var(var, 0));
        }
        f(self, &index);
        for _ in vars {
            self.close();
        }
    }

    /// Runs `f` inside loops over every element of `shape`.
    pub fn for_shape(&mut self, shape: &[u64], f: impl FnOnce(&mut Builder, &[Index])) {
        let mut index = Vec::new();
        for (a, &n) in shape.iter().enumerate() {
            let var = self.fresh_var(["k", "l", "m", "n"].get(a).copied().unwrap_or("r"), (0, n as i64));
            self.scopes.push(Scope::new(Kind::Loop { var, lo: 0, hi: n as i64 }, None));
            index.push(Index::var(var, 0));
        }
        f(self, &index);
        for _ in shape {
            self.close();
        }
    }

    /// The index of the current step in a buffer's time axis.
    pub fn row(&self, row: Row) -> Index {
        match row {
            Row::Step(offset) => match self.steps_var() {
                Some(t) => Index::var(t, offset),
                None => Index::constant(offset),
            },
            Row::Fixed(r) => Index::constant(r),
        }
    }

    /// Emits `op` in the innermost scope.
    pub fn emit(&mut self, op: Op) -> Value {
        let top = self.scopes.len() - 1;
        self.emit_at(top, op)
    }

    /// Emits `op` in the kernel's root scope (for constants and scalar arguments).
    pub fn emit_root(&mut self, op: Op) -> Value {
        self.emit_at(0, op)
    }

    pub fn binary(&mut self, op: BinOp, a: Value, b: Value) -> Value {
        self.emit(Op::Binary(op, a, b))
    }

    pub fn load(&mut self, buf: Buf, index: Vec<Index>) -> Value {
        self.emit(Op::Load { buf, index })
    }

    pub fn store(&mut self, buf: Buf, index: Vec<Index>, value: Value, add: bool) {
        let top = self.scopes.len() - 1;
        self.scopes[top].stmts.push(Stmt::Store { buf, index, value, add });
    }

    /// The value of DAG node `n` with its leaves read as `bind` says.
    pub fn value(&mut self, dag: &Dag, n: Node, bind: &Binding) -> Value {
        let s = self.placement(dag, n, bind);
        let reads = self.reads(dag, n);
        let key: MemoKey = (n, reads.iter().map(|l| bind[l]).collect());
        if let Some(&v) = self.scopes[s].memo.get(&key) {
            return v;
        }
        if let Some(v) = self.hoisted(dag, n, bind, s, &key) {
            self.scopes[s].memo.insert(key, v);
            return v;
        }
        let v = match dag.get(n).clone() {
            Term::Const(c) => self.emit_at(s, Op::Const(c.0)),
            Term::Load { leaf, index } => {
                let b = bind[&leaf];
                let mut idx: Vec<Index> = b.row.map(|r| self.row(r)).into_iter().collect();
                let shape = self.buffers[b.buf].shape.clone();
                for (ix, &size) in index.iter().zip(&shape) {
                    idx.push(self.index(*ix, Some(size)));
                }
                let v = self.emit_at(s, Op::Load { buf: b.buf, index: idx });
                if b.negate { self.emit_at(s, Op::Neg(v)) } else { v }
            }
            Term::Add(xs) => {
                let vals: Vec<Value> = xs.iter().map(|&x| self.value(dag, x, bind)).collect();
                self.fold(s, BinOp::Add, &vals)
            }
            Term::Mul(xs) => {
                let (guards, mut factors): (Vec<Node>, Vec<Node>) =
                    xs.iter().partition(|&&x| matches!(dag.get(x), Term::Guard(_) | Term::Delta(..)));
                // Outermost factors first, and of those placed alike, those with fewer index
                // variables: the partial product of the factors an inner loop does not change
                // (an interchanged sum's loop included) is then one value that loop-invariant
                // motion lifts out.
                factors.sort_by_cached_key(|&x| (self.placement(dag, x, bind), dag.free(x).len()));
                let vals: Vec<Value> = factors.iter().map(|&x| self.value(dag, x, bind)).collect();
                let product = if vals.is_empty() {
                    self.emit_at(s, Op::Const(1.0))
                } else {
                    self.fold(s, BinOp::Mul, &vals)
                };
                if guards.is_empty() {
                    product
                } else {
                    let conds = guards.iter().flat_map(|&g| self.conds(dag, g)).collect();
                    let zero = self.emit_at(0, Op::Const(0.0));
                    self.emit_at(s, Op::Select { conds, then: product, otherwise: zero })
                }
            }
            Term::Pow(a, b) => {
                let base = self.value(dag, a, bind);
                match dag.constant(b) {
                    Some(e) if e.fract() == 0.0 && e.abs() <= 64.0 => {
                        self.emit_at(s, Op::Powi(base, e as i32))
                    }
                    _ => {
                        let exp = self.value(dag, b, bind);
                        self.emit_at(s, Op::Binary(BinOp::Pow, base, exp))
                    }
                }
            }
            Term::Call(f, a) => {
                let a = self.value(dag, a, bind);
                self.emit_at(s, Op::Call(f, a))
            }
            Term::Sum { over, .. } => self.reduce(dag, s, &over, &mut |b, body| b.value(dag, body, bind), n),
            Term::Guard(_) | Term::Delta(..) => {
                let conds = self.conds(dag, n);
                let one = self.emit_at(0, Op::Const(1.0));
                let zero = self.emit_at(0, Op::Const(0.0));
                self.emit_at(s, Op::Select { conds, then: one, otherwise: zero })
            }
        };
        self.scopes[s].memo.insert(key, v);
        v
    }

    /// `value(n)` under `binds[0]` minus `value(n)` under `binds[1]` (`None` where `n` reads
    /// the same elements under both, so the difference is 0), with the subtraction taken as
    /// far in as the expression is linear in what differs: through sums and sums of terms,
    /// and into the one factor of a product that differs. So the difference of two echoes'
    /// `sum(i, B[i, m] w[i] tanh(z[i]))` is one sum of `B[i, m] w[i] (tanh(z0[i]) -
    /// tanh(z1[i]))`, not two sums subtracted, and a per-element factor is computed once
    /// for both. (The same value up to rounding: the small difference is rounded fewer
    /// times.)
    pub fn difference(&mut self, dag: &Dag, n: Node, binds: [&Binding; 2]) -> Option<Value> {
        if !self.differs(dag, n, binds) {
            return None;
        }
        let s = self.placement(dag, n, binds[0]).max(self.placement(dag, n, binds[1]));
        match dag.get(n).clone() {
            Term::Add(xs) => {
                let diffs: Vec<Value> = xs.iter().filter_map(|&x| self.difference(dag, x, binds)).collect();
                Some(self.fold(s, BinOp::Add, &diffs))
            }
            Term::Mul(xs) => {
                let (guards, factors): (Vec<Node>, Vec<Node>) =
                    xs.iter().partition(|&&x| matches!(dag.get(x), Term::Guard(_) | Term::Delta(..)));
                let Some(d) = self.only_differing(dag, &factors, binds) else {
                    return Some(self.subtract(dag, n, s, binds));
                };
                let mut others = factors.clone();
                let factor = others.remove(d);
                let diff = self.difference(dag, factor, binds).expect("the factor differs");
                let product = self.times(dag, s, diff, &others, binds[0]);
                if guards.is_empty() {
                    return Some(product);
                }
                let conds = guards.iter().flat_map(|&g| self.conds(dag, g)).collect();
                let zero = self.emit_at(0, Op::Const(0.0));
                Some(self.emit_at(s, Op::Select { conds, then: product, otherwise: zero }))
            }
            Term::Sum { over, .. } => Some(self.reduce(
                dag,
                s,
                &over,
                &mut |b, body| b.difference(dag, body, binds).expect("the summand differs"),
                n,
            )),
            _ => Some(self.subtract(dag, n, s, binds)),
        }
    }

    /// Where [`Builder::difference`] of `n` comes down to one factor: `n` is a product, or a
    /// sum of products, of which exactly one factor reads something that differs between
    /// `binds` (no guards). Its difference can then be accumulated alone, over that factor's
    /// variables, and multiplied by the rest later ([`Builder::deferred`]); worth it when the
    /// factor has fewer variables than the product, as the echo's `tanh(z[k])` in
    /// `dV/dB[k, l] = s[k] tanh(z[k]) u[l] / W[k]`.
    pub fn split(&mut self, dag: &Dag, n: Node, binds: [&Binding; 2]) -> Option<Split> {
        let (over, body) = match dag.get(n) {
            Term::Sum { over, body } => (over.clone(), *body),
            _ => (Vec::new(), n),
        };
        let Term::Mul(xs) = dag.get(body).clone() else { return None };
        if xs.iter().any(|&x| matches!(dag.get(x), Term::Guard(_) | Term::Delta(..))) {
            return None;
        }
        let i = self.only_differing(dag, &xs, binds)?;
        let mut others = xs.clone();
        let factor = others.remove(i);
        Some(Split { factor, over, others })
    }

    /// `n` of a [`Split`] with its one differing factor replaced by `acc`, a buffer indexed by
    /// that factor's free variables (each from 0): `sum(over, acc[..] · others)`, or the
    /// product alone, in the innermost scope, the other factors read as `bind` says.
    pub fn deferred(&mut self, dag: &Dag, n: Node, split: &Split, acc: Buf, bind: &Binding) -> Value {
        let product = |b: &mut Builder| {
            let index = dag.free(split.factor).iter().map(|&v| Index::var(b.binder(v).1, 0)).collect();
            let top = b.scopes.len() - 1;
            let factor = b.emit_at(top, Op::Load { buf: acc, index });
            b.times(dag, top, factor, &split.others, bind)
        };
        if split.over.is_empty() {
            return product(self);
        }
        let top = self.scopes.len() - 1;
        self.reduce(dag, top, &split.over.clone(), &mut |b, _| product(b), n)
    }

    /// Whether `n` reads something that differs between `binds`.
    fn differs(&mut self, dag: &Dag, n: Node, binds: [&Binding; 2]) -> bool {
        self.reads(dag, n).iter().any(|l| binds[0][l] != binds[1][l])
    }

    /// The position of the one node of `factors` that differs between `binds`, if exactly one
    /// does.
    fn only_differing(&mut self, dag: &Dag, factors: &[Node], binds: [&Binding; 2]) -> Option<usize> {
        let differing: Vec<usize> =
            (0..factors.len()).filter(|&i| self.differs(dag, factors[i], binds)).collect();
        match differing.as_slice() {
            &[i] => Some(i),
            _ => None,
        }
    }

    /// `first` times the `others` read as `bind` says, placed in scope `s`: the others from
    /// the outermost scope in, so the product of what an inner loop does not change is
    /// computed outside it.
    fn times(&mut self, dag: &Dag, s: usize, first: Value, others: &[Node], bind: &Binding) -> Value {
        let mut others: Vec<(usize, Node)> =
            others.iter().map(|&f| (self.placement(dag, f, bind), f)).collect();
        others.sort_by_key(|&(scope, _)| scope);
        let mut vals = vec![first];
        for (_, f) in others {
            vals.push(self.value(dag, f, bind));
        }
        self.fold(s, BinOp::Mul, &vals)
    }

    /// `value(n)` under `binds[0]` minus under `binds[1]`, placed in scope `s`.
    fn subtract(&mut self, dag: &Dag, n: Node, s: usize, binds: [&Binding; 2]) -> Value {
        let x = self.value(dag, n, binds[0]);
        let y = self.value(dag, n, binds[1]);
        self.emit_at(s, Op::Binary(BinOp::Sub, x, y))
    }

    /// A sum or a function of one index variable `k`, placed in `k`'s loop `s` but valid in an
    /// outer scope with at least one scope between (a loop that would recompute it, or phases
    /// that would each compute it again): computed there once for every `k` into a scratch
    /// array, and loaded here. So `sigmoid(c[k])` is computed once per kernel and
    /// `sum(j, B[k, j] * u[j])` once per step, however many loops use them.
    fn hoisted(&mut self, dag: &Dag, n: Node, bind: &Binding, s: usize, key: &MemoKey) -> Option<Value> {
        if !matches!(dag.get(n), Term::Sum { .. } | Term::Call(..)) {
            return None;
        }
        let &[v] = dag.free(n) else { return None };
        let (binder, var) = self.binder(v);
        let reads = self.reads(dag, n);
        let valid = reads.iter().map(|l| self.life_scope(bind[l].life)).max().unwrap_or(0);
        if binder != s || valid + 1 >= s {
            return None;
        }
        let (lo, hi) = (dag.vars[v].lo, dag.vars[v].hi);
        let buf = match self.scopes[valid].arrays.get(key) {
            Some(&buf) => buf,
            None => {
                let name = format!("hoisted{}", self.buffers.len());
                let buf = self.buffer(name, None, None, &[(hi - lo) as u64]);
                let saved = self.scopes.split_off(valid + 1);
                let k = self.fresh_var(&dag.vars[v].name.clone(), (lo, hi));
                self.scopes.push(Scope::new(Kind::Loop { var: k, lo, hi }, Some(v)));
                let x = self.value(dag, n, bind);
                self.store(buf, vec![Index::var(k, -lo)], x, false);
                self.close();
                self.scopes.extend(saved);
                self.scopes[valid].arrays.insert(key.clone(), buf);
                buf
            }
        };
        Some(self.emit_at(s, Op::Load { buf, index: vec![Index::var(var, -lo)] }))
    }

    /// The sum `n` (a `Term::Sum`) as nested reductions opened in scope `s`, each summand
    /// computed by `summand` (from the builder and the summand's node) in the innermost.
    fn reduce(
        &mut self,
        dag: &Dag,
        s: usize,
        over: &[Var],
        summand: &mut dyn FnMut(&mut Builder, Node) -> Value,
        n: Node,
    ) -> Value {
        let saved = self.scopes.split_off(s + 1);
        let v = over[0];
        let info = &dag.vars[v];
        let (lo, hi) = (info.lo, info.hi);
        let var = self.fresh_var(&info.name.clone(), (lo, hi));
        self.scopes.push(Scope::new(Kind::Loop { var, lo, hi }, Some(v)));
        let inner = if over.len() > 1 {
            let top = self.scopes.len() - 1;
            self.reduce(dag, top, &over[1..], summand, n)
        } else {
            let Term::Sum { body, .. } = dag.get(n) else { unreachable!("reduce is called on sums") };
            summand(self, *body)
        };
        let scope = self.scopes.pop().expect("the reduction's scope");
        let result = self.fresh_value();
        self.scopes[s].stmts.push(Stmt::Reduce { result, var, lo, hi, body: scope.stmts, value: inner });
        self.scopes.extend(saved);
        result
    }

    fn conds(&mut self, dag: &Dag, g: Node) -> Vec<Cond> {
        match dag.get(g).clone() {
            Term::Guard(conds) => conds
                .iter()
                .map(|&DagCond { ix, lo, hi }| Cond::Range { index: self.index(ix, None), lo, hi })
                .collect(),
            Term::Delta(v, ix) => vec![Cond::Equal(self.index(Ix::var(v), None), self.index(ix, None))],
            _ => Vec::new(),
        }
    }

    /// A DAG index as a kernel index, clamped into `0..size` when its range may leave it.
    fn index(&self, ix: Ix, size: Option<u64>) -> Index {
        let var = ix.var.map(|v| self.binder(v).1);
        let mut index = Index { var, inner: ix.inner, wrap: ix.wrap, outer: ix.outer, clamp: None };
        if let Some(size) = size {
            let (lo, hi) = match (var, ix.wrap) {
                (_, Some(m)) => (ix.outer, ix.outer + m as i64 - 1),
                (Some(v), None) => {
                    let (a, b) = self.ranges[&v];
                    (a + ix.inner + ix.outer, b - 1 + ix.inner + ix.outer)
                }
                (None, None) => (ix.outer, ix.outer),
            };
            if lo < 0 || hi >= size as i64 {
                index.clamp = Some(size);
            }
        }
        index
    }

    /// The innermost scope binding `v`, and its loop variable.
    fn binder(&self, v: Var) -> (usize, LoopVar) {
        for (i, s) in self.scopes.iter().enumerate().rev() {
            if s.binds == Some(v)
                && let Kind::Loop { var, .. } = s.kind
            {
                return (i, var);
            }
        }
        panic!("internal error: index variable {v} is used outside a loop that binds it")
    }

    /// The outermost scope where `n` may be computed.
    fn placement(&mut self, dag: &Dag, n: Node, bind: &Binding) -> usize {
        let mut s = 0;
        for &v in dag.free(n) {
            s = s.max(self.binder(v).0);
        }
        let reads = self.reads(dag, n);
        for leaf in reads.iter() {
            let Some(b) = bind.get(leaf) else {
                panic!("internal error: leaf {leaf:?} has no buffer in kernel {}", self.pass.name())
            };
            s = s.max(self.life_scope(b.life));
        }
        s
    }

    fn life_scope(&self, life: Life) -> usize {
        let innermost =
            |want: &dyn Fn(Kind) -> bool| self.scopes.iter().rposition(|s| want(s.kind)).unwrap_or(0);
        match life {
            Life::Kernel => 0,
            Life::Step => innermost(&|k| matches!(k, Kind::Steps { .. })),
            Life::Phase => innermost(&|k| matches!(k, Kind::Steps { .. } | Kind::Phase)),
        }
    }

    /// The leaves `n` reads, sorted.
    fn reads(&mut self, dag: &Dag, n: Node) -> Rc<[Leaf]> {
        if let Some(r) = self.reads.get(&n) {
            return r.clone();
        }
        let mut leaves: Vec<Leaf> = match dag.get(n) {
            Term::Load { leaf, .. } => vec![*leaf],
            Term::Add(xs) | Term::Mul(xs) => {
                let xs = xs.clone();
                xs.iter().flat_map(|&x| self.reads(dag, x).to_vec()).collect()
            }
            Term::Pow(a, b) => {
                let (a, b) = (*a, *b);
                let mut r = self.reads(dag, a).to_vec();
                r.extend(self.reads(dag, b).iter());
                r
            }
            Term::Call(_, a) | Term::Sum { body: a, .. } => {
                let a = *a;
                self.reads(dag, a).to_vec()
            }
            _ => Vec::new(),
        };
        leaves.sort();
        leaves.dedup();
        let r: Rc<[Leaf]> = leaves.into();
        self.reads.insert(n, r.clone());
        r
    }

    fn fold(&mut self, s: usize, op: BinOp, vals: &[Value]) -> Value {
        let mut acc = vals[0];
        for &v in &vals[1..] {
            acc = self.emit_at(s, Op::Binary(op, acc, v));
        }
        acc
    }

    fn emit_at(&mut self, s: usize, op: Op) -> Value {
        if let Op::Const(c) = op {
            let c = if c == 0.0 { 0.0 } else { c };
            if let Some(&v) = self.consts.get(&c.to_bits()) {
                return v;
            }
            let v = self.fresh_value();
            self.scopes[0].stmts.push(Stmt::Let(v, Op::Const(c)));
            self.consts.insert(c.to_bits(), v);
            return v;
        }
        let v = self.fresh_value();
        self.scopes[s].stmts.push(Stmt::Let(v, op));
        v
    }

    fn fresh_value(&mut self) -> Value {
        self.values += 1;
        Value::from_u32(self.values - 1)
    }

    fn fresh_var(&mut self, name: &str, range: (i64, i64)) -> LoopVar {
        let v = self.vars.push(name.to_owned());
        self.ranges.insert(v, range);
        v
    }

    fn steps_var(&self) -> Option<LoopVar> {
        self.scopes.iter().rev().find_map(|s| match s.kind {
            Kind::Steps { var, .. } => Some(var),
            _ => None,
        })
    }

    /// Closes the innermost scope into its parent.
    fn close(&mut self) {
        let scope = self.scopes.pop().expect("a scope to close");
        let parent = &mut self.scopes.last_mut().expect("a parent scope").stmts;
        match scope.kind {
            Kind::Root => unreachable!("the root scope is closed by finish"),
            Kind::Phase => parent.extend(scope.stmts),
            Kind::Steps { var, reverse } => parent.push(Stmt::Steps { var, reverse, body: scope.stmts }),
            Kind::Loop { var, lo, hi } => parent.push(Stmt::Loop { var, lo, hi, body: scope.stmts }),
        }
    }
}
