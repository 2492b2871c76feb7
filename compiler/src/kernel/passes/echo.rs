//! The fused pair of RHEL echoes: both copies advanced in one loop, reading each input once
//! and accumulating `τ (dG/dθ(copy a) - dG/dθ(copy b))` directly.

use hsc_runtime::Slot;

use super::{Ctx, PieceKind, State};
use crate::kernel::lower::{Binding, Builder, Life, Row, Split};
use crate::kernel::{BinOp, Buf, Op, Value};
use crate::symbolic::{Derivative, Table};

/// How the echo accumulates one gradient over the pieces of one kind.
struct Plan<'d> {
    kind: PieceKind,
    grad: &'d Derivative,
    /// Its accumulator, and whether that has a time axis (an input's).
    acc: Buf,
    timed: bool,
    /// `None`: `τ (g(a) - g(b))` in every piece. Otherwise the one factor of `g` that differs
    /// ([`Split`]) is accumulated per piece into a buffer over its own variables, and once per
    /// step multiplied by the rest, which the pieces of a step share: `dV/dB[k, l]` then costs
    /// a `k` loop per kick and one `(k, l)` nest per step, not a nest per kick.
    later: Option<(Split, Buf)>,
}

/// A buffer that sums one differing factor over a step's pieces of one kind, for the
/// deferred gradients that share it.
struct Factor {
    kind: PieceKind,
    split: Split,
    buf: Buf,
}

impl Ctx<'_> {
    pub(super) fn echo(&self, b: &mut Builder, d: &Table) {
        let data = self.data(b);
        // The copies start where the runtime put them: the momentum-flipped final state, or
        // where the echo stood after the steps it has already run (a run in stretches).
        let copies: Vec<State> = (0..2)
            .map(|c| self.state(b, |n| format!("{n}_echo{c}"), |s| Some(Slot::Echo(c, s)), None))
            .collect();
        let (acc_p, acc_u) = self.acc_buffers(b);
        let nudges: Vec<State> = (0..2).map(|c| self.nudge_buffers(b, &c.to_string())).collect();
        let taus: Vec<Value> = self.pieces.iter().map(|&(_, c)| self.tau(b, &data, c)).collect();
        let cs: Vec<Value> = self.pieces.iter().map(|&(_, c)| b.emit_root(Op::Const(c))).collect();
        let eps = [b.emit_root(Op::Eps(0)), b.emit_root(Op::Eps(1))];
        b.steps(true, |b| {
            let base = self.binding(&data, Row::Step(0));
            let binds: Vec<Binding> = copies
                .iter()
                .map(|copy| {
                    let mut bind = base.clone();
                    self.bind_state(&mut bind, copy, false, false, Life::Phase, None);
                    bind
                })
                .collect();
            b.phase(|b| {
                for (copy, nudge) in copies.iter().zip(&nudges) {
                    let mut bind = base.clone();
                    self.bind_state(&mut bind, copy, false, true, Life::Phase, None);
                    self.loss_gradient(b, d, &bind, nudge);
                }
            });
            b.phase(|b| {
                for ((copy, nudge), &e) in copies.iter().zip(&nudges).zip(&eps) {
                    self.apply_nudge(b, d, copy, nudge, Some(e));
                }
            });
            let pair = [&binds[0], &binds[1]];
            let (plans, factors) = self.plan(b, d, pair, &acc_p, &acc_u);
            for (j, &(kind, _)) in self.pieces.iter().enumerate() {
                let (tau, c) = (taus[j], cs[j]);
                b.phase(|b| {
                    for plan in plans.iter().filter(|p| p.kind == kind && p.later.is_none()) {
                        self.accumulate_difference(b, plan.grad, pair, plan.acc, plan.timed, tau);
                    }
                    for f in factors.iter().filter(|f| f.kind == kind) {
                        self.accumulate_factor(b, &f.split, pair, f.buf, tau);
                    }
                    if let Some(i) = self.step_param() {
                        let energy =
                            if kind == PieceKind::Kick { self.eq.potential } else { self.eq.kinetic };
                        if let Some(diff) = b.difference(&self.eq.dag, energy, pair) {
                            let v = b.binary(BinOp::Mul, c, diff);
                            Self::add_scalar(b, acc_p[i], Vec::new(), v);
                        }
                    }
                    for (copy, bind) in copies.iter().zip(&binds) {
                        self.piece(b, d, kind, tau, copy, bind);
                    }
                });
            }
            // Once per step: the deferred gradients from their factors' sums over the pieces,
            // then the factors cleared for the next step.
            b.phase(|b| {
                for plan in &plans {
                    let Some((split, factor)) = &plan.later else { continue };
                    self.accumulate_deferred(b, plan.grad, split, *factor, &binds[0], plan.acc, plan.timed);
                }
                for f in &factors {
                    self.clear_factor(b, &f.split, f.buf);
                }
            });
        });
    }

    /// Plans every gradient the echo accumulates, the two copies read as `pair` says, and the
    /// factors the deferred ones share.
    fn plan<'d>(
        &self,
        b: &mut Builder,
        d: &'d Table,
        pair: [&Binding; 2],
        acc_p: &[Buf],
        acc_u: &[Buf],
    ) -> (Vec<Plan<'d>>, Vec<Factor>) {
        let mut plans = Vec::new();
        let mut factors: Vec<Factor> = Vec::new();
        let kick = d.v_param.iter().zip(acc_p).map(|(g, &a)| (PieceKind::Kick, g, a, false));
        let inputs = d.v_input.iter().zip(acc_u).map(|(g, &a)| (PieceKind::Kick, g, a, true));
        let drift = d.k_param.iter().zip(acc_p).map(|(g, &a)| (PieceKind::Drift, g, a, false));
        for (kind, g, acc, timed) in kick.chain(inputs).chain(drift) {
            let Some(w) = g else { continue };
            let grad = &w.grad;
            let later = b.split(&self.eq.dag, grad.node, pair).and_then(|split| {
                let vars = self.eq.dag.free(split.factor);
                if vars.len() >= grad.out.len() + split.over.len() {
                    return None; // as many loops either way: nothing to share
                }
                let buf = match factors.iter().find(|f| f.kind == kind && f.split.factor == split.factor) {
                    Some(f) => f.buf,
                    None => {
                        let shape: Vec<u64> = vars.iter().map(|&v| self.eq.dag.vars[v].hi as u64).collect();
                        let buf = b.buffer(format!("factor{}", factors.len()), None, None, &shape);
                        factors.push(Factor { kind, split: split.clone(), buf });
                        buf
                    }
                };
                Some((split, buf))
            });
            plans.push(Plan { kind, grad, acc, timed, later });
        }
        (plans, factors)
    }
}
