//! BPTT: the discrete adjoint of the same step over a recorded trajectory. Each step's pieces
//! are recomputed from `x_t` (keeping the state each acts at), then their adjoints run last
//! first. `forced_bptt` is the adjoint of the map with generalized teacher forcing.

use hsc_runtime::{Side, Slot};

use super::{Ctx, PieceKind, State};
use crate::kernel::lower::{Binding, Builder, Life, Row};
use crate::kernel::{BinOp, Buf, Index, Op, Value};
use crate::symbolic::Table;

impl Ctx<'_> {
    /// BPTT, or with `forced` the adjoint of the forced map `x_{t+1} = x' + α (d − x')` with
    /// `x' = Φ(x_t)`: `λ ← (1 − α) λ` first, and the loss's gradient at `x'`, recomputed.
    pub(super) fn bptt(&self, b: &mut Builder, d: &Table, forced: bool) {
        let data = self.data(b);
        let traj = self.state(b, |n| format!("{n}_traj"), |s| Some(Slot::Trajectory(s)), Some(1));
        let lambda = self.state(b, |n| format!("λ{n}"), |s| Some(Slot::InitialGrad(s)), None);
        let (grad_p, grad_u) = self.grad_buffers(b, "dL");
        let work = self.state(b, |n| format!("{n}_work"), |_| None, None);
        // The state each piece acts at: the positions for a kick, the momenta for a drift.
        let snaps: Vec<State> = (0..self.pieces.len())
            .map(|j| self.state(b, |n| format!("{n}_piece{j}"), |_| None, None))
            .collect();
        let taus: Vec<Value> = self.pieces.iter().map(|&(_, c)| self.tau(b, &data, c)).collect();
        let cs: Vec<Value> = self.pieces.iter().map(|&(_, c)| b.emit_root(Op::Const(c))).collect();
        let alpha = forced.then(|| b.buffer("α", Some(Slot::Forcing), None, &[self.sides().len() as u64]));
        b.steps(true, |b| {
            let base = self.binding(&data, Row::Step(0));
            // λ += ∇l(x_{t+1}); dL/dθ += dl/dθ; dL/du_t += dl/du.
            let loss_gradient = |b: &mut Builder, at: &Binding| {
                for a in 0..self.positions.len() {
                    for (g, dst) in [(&d.loss_q[a], lambda.q[a]), (&d.loss_p[a], lambda.p[a])] {
                        if let Some(g) = g {
                            self.accumulate(b, g, at, dst, false, None, 1.0);
                        }
                    }
                }
                self.loss_direct(b, d, at, &grad_p, &grad_u);
            };
            if let Some(alpha) = alpha {
                // Through the forcing: λ ← (1 − α) λ.
                b.phase(|b| self.unforce(b, &lambda, alpha));
            } else {
                b.phase(|b| {
                    let mut at = base.clone();
                    self.bind_state(&mut at, &traj, false, false, Life::Step, Some(Row::Step(1)));
                    loss_gradient(b, &at);
                });
            }
            // Recompute the step from x_t, keeping the state each piece acts at.
            b.phase(|b| self.copy_state(b, &traj, Some(Row::Step(0)), &work));
            let mut bind = base.clone();
            self.bind_state(&mut bind, &work, false, false, Life::Phase, None);
            let last = self.pieces.len() - 1;
            for (j, &(kind, _)) in self.pieces.iter().enumerate() {
                b.phase(|b| {
                    let acting: Vec<Side> = self
                        .sides()
                        .into_iter()
                        .filter(|s| s.momentum == (kind == PieceKind::Drift))
                        .collect();
                    for s in acting {
                        self.copy_side(b, work.side(s), snaps[j].side(s), None, false);
                    }
                    // Forced, the loss reads the prediction `x'`: the last piece too.
                    if j != last || forced {
                        self.piece(b, d, kind, taus[j], &work, &bind);
                    }
                });
            }
            if forced {
                b.phase(|b| loss_gradient(b, &bind));
            }
            self.adjoints(b, d, &base, &snaps, (&taus, &cs), &lambda, (&grad_p, &grad_u));
        });
    }

    /// The adjoints of a step's pieces, last first, each at the state it acted at (`snaps`):
    /// `λ ← J_xᵀ λ` in place, and `acc += J_θᵀ λ` into `acc = (params, inputs)`. BPTT's and
    /// Hamiltonian Learning's vector-Jacobian product of the step.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn adjoints(
        &self,
        b: &mut Builder,
        d: &Table,
        base: &Binding,
        snaps: &[State],
        (taus, cs): (&[Value], &[Value]),
        lambda: &State,
        acc: (&[Buf], &[Buf]),
    ) {
        for (j, &(kind, _)) in self.pieces.iter().enumerate().rev() {
            let (tau, c) = (taus[j], cs[j]);
            b.phase(|b| {
                let mut at = base.clone();
                self.bind_state(&mut at, &snaps[j], false, false, Life::Phase, None);
                // The direction of the HVPs is the adjoint of what the piece changes:
                // a kick changes p, so δq = λp; a drift changes q, so δp = λq.
                let dir = State { q: lambda.p.clone(), p: lambda.q.clone() };
                self.bind_state(&mut at, &dir, true, false, Life::Phase, None);
                // BPTT's adjoint of a kick subtracts what the echo's tangent would add.
                let sign = if kind == PieceKind::Kick { -1.0 } else { 1.0 };
                self.piece_jvp(b, d, kind, (tau, c), &at, acc, sign, &dir);
            });
        }
    }
}

impl Ctx<'_> {
    /// `λ_k ← (1 − α_k) λ_k` for every state array `k`: the adjoint of the forcing.
    fn unforce(&self, b: &mut Builder, lambda: &State, alpha: Buf) {
        for (k, s) in self.sides().into_iter().enumerate() {
            let shape = b.shape(lambda.side(s));
            b.for_shape(&shape, |b, idx| {
                let a = b.load(alpha, vec![Index::constant(k as i64)]);
                let one = b.emit_root(Op::Const(1.0));
                let keep = b.binary(BinOp::Sub, one, a);
                let v = b.load(lambda.side(s), idx.to_vec());
                let v = b.binary(BinOp::Mul, keep, v);
                b.store(lambda.side(s), idx.to_vec(), v, false);
            });
        }
    }
}
