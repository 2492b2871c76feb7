//! The whole network's gradient in memory that does not grow with the sequence: every
//! layer's echo runs back in lockstep, a stretch of steps at a time.
//!
//! The forward pass runs the sequence a stretch at a time through every block, keeping only
//! each layer's state (and the running sum the pooling needs). The backward pass starts each
//! layer's echo at its final state and walks the stretches from the last:
//!
//! 1. bottom-up, each block's activations over the stretch are recomputed: its input from the
//!    block below, its recurrent layer's positions retraced from the state the stretch ended
//!    in ([`recurrent::retrace`], the steps run backwards in time), which also gives the state
//!    it started in, where the next stretch back ends;
//! 2. top-down, the cotangents flow through each block over the stretch, and each layer's
//!    echo runs back over it nudged by them ([`recurrent::echo_back`]), which gives the
//!    layer's input gradient, the cotangent of the block below.
//!
//! The retraced states are the unnudged echo's (the tangent echo's base; RHEL's two nudged
//! echoes run beside it), so the activations are the forward pass's up to rounding, which the
//! reversed steps amplify where the dynamics are chaotic: how far the retrace ends from the
//! initial state is reported as the sequence's `stray`. With anchors the forward pass also
//! keeps each layer's state at every stretch's end, and the retrace and the echoes are moved
//! back onto it before the stretch ([`hsc_runtime::Model::echo_anchor`]): rounding then never
//! grows over more than one stretch (what f32 needs at long T), for memory `O(T / stretch)`.

use hsc_runtime::{Echoing, Walk};

use super::{Network, SequenceGrad, recurrent};
use crate::train::{Anchor, Target, TrainError};

/// How the network's echoes walk a sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stretches {
    /// Steps per stretch (the last stretch may be shorter).
    pub len: usize,
    /// Keep each layer's state at every stretch's end and re-anchor the echoes there.
    pub anchored: bool,
}

impl Stretches {
    /// The stretches of a run of `steps` steps, in order: `(start, end)`.
    fn of(self, steps: usize) -> Vec<(usize, usize)> {
        let len = self.len.max(1);
        (0..steps.div_ceil(len)).map(|i| (i * len, ((i + 1) * len).min(steps))).collect()
    }

    /// Stretches of `√T` steps (at least 16), anchored: memory `O(√T)`.
    pub fn anchored(steps: usize) -> Stretches {
        Stretches { len: ((steps as f64).sqrt().ceil() as usize).max(16), anchored: true }
    }
}

/// What the forward pass keeps.
struct Streamed {
    logits: Vec<f64>,
    pooled: Vec<f64>,
    /// Per layer, its final state (per state array).
    finals: Vec<Vec<Vec<f64>>>,
    /// Per layer, its state at the end of every stretch but the last (when anchored).
    anchors: Vec<Vec<Vec<Vec<f64>>>>,
}

impl Network {
    /// The head's output for one sequence, run a stretch at a time (dropout off): memory that
    /// does not grow with `steps`.
    pub fn predict(&self, series: &[f64], steps: usize) -> Result<Vec<f64>, TrainError> {
        Ok(self.stream(series, steps, None, Anchor::Never.stretches(steps))?.logits)
    }

    fn stream(
        &self,
        series: &[f64],
        steps: usize,
        dropout_seed: Option<u64>,
        stretches: Stretches,
    ) -> Result<Streamed, TrainError> {
        let (channels, h) = (self.arch.channels, self.arch.hidden);
        let layers = self.blocks.len();
        let mut states: Vec<Option<Vec<Vec<f64>>>> = vec![None; layers];
        let mut anchors = vec![Vec::new(); layers];
        let mut sum = vec![0.0; h];
        let all = stretches.of(steps);
        for (i, &(start, end)) in all.iter().enumerate() {
            let rows = end - start;
            let mut x = self.encode(&series[start * channels..end * channels], rows);
            for l in 0..layers {
                let (normed, norm, u) = self.block_in(l, &x, rows);
                let (q, last) =
                    recurrent::run(&self.model, &self.model_params(l), &u, rows, states[l].take())?;
                if stretches.anchored && i + 1 < all.len() {
                    anchors[l].push(last.clone());
                }
                states[l] = Some(last);
                x = self.block_out(l, x, (normed, norm, u, q), start..end, dropout_seed)?.0;
            }
            for row in x.chunks(h) {
                sum.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
        }
        let pooled: Vec<f64> = sum.iter().map(|s| s / steps as f64).collect();
        let logits = self.head(&pooled);
        let finals = states.into_iter().map(Option::unwrap_or_default).collect();
        Ok(Streamed { logits, pooled, finals, anchors })
    }

    /// The loss of one labelled sequence and the gradient of every tensor, with the echoes
    /// of `walk` run back in lockstep over `stretches`.
    pub fn lockstep_grad(
        &self,
        series: &[f64],
        steps: usize,
        target: Target,
        dropout_seed: Option<u64>,
        walk: Walk,
        stretches: Stretches,
    ) -> Result<SequenceGrad, TrainError> {
        let channels = self.arch.channels;
        let streamed = self.stream(series, steps, dropout_seed, stretches)?;
        let (loss, dlogits) = self.loss(&streamed.logits, target);
        let mut grads: Vec<Vec<f64>> = self.tensors.iter().map(|t| vec![0.0; t.values.len()]).collect();
        // The pooling's gradient: the same at every step.
        let dtop: Vec<f64> = self
            .head_backward(&streamed.pooled, &dlogits, &mut grads)
            .iter()
            .map(|v| v / steps as f64)
            .collect();
        let mut echoes: Vec<Echoing> = streamed
            .finals
            .iter()
            .map(|last| self.model.echo_begin(walk, last).map_err(TrainError::Run))
            .collect::<Result<_, _>>()?;
        // Each layer's cotangents are scaled so that the largest of the stretch its echo runs
        // first is 1: RHEL's ε is relative to it, as for a layer on its own.
        let mut scales: Vec<Option<f64>> = vec![None; self.blocks.len()];
        // Per layer, the retraced state where the stretch being run back ends.
        let mut bases = streamed.finals.clone();
        let all = stretches.of(steps);
        for (i, &(start, end)) in all.iter().enumerate().rev() {
            let rows = end - start;
            let series = &series[start * channels..end * channels];
            let tapes =
                self.recompute(series, start..end, i, &streamed, &mut echoes, &mut bases, dropout_seed)?;
            let mut dx: Vec<f64> = (0..rows).flat_map(|_| dtop.iter().copied()).collect();
            for (l, bt) in tapes.iter().enumerate().rev() {
                let (dq, dnormed) = self.block_out_backward(l, bt, &dx, &mut grads);
                let scale = *scales[l].get_or_insert_with(|| {
                    let largest = dq.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                    if largest > 0.0 && largest.is_finite() { 1.0 / largest } else { 1.0 }
                });
                let params = self.model_params(l);
                let (model_grads, du) =
                    recurrent::echo_back(&self.model, &params, &bt.u, &dq, rows, scale, &mut echoes[l])?;
                self.add_model_grads(l, model_grads, &mut grads)?;
                self.block_in_backward(l, bt, &du, dnormed, &mut dx, &mut grads)?;
            }
            self.encode_backward(series, rows, &dx, &mut grads);
        }
        let largest = |arrays: &[Vec<f64>]| arrays.iter().flatten().fold(0.0f64, |m, x| m.max(x.abs()));
        let size = streamed.finals.iter().map(|f| largest(f)).fold(1e-300, f64::max);
        let ended = bases.iter().map(|b| largest(b)).fold(0.0, f64::max);
        Ok(SequenceGrad { loss, logits: streamed.logits, grads, stray: ended / size })
    }

    /// Every block's activations over stretch `index` (`rows` of the sequence, `series` its
    /// part of the data), bottom-up, each recurrent layer's positions retraced from `bases`
    /// (first moved onto the stretch's anchors, with the echoes, where the forward pass kept
    /// them), which then hold where the stretch began.
    #[allow(clippy::too_many_arguments)]
    fn recompute(
        &self,
        series: &[f64],
        rows: std::ops::Range<usize>,
        index: usize,
        streamed: &Streamed,
        echoes: &mut [Echoing],
        bases: &mut [Vec<Vec<f64>>],
        dropout_seed: Option<u64>,
    ) -> Result<Vec<super::BlockTape>, TrainError> {
        let steps = rows.len();
        let mut tapes = Vec::with_capacity(self.blocks.len());
        let mut x = self.encode(series, steps);
        for (l, echoing) in echoes.iter_mut().enumerate() {
            if let Some(anchor) = streamed.anchors[l].get(index) {
                self.model.echo_anchor(echoing, anchor).map_err(TrainError::Run)?;
                bases[l].clone_from(anchor);
            }
            let (normed, norm, u) = self.block_in(l, &x, steps);
            let ended_at = std::mem::take(&mut bases[l]);
            let (q, begun) = recurrent::retrace(&self.model, &self.model_params(l), &u, steps, ended_at)?;
            bases[l] = begun;
            let (next, tape) = self.block_out(l, x, (normed, norm, u, q), rows.clone(), dropout_seed)?;
            tapes.push(tape);
            x = next;
        }
        Ok(tapes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_cover_the_sequence_in_order() {
        let s = Stretches { len: 4, anchored: false };
        assert_eq!(s.of(10), vec![(0, 4), (4, 8), (8, 10)]);
        assert_eq!(s.of(8), vec![(0, 4), (4, 8)]);
        assert_eq!(s.of(3), vec![(0, 3)]);
        assert_eq!(Stretches { len: 0, anchored: true }.of(2), vec![(0, 1), (1, 2)]);
    }
}
