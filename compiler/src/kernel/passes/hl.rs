//! Hamiltonian Learning (`../shared/spec/hl.md`): ticks forward in time, each the step and one
//! vector-Jacobian product of it through the same piece adjoints BPTT runs, with the costates
//! carried from tick to tick and no trajectory stored. The runtime scalars are `ε_0 = γ` (the
//! loss's weight) and `ε_1 = θ` (the dissipation); `δ` is the model's step.
//!
//! Per tick, with `λ` the state's costate and `μ` the params':
//! - `x' = Φ(x)`, keeping the state each piece acts at;
//! - `ℓ += l(x')`; `λ_t` kept; `λ += δγ ∇l(x')`; `μ ← (1 − θ) μ + δγ ∂l/∂w`;
//! - the pieces' adjoints, last first: `λ ← J_xᵀ λ` and `μ += J_wᵀ λ` (so that
//!   `λ = J_xᵀ(λ_t + δγ ∇l(x')) = δ a`, `μ` gains `δ b`, hl.md's `(a, b) = (J_xᵀ r, J_wᵀ r)`);
//! - `λ ← λ − θ λ_t`; `Σμ += μ`.
//!
//! The params stay as they are through one call: the caller applies `w -= δ β Σμ` between calls,
//! which is hl.md's per-tick rule exactly when a call is one tick.

use hsc_runtime::Slot;

use super::{Ctx, PieceKind, State};
use crate::kernel::lower::{Builder, Life, Row};
use crate::kernel::{BinOp, Op, Value};
use crate::symbolic::Table;

impl Ctx<'_> {
    pub(super) fn hl(&self, b: &mut Builder, d: &Table) {
        let data = self.data(b);
        let state = self.state(b, |n| n.to_owned(), |s| Some(Slot::State(s)), None);
        let lambda = self.state(b, |n| format!("λ{n}"), |s| Some(Slot::Costate(s)), None);
        let before = self.state(b, |n| format!("λ{n}_before"), |_| None, None);
        let mu = self.buffers(b, &self.params, |n| format!("μ{n}"), Slot::ParamCostate, None);
        let sum = self.buffers(b, &self.params, |n| format!("Σμ{n}"), Slot::ParamUpdate, None);
        let loss = b.buffer("loss", Some(Slot::Loss), None, &[]);
        let snaps: Vec<State> = (0..self.pieces.len())
            .map(|j| self.state(b, |n| format!("{n}_piece{j}"), |_| None, None))
            .collect();
        let taus: Vec<Value> = self.pieces.iter().map(|&(_, c)| self.tau(b, &data, c)).collect();
        let cs: Vec<Value> = self.pieces.iter().map(|&(_, c)| b.emit_root(Op::Const(c))).collect();
        let delta = self.tau(b, &data, 1.0);
        let gamma = b.emit_root(Op::Eps(0));
        let theta = b.emit_root(Op::Eps(1));
        let one = b.emit_root(Op::Const(1.0));
        let delta_gamma = b.emit_root(Op::Binary(BinOp::Mul, delta, gamma));
        let keep = b.emit_root(Op::Binary(BinOp::Sub, one, theta));
        b.steps(false, |b| {
            let base = self.binding(&data, Row::Step(0));
            // x' = Φ(x), keeping the state each piece acts at.
            let mut bind = base.clone();
            self.bind_state(&mut bind, &state, false, false, Life::Phase, None);
            for (j, &(kind, _)) in self.pieces.iter().enumerate() {
                b.phase(|b| {
                    for s in self.sides().into_iter().filter(|s| s.momentum == (kind == PieceKind::Drift)) {
                        self.copy_side(b, state.side(s), snaps[j].side(s), None, false);
                    }
                    self.piece(b, d, kind, taus[j], &state, &bind);
                });
            }
            // ℓ += l(x'); λ_t kept; μ ← (1 − θ) μ.
            b.phase(|b| {
                let l = b.value(&self.eq.dag, self.eq.loss, &bind);
                Self::add_scalar(b, loss, Vec::new(), l);
                self.copy_state(b, &lambda, None, &before);
                for &m in &mu {
                    self.copy_side(b, m, m, Some(keep), false);
                }
            });
            // λ += δγ ∇l(x'); μ += δγ ∂l/∂w.
            b.phase(|b| {
                for a in 0..self.positions.len() {
                    for (g, dst) in [(&d.loss_q[a], lambda.q[a]), (&d.loss_p[a], lambda.p[a])] {
                        if let Some(g) = g {
                            self.accumulate(b, g, &bind, dst, false, Some(delta_gamma), 1.0);
                        }
                    }
                }
                for (g, &buf) in d.loss_param.iter().zip(&mu) {
                    if let Some(g) = g {
                        self.accumulate(b, g, &bind, buf, false, Some(delta_gamma), 1.0);
                    }
                }
            });
            // The pieces' adjoints, last first, as in BPTT (the inputs' gradients unused).
            self.adjoints(b, d, &base, &snaps, (&taus, &cs), &lambda, (&mu, &[]));
            // λ ← λ − θ λ_t; Σμ += μ.
            b.phase(|b| {
                for s in self.sides() {
                    let shape = b.shape(lambda.side(s));
                    b.for_shape(&shape, |b, idx| {
                        let old = b.load(before.side(s), idx.to_vec());
                        let damp = b.binary(BinOp::Mul, theta, old);
                        let v = b.load(lambda.side(s), idx.to_vec());
                        let v = b.binary(BinOp::Sub, v, damp);
                        b.store(lambda.side(s), idx.to_vec(), v, false);
                    });
                }
                for (&m, &acc) in mu.iter().zip(&sum) {
                    self.copy_side(b, m, acc, None, true);
                }
            });
        });
    }
}
