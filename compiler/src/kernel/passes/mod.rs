//! The passes: the integrator's step composed into one kernel per [`Pass`].
//!
//! A step is a palindromic sequence of *pieces* (rhel.md): a kick `p -= τ dV/dq(q)` or a
//! drift `q += τ dK/dp(p)`, each with `τ = c·h`. Leapfrog is `(½ kick, 1 drift, ½ kick)`;
//! Yoshida-4 is leapfrog at `w1·h, w0·h, w1·h` with adjacent kicks merged. Every kernel is a
//! loop over the steps whose body applies the pieces (or their adjoints) in order, each piece
//! in a phase of its own:
//!
//! | kernel | time | per step |
//! |---|---|---|
//! | `forward` | `0..T` | pieces; loss of `x_{t+1}` |
//! | `forward_grad` | `0..T` | the same, plus the loss's direct `dl/dθ`, `dl/du` |
//! | `forward_record` | `0..T` | the same, plus the trajectory and `H(x_{t+1})` |
//! | `echo` | `T-1..0` | nudge both copies by `ε_a`, `ε_b`; pieces on both; accumulate `τ (dG/dθ(a) - dG/dθ(b))` (where one factor of a product differs, as `tanh(z[k])` in `dV/dB[k, l]`, that factor per piece and the product once per step) |
//! | `tangent` | `T-1..0` | nudge `δx̂`; pieces with their Jacobian-vector products; accumulate `τ d²G/dθdx · δx̂` |
//! | `bptt` | `T-1..0` | `λ += ∇l(x_{t+1})`; recompute the step's pieces from `x_t`; their adjoints in reverse |
//! | `forced_record` | `0..T` | as `forward_record`, with `x += α (d_t − x)` after the loss (generalized teacher forcing) |
//! | `forced_bptt` | `T-1..0` | `λ ← (1 − α) λ`; recompute the step; `λ += ∇l(x')` at the prediction; the adjoints in reverse |
//! | `hl` | `0..T` | the pieces, keeping the state each acts at; `λ += δγ ∇l(x_{t+1})`; the adjoints in reverse; the costates' dissipation (hl.md) |
//!
//! The echo starts from `(q_T, -p_T)` and nudges *before* each step: the nudge at step `t`
//! is the loss of `x_{t+1}`, so the first one is the start nudge `ε ∇l(x_T)` and the last
//! one (step 0) is the nudge after the step of `x_1`, exactly as rhel.md orders them.
//! A nudge adds `ε dl/dq` to the momenta and `ε dl/dp` to the positions (`S` swaps them),
//! with the loss evaluated at the echo's own state mapped back by `Σ` (momenta negated).

mod bptt;
mod echo;
mod forward;
mod hl;
mod tangent;

use hsc_runtime::{ArraySpec, ModelSpec, PairSpec, Pass, Side, Slot, Step};

use super::lower::{Binding, Builder, LeafBind, Life, Row, Split};
use super::{BinOp, Buf, Index, Kernel, Module, Op, Value};
use crate::ir::{Dt, Init, Method, Program, Role, TensorId};
use crate::symbolic::{Derivative, Equations, Leaf, Table};

/// Lowers every kernel of a valid model (before [`super::optimize`]), reading every
/// derivative from the symbolic stage's table: nothing here derives.
pub fn lower(program: &Program, eq: &Equations) -> Module {
    let cx = Ctx::new(program, eq);
    let kernels = Pass::ALL.iter().map(|&pass| cx.kernel(pass, &eq.table)).collect();
    Module { spec: cx.spec.clone(), kernels, optimized: Vec::new() }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PieceKind {
    Kick,
    Drift,
}

struct Ctx<'a> {
    program: &'a Program,
    /// The energy, the loss and their DAG.
    eq: &'a Equations,
    spec: ModelSpec,
    params: Vec<TensorId>,
    inputs: Vec<TensorId>,
    targets: Vec<TensorId>,
    positions: Vec<TensorId>,
    momenta: Vec<TensorId>,
    pieces: Vec<(PieceKind, f64)>,
}

/// The buffers of the model's own arrays in one kernel.
struct Data {
    params: Vec<Buf>,
    inputs: Vec<Buf>,
    targets: Vec<Buf>,
    cotangents: Vec<Buf>,
}

/// A state held in buffers: positions and momenta per pair.
#[derive(Clone)]
struct State {
    q: Vec<Buf>,
    p: Vec<Buf>,
}

impl State {
    fn side(&self, s: Side) -> Buf {
        if s.momentum { self.p[s.pair] } else { self.q[s.pair] }
    }
}

impl<'a> Ctx<'a> {
    fn new(program: &'a Program, eq: &'a Equations) -> Ctx<'a> {
        let of = |pred: fn(&Role) -> bool| -> Vec<TensorId> {
            program.tensors.iter().filter(|(_, t)| pred(&t.role)).map(|(id, _)| id).collect()
        };
        let params = of(|r| matches!(r, Role::Param(_)));
        let inputs = of(|r| *r == Role::Input);
        let targets = of(|r| *r == Role::Target);
        let positions: Vec<TensorId> = program.pairs.iter().map(|p| p.position).collect();
        let momenta: Vec<TensorId> = program.pairs.iter().map(|p| p.momentum).collect();
        let array = |id: TensorId| {
            let t = &program.tensors[id];
            let init = match t.role {
                Role::Param(init) => init,
                _ => Init::Constant(0.0),
            };
            ArraySpec { name: t.name.clone(), shape: t.shape.iter().map(|a| a.size as usize).collect(), init }
        };
        let step = match program.integrator.dt {
            Dt::Fixed(h) => Step::Fixed(h),
            Dt::Param(t) => Step::Param(params.iter().position(|&p| p == t).expect("dt is a param")),
        };
        let spec = ModelSpec {
            name: program.name.clone(),
            params: params.iter().map(|&t| array(t)).collect(),
            inputs: inputs.iter().map(|&t| array(t)).collect(),
            targets: targets.iter().map(|&t| array(t)).collect(),
            pairs: program
                .pairs
                .iter()
                .map(|p| PairSpec { position: array(p.position), momentum: array(p.momentum) })
                .collect(),
            has_loss: eq.has_loss,
            integrator: match program.integrator.method {
                Method::Leapfrog => "leapfrog".into(),
                Method::Yoshida4 => "yoshida4".into(),
            },
            step,
        };
        let pieces = match program.integrator.method {
            Method::Leapfrog => vec![(PieceKind::Kick, 0.5), (PieceKind::Drift, 1.0), (PieceKind::Kick, 0.5)],
            Method::Yoshida4 => {
                let w1 = 1.0 / (2.0 - 2f64.powf(1.0 / 3.0));
                let w0 = 1.0 - 2.0 * w1;
                vec![
                    (PieceKind::Kick, w1 / 2.0),
                    (PieceKind::Drift, w1),
                    (PieceKind::Kick, (w1 + w0) / 2.0),
                    (PieceKind::Drift, w0),
                    (PieceKind::Kick, (w0 + w1) / 2.0),
                    (PieceKind::Drift, w1),
                    (PieceKind::Kick, w1 / 2.0),
                ]
            }
        };
        Ctx { program, eq, spec, params, inputs, targets, positions, momenta, pieces }
    }

    fn shape(&self, t: TensorId) -> Vec<u64> {
        self.program.tensors[t].shape.iter().map(|a| a.size).collect()
    }

    fn name(&self, t: TensorId) -> &str {
        &self.program.tensors[t].name
    }

    fn tensor(&self, s: Side) -> TensorId {
        if s.momentum { self.momenta[s.pair] } else { self.positions[s.pair] }
    }

    fn sides(&self) -> Vec<Side> {
        self.spec.sides()
    }

    /// One buffer per tensor of `tensors`, named by `name`, the `i`-th being `slot(i)`.
    fn buffers(
        &self,
        b: &mut Builder,
        tensors: &[TensorId],
        name: impl Fn(&str) -> String,
        slot: impl Fn(usize) -> Slot,
        time: Option<usize>,
    ) -> Vec<Buf> {
        tensors
            .iter()
            .enumerate()
            .map(|(i, &t)| b.buffer(name(self.name(t)), Some(slot(i)), time, &self.shape(t)))
            .collect()
    }

    /// Declares the model's own arrays.
    fn data(&self, b: &mut Builder) -> Data {
        let same = |n: &str| n.to_owned();
        let params = self.buffers(b, &self.params, same, Slot::Param, None);
        let inputs = self.buffers(b, &self.inputs, same, Slot::Input, Some(0));
        let (targets, cotangents) = if self.spec.has_loss {
            (self.buffers(b, &self.targets, same, Slot::Target, Some(0)), Vec::new())
        } else {
            (Vec::new(), self.buffers(b, &self.positions, |n| format!("dL/d{n}"), Slot::Cotangent, Some(0)))
        };
        Data { params, inputs, targets, cotangents }
    }

    /// One buffer per state array.
    fn state(
        &self,
        b: &mut Builder,
        name: impl Fn(&str) -> String,
        slot: impl Fn(Side) -> Option<Slot>,
        time: Option<usize>,
    ) -> State {
        let mut st = State { q: Vec::new(), p: Vec::new() };
        for s in self.sides() {
            let t = self.tensor(s);
            let buf = b.buffer(name(self.name(t)), slot(s), time, &self.shape(t));
            if s.momentum { st.p.push(buf) } else { st.q.push(buf) }
        }
        st
    }

    /// Params, inputs, targets and cotangents, with time-indexed arrays at `row`.
    fn binding(&self, data: &Data, row: Row) -> Binding {
        let mut bind = Binding::new();
        let kernel = |buf| LeafBind { buf, row: None, negate: false, life: Life::Kernel };
        let step = |buf| LeafBind { buf, row: Some(row), negate: false, life: Life::Step };
        for (&t, &buf) in self.params.iter().zip(&data.params) {
            bind.insert(Leaf::Tensor(t), kernel(buf));
        }
        for (&t, &buf) in self.inputs.iter().zip(&data.inputs) {
            bind.insert(Leaf::Tensor(t), step(buf));
        }
        for (&t, &buf) in self.targets.iter().zip(&data.targets) {
            bind.insert(Leaf::Tensor(t), step(buf));
        }
        for (&q, &buf) in self.positions.iter().zip(&data.cotangents) {
            bind.insert(Leaf::Cotangent(q), step(buf));
        }
        bind
    }

    /// Binds the state arrays (`Leaf::Tensor`) or their directions to `state`.
    fn bind_state(
        &self,
        bind: &mut Binding,
        state: &State,
        direction: bool,
        negate_p: bool,
        life: Life,
        row: Option<Row>,
    ) {
        for s in self.sides() {
            let t = self.tensor(s);
            let leaf = if direction { Leaf::Direction(t) } else { Leaf::Tensor(t) };
            let negate = negate_p && s.momentum;
            bind.insert(leaf, LeafBind { buf: state.side(s), row, negate, life });
        }
    }

    /// `τ = c·h` as a value of the kernel's root scope.
    fn tau(&self, b: &mut Builder, data: &Data, c: f64) -> Value {
        match self.spec.step {
            Step::Fixed(h) => b.emit_root(Op::Const(c * h)),
            Step::Param(i) => {
                let h = b.emit_root(Op::Load { buf: data.params[i], index: Vec::new() });
                let c = b.emit_root(Op::Const(c));
                b.emit_root(Op::Binary(BinOp::Mul, c, h))
            }
        }
    }

    fn kernel(&self, pass: Pass, d: &Table) -> Kernel {
        let mut b = Builder::new(pass);
        match pass {
            Pass::Forward | Pass::ForwardGrad | Pass::ForwardRecord | Pass::ForcedRecord => {
                self.forward(&mut b, pass, d)
            }
            Pass::Echo => self.echo(&mut b, d),
            Pass::Tangent => self.tangent(&mut b, d),
            Pass::Bptt => self.bptt(&mut b, d, false),
            Pass::ForcedBptt => self.bptt(&mut b, d, true),
            Pass::Hl => self.hl(&mut b, d),
        }
        b.finish()
    }

    /// `x += sign · scale · value(g)` over the loops of `g`, into `buf` (at the current row
    /// when `timed`).
    #[allow(clippy::too_many_arguments)]
    fn accumulate(
        &self,
        b: &mut Builder,
        g: &Derivative,
        bind: &Binding,
        buf: Buf,
        timed: bool,
        scale: Option<Value>,
        sign: f64,
    ) {
        let dag = &self.eq.dag;
        b.for_vars(dag, &g.out, |b, idx| {
            let v = b.value(dag, g.node, bind);
            let v = match scale {
                Some(s) => b.binary(BinOp::Mul, s, v),
                None => v,
            };
            let v = if sign < 0.0 { b.emit(Op::Neg(v)) } else { v };
            Self::add_at(b, buf, timed, idx, v);
        });
    }

    /// `x += scale · (value(g) under a - value(g) under b)`: the fused difference of two echoes,
    /// taken inside `g` where it is linear ([`Builder::difference`]); nothing where `g` reads
    /// the same under both.
    #[allow(clippy::too_many_arguments)]
    fn accumulate_difference(
        &self,
        b: &mut Builder,
        g: &Derivative,
        binds: [&Binding; 2],
        buf: Buf,
        timed: bool,
        scale: Value,
    ) {
        let dag = &self.eq.dag;
        b.for_vars(dag, &g.out, |b, idx| {
            let Some(diff) = b.difference(dag, g.node, binds) else { return };
            let v = b.binary(BinOp::Mul, scale, diff);
            Self::add_at(b, buf, timed, idx, v);
        });
    }

    /// `factor[..] += scale · (value(f) under a - value(f) under b)` over the variables of the
    /// differing factor `f` of `split` (each indexed from 0): a piece's part of a deferred
    /// gradient ([`Builder::split`]).
    fn accumulate_factor(
        &self,
        b: &mut Builder,
        split: &Split,
        binds: [&Binding; 2],
        factor: Buf,
        scale: Value,
    ) {
        let dag = &self.eq.dag;
        let vars = dag.free(split.factor).to_vec();
        b.for_vars(dag, &vars, |b, idx| {
            let Some(diff) = b.difference(dag, split.factor, binds) else { return };
            let v = b.binary(BinOp::Mul, scale, diff);
            b.store(factor, idx.to_vec(), v, true);
        });
    }

    /// `x += g` with its differing factor read from `factor` (what [`Ctx::accumulate_factor`]
    /// summed over a step's pieces), the rest as `bind` says; into `buf` at the current row
    /// when `timed`.
    #[allow(clippy::too_many_arguments)]
    fn accumulate_deferred(
        &self,
        b: &mut Builder,
        g: &Derivative,
        split: &Split,
        factor: Buf,
        bind: &Binding,
        buf: Buf,
        timed: bool,
    ) {
        let dag = &self.eq.dag;
        b.for_vars(dag, &g.out, |b, idx| {
            let v = b.deferred(dag, g.node, split, factor, bind);
            Self::add_at(b, buf, timed, idx, v);
        });
    }

    /// `factor[..] = 0`, for the next step.
    fn clear_factor(&self, b: &mut Builder, split: &Split, factor: Buf) {
        let dag = &self.eq.dag;
        let vars = dag.free(split.factor).to_vec();
        b.for_vars(dag, &vars, |b, idx| {
            let zero = b.emit_root(Op::Const(0.0));
            b.store(factor, idx.to_vec(), zero, false);
        });
    }

    /// `x[idx] += sign · scale · value(g)` in place, where `x` is a state buffer.
    fn update(&self, b: &mut Builder, g: &Derivative, bind: &Binding, x: Buf, scale: Value, sign: f64) {
        let dag = &self.eq.dag;
        b.for_vars(dag, &g.out, |b, idx| {
            let v = b.value(dag, g.node, bind);
            let step = b.binary(BinOp::Mul, scale, v);
            let old = b.load(x, idx.to_vec());
            let op = if sign < 0.0 { BinOp::Sub } else { BinOp::Add };
            let new = b.binary(op, old, step);
            b.store(x, idx.to_vec(), new, false);
        });
    }

    /// `buf[idx] += v`, at the current step's row first when `timed`.
    fn add_at(b: &mut Builder, buf: Buf, timed: bool, idx: &[Index], v: Value) {
        let mut index: Vec<Index> = if timed { vec![b.row(Row::Step(0))] } else { Vec::new() };
        index.extend_from_slice(idx);
        b.store(buf, index, v, true);
    }

    /// A scalar `acc[] += value`.
    fn add_scalar(b: &mut Builder, buf: Buf, index: Vec<Index>, v: Value) {
        b.store(buf, index, v, true);
    }

    /// Applies one piece to `state` (bound in `bind`).
    fn piece(&self, b: &mut Builder, d: &Table, kind: PieceKind, tau: Value, state: &State, bind: &Binding) {
        for a in 0..self.positions.len() {
            match kind {
                PieceKind::Kick => {
                    if let Some(w) = &d.kick[a] {
                        self.update(b, &w.grad, bind, state.p[a], tau, -1.0);
                    }
                }
                PieceKind::Drift => {
                    if let Some(w) = &d.drift[a] {
                        self.update(b, &w.grad, bind, state.q[a], tau, 1.0);
                    }
                }
            }
        }
    }

    /// The second-order part of a piece, shared by the tangent echo and BPTT, with the
    /// directions `δq`, `δp` bound in `bind`:
    /// - `acc += sign · τ d²G/dθdx · δx` per param and input (`sign · c · dG/dx · δx` for a
    ///   trainable step), into `acc = (params, inputs)`;
    /// - a kick: `out.p -= τ d²V/dq² · δq`; a drift: `out.q += τ d²K/dp² · δp`.
    #[allow(clippy::too_many_arguments)]
    fn piece_jvp(
        &self,
        b: &mut Builder,
        d: &Table,
        kind: PieceKind,
        (tau, c): (Value, Value),
        bind: &Binding,
        (acc_p, acc_u): (&[Buf], &[Buf]),
        sign: f64,
        out: &State,
    ) {
        let (params, inputs, energy_along) = match kind {
            PieceKind::Kick => (&d.v_param, &d.v_input[..], d.v_along),
            PieceKind::Drift => (&d.k_param, &[][..], d.k_along),
        };
        for (g, &buf) in params.iter().zip(acc_p) {
            if let Some(w) = g {
                self.accumulate(b, &w.hvp, bind, buf, false, Some(tau), sign);
            }
        }
        for (g, &buf) in inputs.iter().zip(acc_u) {
            if let Some(w) = g {
                self.accumulate(b, &w.hvp, bind, buf, true, Some(tau), sign);
            }
        }
        if let Some(i) = self.step_param() {
            let v = b.value(&self.eq.dag, energy_along, bind);
            let v = b.binary(BinOp::Mul, c, v);
            let v = if sign < 0.0 { b.emit(Op::Neg(v)) } else { v };
            Self::add_scalar(b, acc_p[i], Vec::new(), v);
        }
        for a in 0..self.positions.len() {
            match kind {
                PieceKind::Kick => {
                    if let Some(w) = &d.kick[a] {
                        self.update(b, &w.hvp, bind, out.p[a], tau, -1.0);
                    }
                }
                PieceKind::Drift => {
                    if let Some(w) = &d.drift[a] {
                        self.update(b, &w.hvp, bind, out.q[a], tau, 1.0);
                    }
                }
            }
        }
    }

    /// `dst = src` for every state array.
    fn copy_state(&self, b: &mut Builder, src: &State, src_row: Option<Row>, dst: &State) {
        for s in self.sides() {
            let shape = b.shape(dst.side(s));
            b.for_shape(&shape, |b, idx| {
                let mut from: Vec<Index> = src_row.map(|r| b.row(r)).into_iter().collect();
                from.extend_from_slice(idx);
                let v = b.load(src.side(s), from);
                b.store(dst.side(s), idx.to_vec(), v, false);
            });
        }
    }

    /// `dst = scale · src` element by element, or `dst += src` when `add` holds.
    fn copy_side(&self, b: &mut Builder, src: Buf, dst: Buf, scale: Option<Value>, add: bool) {
        let shape = b.shape(dst);
        b.for_shape(&shape, |b, idx| {
            let v = b.load(src, idx.to_vec());
            let v = match scale {
                Some(s) => b.binary(BinOp::Mul, s, v),
                None => v,
            };
            b.store(dst, idx.to_vec(), v, add);
        });
    }

    /// Gradient buffers for the params and inputs: `ParamGrad`/`InputGrad`.
    fn grad_buffers(&self, b: &mut Builder, prefix: &str) -> (Vec<Buf>, Vec<Buf>) {
        let name = |n: &str| format!("{prefix}/d{n}");
        let params = self.buffers(b, &self.params, name, Slot::ParamGrad, None);
        let inputs = self.buffers(b, &self.inputs, name, Slot::InputGrad, Some(0));
        (params, inputs)
    }

    /// Accumulator buffers: `ParamAcc`/`InputAcc`.
    fn acc_buffers(&self, b: &mut Builder) -> (Vec<Buf>, Vec<Buf>) {
        let params = self.buffers(b, &self.params, |n| format!("A_{n}"), Slot::ParamAcc, None);
        let inputs = self.buffers(b, &self.inputs, |n| format!("B_{n}"), Slot::InputAcc, Some(0));
        (params, inputs)
    }

    /// Scratch buffers for the nudges `dl/dq` (`g`) and `dl/dp` (`f`) of one state.
    fn nudge_buffers(&self, b: &mut Builder, tag: &str) -> State {
        self.state(b, |n| format!("nudge{tag}_{n}"), |_| None, None)
    }

    /// Computes `dl/dq`, `dl/dp` at `bind` into `nudge.p`, `nudge.q` (so that adding `nudge`
    /// applies `S ∇l`).
    fn loss_gradient(&self, b: &mut Builder, d: &Table, bind: &Binding, nudge: &State) {
        let dag = &self.eq.dag;
        for a in 0..self.positions.len() {
            for (g, dst) in [(&d.loss_q[a], nudge.p[a]), (&d.loss_p[a], nudge.q[a])] {
                if let Some(g) = g {
                    b.for_vars(dag, &g.out, |b, idx| {
                        let v = b.value(dag, g.node, bind);
                        b.store(dst, idx.to_vec(), v, false);
                    });
                }
            }
        }
    }

    /// `x += scale · nudge` for every state array the loss pushes.
    fn apply_nudge(&self, b: &mut Builder, d: &Table, x: &State, nudge: &State, scale: Option<Value>) {
        for a in 0..self.positions.len() {
            for (g, src, dst) in [(&d.loss_q[a], nudge.p[a], x.p[a]), (&d.loss_p[a], nudge.q[a], x.q[a])] {
                if g.is_none() {
                    continue;
                }
                let shape = b.shape(dst);
                b.for_shape(&shape, |b, idx| {
                    let n = b.load(src, idx.to_vec());
                    let n = match scale {
                        Some(s) => b.binary(BinOp::Mul, s, n),
                        None => n,
                    };
                    let old = b.load(dst, idx.to_vec());
                    let new = b.binary(BinOp::Add, old, n);
                    b.store(dst, idx.to_vec(), new, false);
                });
            }
        }
    }

    /// The step's own gradient for a trainable step `h`: which param, if any.
    fn step_param(&self) -> Option<usize> {
        match self.spec.step {
            Step::Param(i) => Some(i),
            Step::Fixed(_) => None,
        }
    }
}
