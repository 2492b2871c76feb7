//! Echoes run a stretch of steps at a time, last stretch first, with the echo's buffers
//! carried from one call to the next. This is what lets `hsc train` run the echoes of every
//! layer of a stacked network in lockstep: the cotangents of a stretch are computed only when
//! the echoes below and above have reached it, so nothing of length `T` is ever stored.
//!
//! Run over the whole sequence in one stretch, this is [`Model::rhel_grad`] or
//! [`Model::tangent_grad`] after the forward pass; in several, the same numbers up to the order
//! in which the params' gradients are summed.

use super::{Carry, Given, Model, RunError};
use crate::model::{Batch, Gradients, Params};
use crate::spec::{Pass, Slot};

/// Which echo runs back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Walk {
    /// The fused pair of RHEL echoes nudged by `+ε` and `−ε`.
    Rhel(f64),
    /// The tangent echo (RHEL's `ε → 0` limit).
    Tangent,
}

/// Echoes standing somewhere in a batch of sequences, between calls of
/// [`Model::echo_back`].
#[derive(Clone, Debug)]
pub struct Echoing {
    walk: Walk,
    /// Per sequence: the echo's own buffers.
    carries: Vec<Carry>,
}

impl Model {
    /// Echoes starting at the end of a forward pass that ended in `state` (per state array
    /// `[B, ...]`, [`crate::ModelSpec::sides`] order).
    pub fn echo_begin(&self, walk: Walk, state: &[Vec<f64>]) -> Result<Echoing, RunError> {
        let sides = self.spec.sides();
        let size = state.first().map_or(0, |a| a.len() / self.spec.side(sides[0]).len().max(1));
        self.check_states("final", state, size)?;
        let mut carries = vec![Carry::new(); size];
        for (&side, array) in sides.iter().zip(state) {
            let len = self.spec.side(side).len();
            for (b, carry) in carries.iter_mut().enumerate() {
                carry.insert(Slot::State(side), array[b * len..(b + 1) * len].to_vec());
            }
        }
        if let Walk::Rhel(eps) = walk
            && !(eps.is_finite() && eps > 0.0)
        {
            return Err(RunError::Invalid(format!("the echo needs a finite ε > 0, not {eps}")));
        }
        Ok(Echoing { walk, carries })
    }

    /// Runs the echoes back over `batch`'s steps, which are the stretch just before where they
    /// stand (its inputs and cotangents in forward order), nudged by its cotangents. Returns
    /// the params' gradients over the stretch and the inputs' gradient at each of its steps;
    /// `initial` is the gradient with respect to the state at the stretch's start, and `loss`
    /// is 0 (a model run in stretches has no loss of its own).
    pub fn echo_back(
        &self,
        params: &Params,
        batch: &Batch,
        echoing: &mut Echoing,
    ) -> Result<Gradients, RunError> {
        if batch.size != echoing.carries.len() {
            let why = format!("a batch of {} for echoes of {} sequences", batch.size, echoing.carries.len());
            return Err(RunError::Invalid(why));
        }
        let spec = &self.spec;
        let (pass, eps, scale) = match echoing.walk {
            Walk::Rhel(e) => (Pass::Echo, [e, -e], -1.0 / (2.0 * e)),
            Walk::Tangent => (Pass::Tangent, [0.0; 2], -1.0),
        };
        let mut out: Vec<Slot> = (0..spec.inputs.len()).map(Slot::InputAcc).collect();
        out.extend((0..spec.params.len()).map(Slot::ParamAcc));
        let given = Given { params, batch, forcing: None };
        let start = std::mem::take(&mut echoing.carries);
        let (carries, mut gathered) = self.each_from(given, &[(pass, eps)], None, &out, start)?;
        echoing.carries = carries;
        let param_accs = gathered.split_off(spec.inputs.len());
        let inputs = gathered.into_iter().map(|a| a.into_iter().map(|x| scale * x).collect()).collect();
        let params = param_accs
            .iter()
            .map(|acc| super::sum_over_batch(acc, batch.size).into_iter().map(|g| scale * g).collect())
            .collect();
        let initial = self.echo_costate(echoing);
        Ok(Gradients { loss: 0.0, params, inputs, initial })
    }

    /// Where the echoes stand, as a forward state (per state array `[B, ...]`): the unnudged
    /// echo's state for the tangent echo, the mean of the two nudged ones for RHEL (which is
    /// the unnudged echo's up to `O(ε²)`), momenta flipped back.
    pub fn echo_base(&self, echoing: &Echoing) -> Vec<Vec<f64>> {
        self.spec
            .sides()
            .into_iter()
            .map(|side| {
                let sign = if side.momentum { -1.0 } else { 1.0 };
                echoing
                    .carries
                    .iter()
                    .flat_map(|c| match echoing.walk {
                        Walk::Tangent => echo(c, 0, side).iter().map(|x| sign * x).collect::<Vec<_>>(),
                        Walk::Rhel(_) => echo(c, 0, side)
                            .iter()
                            .zip(echo(c, 1, side))
                            .map(|(a, b)| sign * 0.5 * (a + b))
                            .collect(),
                    })
                    .collect()
            })
            .collect()
    }

    /// Moves the echoes' base to `state` (per state array `[B, ...]`: the forward pass's own
    /// state where the echoes stand, stored on the way), keeping how far the nudged echoes
    /// are from their base. Rounding that the reversed steps have amplified since the last
    /// anchor is dropped; the nudges' effect is kept.
    pub fn echo_anchor(&self, echoing: &mut Echoing, state: &[Vec<f64>]) -> Result<(), RunError> {
        self.check_states("anchor", state, echoing.carries.len())?;
        let base = self.echo_base(echoing);
        for (k, side) in self.spec.sides().into_iter().enumerate() {
            let len = self.spec.side(side).len();
            let sign = if side.momentum { -1.0 } else { 1.0 };
            let copies = match echoing.walk {
                Walk::Rhel(_) => 2,
                Walk::Tangent => 1,
            };
            for (b, carry) in echoing.carries.iter_mut().enumerate() {
                let rows = b * len..(b + 1) * len;
                for c in 0..copies {
                    let Some(x) = carry.get_mut(&Slot::Echo(c, side)) else { continue };
                    for ((x, old), new) in
                        x.iter_mut().zip(&base[k][rows.clone()]).zip(&state[k][rows.clone()])
                    {
                        *x += sign * (new - old);
                    }
                }
                carry.insert(Slot::State(side), state[k][rows.clone()].to_vec());
            }
        }
        Ok(())
    }

    /// An error unless `state` holds one `[size, ...]` array per state array of the model.
    fn check_states(&self, what: &str, state: &[Vec<f64>], size: usize) -> Result<(), RunError> {
        let sides = self.spec.sides();
        if state.len() != sides.len() {
            let why = format!("{} {what} state arrays given, the model has {}", state.len(), sides.len());
            return Err(RunError::Invalid(why));
        }
        for (&side, array) in sides.iter().zip(state) {
            let a = self.spec.side(side);
            if array.len() != size * a.len() {
                let detail = format!("batch {size} × {}", a.describe());
                let what = format!("{what} {}", a.name);
                return Err(RunError::Shape { what, expected: size * a.len(), got: array.len(), detail });
            }
        }
        Ok(())
    }

    /// The gradient with respect to the state where the echoes stand, per state array.
    fn echo_costate(&self, echoing: &Echoing) -> Vec<Vec<f64>> {
        self.spec
            .sides()
            .into_iter()
            .map(|side| {
                let s = side.flip();
                echoing
                    .carries
                    .iter()
                    .flat_map(|c| match echoing.walk {
                        Walk::Tangent => c.get(&Slot::Tangent(s)).cloned().unwrap_or_default(),
                        Walk::Rhel(e) => echo(c, 0, s)
                            .iter()
                            .zip(echo(c, 1, s))
                            .map(|(a, b)| (a - b) / (2.0 * e))
                            .collect(),
                    })
                    .collect()
            })
            .collect()
    }
}

/// Copy `c` of an echo's state array, before the first stretch: the flipped final state.
fn echo(carry: &Carry, c: usize, side: crate::Side) -> Vec<f64> {
    match carry.get(&Slot::Echo(c, side)) {
        Some(x) => x.clone(),
        None => super::echo_start(carry, Slot::Echo(c, side)).unwrap_or_default(),
    }
}
