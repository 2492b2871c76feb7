//! The fused pair of RHEL echoes: both copies advanced in one loop, reading each input once
//! and accumulating `τ (dG/dθ(copy a) - dG/dθ(copy b))` directly.

use hsc_runtime::Slot;

use super::{Ctx, Derivs, PieceKind, State};
use crate::kernel::lower::{Binding, Builder, Life, Row};
use crate::kernel::{BinOp, Op, Value};

impl Ctx<'_> {
    pub(super) fn echo(&self, b: &mut Builder, d: &Derivs) {
        let data = self.data(b);
        let fwd = self.state(b, |n| n.to_owned(), |s| Some(Slot::State(s)), None);
        let copies: Vec<State> = (0..2)
            .map(|c| self.state(b, |n| format!("{n}_echo{c}"), |s| Some(Slot::Echo(c, s)), None))
            .collect();
        let (acc_p, acc_u) = self.acc_buffers(b);
        let nudges: Vec<State> = (0..2).map(|c| self.nudge_buffers(b, &c.to_string())).collect();
        let taus: Vec<Value> = self.pieces.iter().map(|&(_, c)| self.tau(b, &data, c)).collect();
        let cs: Vec<Value> = self.pieces.iter().map(|&(_, c)| b.emit_root(Op::Const(c))).collect();
        let eps = [b.emit_root(Op::Eps(0)), b.emit_root(Op::Eps(1))];
        b.phase(|b| {
            for copy in &copies {
                self.copy_state(b, &fwd, None, copy, true);
            }
        });
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
            for (j, &(kind, _)) in self.pieces.iter().enumerate() {
                let (tau, c) = (taus[j], cs[j]);
                b.phase(|b| {
                    let pair = [&binds[0], &binds[1]];
                    let (params, inputs) = match kind {
                        PieceKind::Kick => (&d.v_param, Some(&d.v_input)),
                        PieceKind::Drift => (&d.k_param, None),
                    };
                    for (g, &buf) in params.iter().zip(&acc_p) {
                        if let Some((g, _)) = g {
                            self.accumulate_difference(b, g, pair, buf, false, tau);
                        }
                    }
                    for (g, &buf) in inputs.into_iter().flatten().zip(&acc_u) {
                        if let Some((g, _)) = g {
                            self.accumulate_difference(b, g, pair, buf, true, tau);
                        }
                    }
                    if let Some(i) = self.step_param() {
                        let energy = if kind == PieceKind::Kick { self.potential } else { self.kinetic };
                        if let Some(diff) = b.difference(&self.dag, energy, pair) {
                            let v = b.binary(BinOp::Mul, c, diff);
                            Self::add_scalar(b, acc_p[i], Vec::new(), v);
                        }
                    }
                    for (copy, bind) in copies.iter().zip(&binds) {
                        self.piece(b, d, kind, tau, copy, bind);
                    }
                });
            }
        });
    }
}
