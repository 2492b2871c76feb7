//! The typed tensor-expression IR: what sema produces and every later stage reads.
//!
//! A [`Program`] is a checked model. Its declarations are resolved (names to [`TensorId`],
//! [`LetId`], numbers), its sizes are known, and its expressions live in one arena
//! ([`Exprs`]) addressed by [`ExprId`] handles.
//!
//! # Expressions
//!
//! An expression is a node of a DAG kept in topological order: **every child has a smaller
//! handle than its parent**. Walking the arena in order therefore visits operands before the
//! operations that use them, so analyses are loops, not recursions.
//!
//! Indices are first-class. Each binding site (a `sum` binder, a `let`'s free index) creates
//! its own [`IndexVar`] with a resolved half-open range; two `sum(i, ...)` in one file are two
//! different variables that happen to share a name. An access such as `q[i + 1]` or
//! `x[(i + 1) % P]` is a [`Load`](Expr::Load) whose [`Index`] is `var + offset`, optionally
//! wrapped modulo a size. The *type* of a node is its set of free index variables (its
//! shape): `q[i]` has type `[i]`, `sum(i, q[i])` has type `[]`. Types live in a side table,
//! [`Exprs::free`], as do the source spans ([`Exprs::span`]).
//!
//! `dim` and `const` names have been replaced by their values; `let`s stay named
//! ([`Expr::LetRef`]) so that later stages can print and share them.
//!
//! # Invariants (checked by [`verify`])
//!
//! - Children before parents; the span and type tables cover every node.
//! - A load has one index per axis of its tensor; a let reference one per free index.
//! - Every access stays inside its axis for every value of its index's range.
//! - A node's recorded type is exactly the union of its children's, minus what a `sum` binds.
//! - `H` and `loss` have type `[]`; a let's body has exactly the let's indices as its type.
//! - A let refers only to lets declared before it in [`Program::lets`] (no cycles).

mod display;
pub mod func;
mod verify;

use cranelift_entity::{EntityRef, PrimaryMap, SecondaryMap, entity_impl};
use hsc_grammar::Span;

pub use func::Func;
pub use verify::{VerifyError, verify};

/// Handle of an expression node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(u32);
entity_impl!(ExprId, "%e");

/// Handle of a tensor (input, param, position, momentum or target).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u32);
entity_impl!(TensorId, "%t");

/// Handle of a `let`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LetId(u32);
entity_impl!(LetId, "%l");

/// Handle of an index variable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexId(u32);
entity_impl!(IndexId, "%i");

/// A checked model.
#[derive(Clone, Debug)]
pub struct Program {
    /// The name after `model`.
    pub name: String,
    /// Every `dim`, with its final value (after `-D` overrides).
    pub dims: Vec<Dim>,
    /// Every `const`, evaluated.
    pub consts: Vec<Const>,
    /// Inputs, params, positions, momenta and targets, in declaration order.
    pub tensors: PrimaryMap<TensorId, Tensor>,
    /// The canonical pairs, in declaration order.
    pub pairs: Vec<StatePair>,
    /// The `let`s, ordered so that each refers only to earlier ones.
    pub lets: PrimaryMap<LetId, Let>,
    /// Every index variable of every binding site.
    pub indices: PrimaryMap<IndexId, IndexVar>,
    /// The expression arena.
    pub exprs: Exprs,
    /// The energy.
    pub hamiltonian: ExprId,
    /// The per-step loss, when the model has one.
    pub loss: Option<ExprId>,
    /// The integrator and its step.
    pub integrator: Integrator,
}

/// A `dim`: a size known at compile time.
#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: u64,
    /// Whether `-D` set it.
    pub overridden: bool,
    /// The declaration.
    pub span: Span,
}

/// A `const`: a named number.
#[derive(Clone, Debug, PartialEq)]
pub struct Const {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// The declaration.
    pub span: Span,
}

/// A named array of numbers the model reads.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Its name.
    pub name: String,
    /// What it is.
    pub role: Role,
    /// Its axes; empty for a scalar.
    pub shape: Vec<Axis>,
    /// The name in its declaration.
    pub span: Span,
}

impl Tensor {
    /// Number of elements (1 for a scalar). Sema has checked that this fits.
    pub fn len(&self) -> u64 {
        self.shape.iter().map(|a| a.size).product()
    }

    /// Whether the tensor holds no elements (never true for a checked program).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its shape as written: `[P, N]`, `[2]`, or nothing for a scalar.
    pub fn shape_text(&self) -> String {
        if self.shape.is_empty() {
            return String::new();
        }
        let axes: Vec<String> = self.shape.iter().map(Axis::label).collect();
        format!("[{}]", axes.join(", "))
    }
}

/// What a tensor is.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// `input`: one value per time step.
    Input,
    /// `param`: trainable, with its initialiser.
    Param(Init),
    /// `state`: the positions of pair `n` of [`Program::pairs`].
    Position(usize),
    /// The momenta of pair `n`.
    Momentum(usize),
    /// `target`: one value per time step, read by the loss only.
    Target,
}

impl Role {
    /// The declaration keyword (or `momentum`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Role::Input => "input",
            Role::Param(_) => "param",
            Role::Position(_) => "state",
            Role::Momentum(_) => "momentum",
            Role::Target => "target",
        }
    }
}

/// How a param is initialised: the runtime's own type, so that a compiled model's spec carries
/// it as written.
pub use hsc_runtime::Init;

/// One axis of a tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Axis {
    /// How many entries.
    pub size: u64,
    /// The dim it was declared with, if any (`x[2]` has none).
    pub dim: Option<String>,
}

impl Axis {
    /// The dim's name, or the size when the axis has no dim.
    pub fn label(&self) -> String {
        self.dim.clone().unwrap_or_else(|| self.size.to_string())
    }
}

/// `state q[P] momentum p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatePair {
    /// The positions.
    pub position: TensorId,
    /// The conjugate momenta (same shape).
    pub momentum: TensorId,
}

/// `let name[i, j] = body`.
#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    /// Its name.
    pub name: String,
    /// Its free indices, one per axis.
    pub indices: Vec<IndexId>,
    /// Its value, of type `indices`.
    pub body: ExprId,
    /// The name in its declaration.
    pub span: Span,
}

/// An index variable bound by a `sum` or a `let`.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexVar {
    /// The name as written.
    pub name: String,
    /// First value.
    pub lo: i64,
    /// One past the last value.
    pub hi: i64,
    /// The dim its range came from, when it is a whole dim.
    pub dim: Option<String>,
    /// Where it was bound.
    pub span: Span,
}

/// One index of an access: `var + offset`, or just `offset` when `var` is `None`, taken
/// modulo `wrap` (Euclidean, so `(i - 1) % P` is `P - 1` at `i = 0`) when given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Index {
    /// The variable, or none for a constant index.
    pub var: Option<IndexId>,
    /// Added to the variable.
    pub offset: i64,
    /// The modulus of a wrap-around index.
    pub wrap: Option<u64>,
}

/// A unary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-x`
    Neg,
}

/// A binary operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `a + b`
    Add,
    /// `a - b`
    Sub,
    /// `a * b`
    Mul,
    /// `a / b`
    Div,
    /// `a ^ b`
    Pow,
}

impl BinaryOp {
    /// The operator as written in .ham.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Pow => "^",
        }
    }
}

/// An expression node. Operands are handles to earlier nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A number (literals, and dims and consts used as values).
    Const(f64),
    /// An element of a tensor.
    Load {
        /// Which tensor.
        tensor: TensorId,
        /// One index per axis.
        index: Vec<Index>,
    },
    /// An element of a `let`.
    LetRef {
        /// Which let.
        target: LetId,
        /// One index per free index of the let.
        index: Vec<Index>,
    },
    /// A unary operation.
    Unary(UnaryOp, ExprId),
    /// A binary operation.
    Binary(BinaryOp, ExprId, ExprId),
    /// A built-in function of one argument.
    Call(Func, ExprId),
    /// The sum of `body` over the ranges of `over`.
    Sum {
        /// The summed indices.
        over: Vec<IndexId>,
        /// The summand.
        body: ExprId,
    },
}

impl Expr {
    /// The operand handles, in order.
    pub fn children(&self) -> Vec<ExprId> {
        match self {
            Expr::Const(_) | Expr::Load { .. } | Expr::LetRef { .. } => Vec::new(),
            Expr::Unary(_, a) | Expr::Call(_, a) | Expr::Sum { body: a, .. } => vec![*a],
            Expr::Binary(_, a, b) => vec![*a, *b],
        }
    }

    /// The indices of an access, if this is one.
    pub fn access(&self) -> Option<&[Index]> {
        match self {
            Expr::Load { index, .. } | Expr::LetRef { index, .. } => Some(index),
            _ => None,
        }
    }
}

/// The expression arena, with its side tables.
#[derive(Clone, Debug, Default)]
pub struct Exprs {
    nodes: PrimaryMap<ExprId, Expr>,
    spans: SecondaryMap<ExprId, Span>,
    free: SecondaryMap<ExprId, Vec<IndexId>>,
}

impl Exprs {
    /// Appends a node with its source span and its type (sorted free indices). The caller
    /// guarantees that the operands are already in the arena.
    pub fn push(&mut self, expr: Expr, span: Span, mut free: Vec<IndexId>) -> ExprId {
        debug_assert!(expr.children().iter().all(|&c| c.index() < self.nodes.len()));
        free.sort();
        free.dedup();
        let id = self.nodes.push(expr);
        self.spans[id] = span;
        self.free[id] = free;
        id
    }

    /// The node behind a handle.
    pub fn get(&self, id: ExprId) -> &Expr {
        &self.nodes[id]
    }

    /// The source span of a node.
    pub fn span(&self, id: ExprId) -> Span {
        self.spans[id]
    }

    /// The type of a node: its free index variables, sorted.
    pub fn free(&self, id: ExprId) -> &[IndexId] {
        &self.free[id]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the arena is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Every handle with its node, children before parents.
    pub fn iter(&self) -> impl Iterator<Item = (ExprId, &Expr)> {
        self.nodes.iter()
    }
}

/// The symplectic integrator and its step.
#[derive(Clone, Debug, PartialEq)]
pub struct Integrator {
    /// Which composition of kicks and drifts.
    pub method: Method,
    /// The step.
    pub dt: Dt,
}

/// A symmetric composition of kicks and drifts (rhel.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Kick-drift-kick, second order.
    Leapfrog,
    /// Yoshida's fourth-order composition of three leapfrog steps.
    Yoshida4,
}

impl Method {
    /// The name in .ham.
    pub fn name(self) -> &'static str {
        match self {
            Method::Leapfrog => "leapfrog",
            Method::Yoshida4 => "yoshida4",
        }
    }
}

/// The time step of the integrator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dt {
    /// A fixed number.
    Fixed(f64),
    /// A scalar param: a trainable step.
    Param(TensorId),
}
