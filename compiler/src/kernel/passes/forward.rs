//! The forward kernels: `forward`, `forward_grad` (plus the loss's direct gradients),
//! `forward_record` (plus the trajectory and the energy) and `forced_record` (the same with
//! generalized teacher forcing after every step).

use hsc_runtime::{Pass, Slot};

use super::{Ctx, State};
use crate::kernel::Index;
use crate::kernel::lower::{Binding, Builder, Life, Row};
use crate::kernel::{BinOp, Buf, Value};
use crate::symbolic::Table;

impl Ctx<'_> {
    pub(super) fn forward(&self, b: &mut Builder, pass: Pass, d: &Table) {
        let data = self.data(b);
        let state = self.state(b, |n| n.to_owned(), |s| Some(Slot::State(s)), None);
        let loss = b.buffer("loss", Some(Slot::Loss), None, &[]);
        let grads = (pass == Pass::ForwardGrad).then(|| self.grad_buffers(b, "dl"));
        let record = matches!(pass, Pass::ForwardRecord | Pass::ForcedRecord).then(|| {
            let traj = self.state(b, |n| format!("{n}_traj"), |s| Some(Slot::Trajectory(s)), Some(1));
            let energy = b.buffer("energy", Some(Slot::Energy), Some(1), &[]);
            (traj, energy)
        });
        let forcing = (pass == Pass::ForcedRecord).then(|| {
            let data = self.state(b, |n| format!("{n}_data"), |s| Some(Slot::Forced(s)), Some(0));
            let alpha = b.buffer("α", Some(Slot::Forcing), None, &[self.sides().len() as u64]);
            (data, alpha)
        });
        let taus: Vec<Value> = self.pieces.iter().map(|&(_, c)| self.tau(b, &data, c)).collect();
        if let Some((traj, energy)) = &record {
            b.phase(|b| {
                let mut bind = self.binding(&data, Row::Fixed(0));
                self.bind_state(&mut bind, &state, false, false, Life::Phase, None);
                self.copy_state_to_row(b, &state, traj, Row::Fixed(0));
                let h = b.value(&self.eq.dag, self.eq.hamiltonian, &bind);
                b.store(*energy, vec![Index::constant(0)], h, false);
            });
        }
        b.steps(false, |b| {
            let mut bind = self.binding(&data, Row::Step(0));
            self.bind_state(&mut bind, &state, false, false, Life::Phase, None);
            for (&(kind, _), &tau) in self.pieces.iter().zip(&taus) {
                b.phase(|b| self.piece(b, d, kind, tau, &state, &bind));
            }
            let record_row = |b: &mut Builder| {
                if let Some((traj, energy)) = &record {
                    self.copy_state_to_row(b, &state, traj, Row::Step(1));
                    let h = b.value(&self.eq.dag, self.eq.hamiltonian, &bind);
                    let row = b.row(Row::Step(1));
                    b.store(*energy, vec![row], h, false);
                }
            };
            b.phase(|b| {
                let l = b.value(&self.eq.dag, self.eq.loss, &bind);
                Self::add_scalar(b, loss, Vec::new(), l);
                if let Some((params, inputs)) = &grads {
                    self.loss_direct(b, d, &bind, params, inputs);
                }
                if forcing.is_none() {
                    record_row(b);
                }
            });
            // Generalized teacher forcing: the loss read the prediction; the state goes on
            // pulled toward the data, and is recorded so.
            if let Some((data, alpha)) = &forcing {
                b.phase(|b| self.force(b, &state, data, *alpha));
                b.phase(record_row);
            }
        });
    }

    /// `dL/dθ += dl/dθ` and `dL/du_t += dl/du`: the loss's direct gradients at `bind`.
    pub(super) fn loss_direct(
        &self,
        b: &mut Builder,
        d: &Table,
        bind: &Binding,
        params: &[Buf],
        inputs: &[Buf],
    ) {
        for (g, &buf) in d.loss_param.iter().zip(params) {
            if let Some(g) = g {
                self.accumulate(b, g, bind, buf, false, None, 1.0);
            }
        }
        for (g, &buf) in d.loss_input.iter().zip(inputs) {
            if let Some(g) = g {
                self.accumulate(b, g, bind, buf, true, None, 1.0);
            }
        }
    }

    /// `x ← x + α_k (d_t − x)` for every state array `k`, toward the data's row of this step.
    fn force(&self, b: &mut Builder, state: &State, data: &State, alpha: Buf) {
        for (k, s) in self.sides().into_iter().enumerate() {
            let shape = b.shape(state.side(s));
            b.for_shape(&shape, |b, idx| {
                let x = b.load(state.side(s), idx.to_vec());
                let mut at = vec![b.row(Row::Step(0))];
                at.extend_from_slice(idx);
                let target = b.load(data.side(s), at);
                let a = b.load(alpha, vec![Index::constant(k as i64)]);
                let pull = b.binary(BinOp::Sub, target, x);
                let pull = b.binary(BinOp::Mul, a, pull);
                let v = b.binary(BinOp::Add, x, pull);
                b.store(state.side(s), idx.to_vec(), v, false);
            });
        }
    }

    /// `traj[row] = state`.
    fn copy_state_to_row(&self, b: &mut Builder, state: &State, traj: &State, row: Row) {
        for s in self.sides() {
            let shape = b.shape(state.side(s));
            b.for_shape(&shape, |b, idx| {
                let v = b.load(state.side(s), idx.to_vec());
                let mut to = vec![b.row(row)];
                to.extend_from_slice(idx);
                b.store(traj.side(s), to, v, false);
            });
        }
    }
}
