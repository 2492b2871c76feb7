//! The tangent echo: the unnudged echo and its tangent `δx̂ = dx̂/dε`, propagated with the
//! Hessian-vector products of each piece; the `ε → 0` limit of RHEL, exact and forward-only.

use hsc_runtime::Slot;

use super::Ctx;
use crate::kernel::lower::{Builder, Life, Row};
use crate::kernel::{Op, Value};
use crate::symbolic::Table;

impl Ctx<'_> {
    pub(super) fn tangent(&self, b: &mut Builder, d: &Table) {
        let data = self.data(b);
        // The unnudged echo starts where the runtime put it, as the RHEL echo's copies do.
        let xhat = self.state(b, |n| format!("{n}_echo"), |s| Some(Slot::Echo(0, s)), None);
        let dx = self.state(b, |n| format!("δ{n}"), |s| Some(Slot::Tangent(s)), None);
        let (acc_p, acc_u) = self.acc_buffers(b);
        let nudge = self.nudge_buffers(b, "");
        let taus: Vec<Value> = self.pieces.iter().map(|&(_, c)| self.tau(b, &data, c)).collect();
        let cs: Vec<Value> = self.pieces.iter().map(|&(_, c)| b.emit_root(Op::Const(c))).collect();
        b.steps(true, |b| {
            let base = self.binding(&data, Row::Step(0));
            let mut bind = base.clone();
            self.bind_state(&mut bind, &xhat, false, false, Life::Phase, None);
            self.bind_state(&mut bind, &dx, true, false, Life::Phase, None);
            b.phase(|b| {
                let mut at = base.clone();
                self.bind_state(&mut at, &xhat, false, true, Life::Phase, None);
                self.loss_gradient(b, d, &at, &nudge);
            });
            b.phase(|b| self.apply_nudge(b, d, &dx, &nudge, None));
            for (j, &(kind, _)) in self.pieces.iter().enumerate() {
                let (tau, c) = (taus[j], cs[j]);
                b.phase(|b| {
                    // The tangent first (it reads the state this piece acts at), then the state.
                    self.piece_jvp(b, d, kind, (tau, c), &bind, (&acc_p, &acc_u), 1.0, &dx);
                    self.piece(b, d, kind, tau, &xhat, &bind);
                });
            }
        });
    }
}
