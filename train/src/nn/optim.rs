//! The AdamW optimizer and a warm-up + cosine learning-rate schedule.

use std::f64::consts::PI;

/// AdamW as PyTorch's torch.optim.AdamW (decoupled weight decay: θ ← θ − lr·wd·θ, then the
/// Adam update with bias correction). Default: `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`,
/// `weight_decay = 0.01`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamW {
    /// Decay rate of the first moment.
    pub beta1: f64,
    /// Decay rate of the second moment.
    pub beta2: f64,
    /// Added to the bias-corrected root of the second moment.
    pub eps: f64,
    /// Decoupled weight-decay coefficient (multiplied by the learning rate).
    pub weight_decay: f64,
}

impl Default for AdamW {
    fn default() -> Self {
        AdamW { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// Moments per tensor and the step count; plain data so it can be checkpointed.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamState {
    /// Steps taken so far.
    pub step: u64,
    /// First moment (mean of gradients) per tensor.
    pub m: Vec<Vec<f64>>,
    /// Second moment (mean of squared gradients) per tensor.
    pub v: Vec<Vec<f64>>,
}

impl AdamState {
    /// Zero moments for tensors of the given lengths, at step 0.
    pub fn new(shapes: &[usize]) -> AdamState {
        let zeros = || shapes.iter().map(|&n| vec![0.0; n]).collect();
        AdamState { step: 0, m: zeros(), v: zeros() }
    }
}

impl AdamW {
    /// One AdamW step over every tensor at learning rate `lr`: increments `state.step` to `t`,
    /// then per entry (PyTorch's order) `θ ← θ(1 − lr·wd)` if `decay` holds for the tensor,
    /// `m ← β1 m + (1−β1) g`, `v ← β2 v + (1−β2) g²`,
    /// `θ ← θ − (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + eps)`.
    pub fn step(
        &self,
        state: &mut AdamState,
        values: &mut [Vec<f64>],
        grads: &[Vec<f64>],
        lr: f64,
        decay: &[bool],
    ) {
        let n = values.len();
        assert!(
            grads.len() == n && decay.len() == n && state.m.len() == n && state.v.len() == n,
            "AdamW: values, grads, decay and state must list the same tensors"
        );
        state.step += 1;
        let t = i32::try_from(state.step).unwrap_or(i32::MAX);
        let step_size = lr / (1.0 - self.beta1.powi(t));
        let bc2_sqrt = (1.0 - self.beta2.powi(t)).sqrt();
        let shrink = 1.0 - lr * self.weight_decay;
        for i in 0..n {
            let (theta, g, m, v) = (&mut values[i], &grads[i], &mut state.m[i], &mut state.v[i]);
            assert!(
                g.len() == theta.len() && m.len() == theta.len() && v.len() == theta.len(),
                "AdamW: tensor {i} has mismatched lengths"
            );
            for j in 0..theta.len() {
                if decay[i] {
                    theta[j] *= shrink;
                }
                m[j] = self.beta1 * m[j] + (1.0 - self.beta1) * g[j];
                v[j] = self.beta2 * v[j] + (1.0 - self.beta2) * g[j] * g[j];
                theta[j] -= step_size * m[j] / (v[j].sqrt() / bc2_sqrt + self.eps);
            }
        }
    }
}

/// Linear warm-up from 0 over `warmup` steps, then cosine decay to `floor`·base at `total` steps
/// (and flat after).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    /// Peak learning rate, reached at the end of warm-up.
    pub base: f64,
    /// Warm-up steps (0: start at `base`).
    pub warmup: u64,
    /// Step at which the decay reaches `floor · base`.
    pub total: u64,
    /// Final learning rate as a fraction of `base`.
    pub floor: f64,
}

impl Schedule {
    /// The learning rate at `step`: `base·step/warmup` before `warmup`, then
    /// `base·(floor + (1−floor)·(1 + cos(π·(step−warmup)/(total−warmup)))/2)` until `total`,
    /// then `floor·base`.
    pub fn lr(&self, step: u64) -> f64 {
        if step < self.warmup {
            self.base * step as f64 / self.warmup as f64
        } else if step >= self.total {
            self.floor * self.base
        } else {
            let progress = (step - self.warmup) as f64 / (self.total - self.warmup) as f64;
            self.base * (self.floor + (1.0 - self.floor) * 0.5 * (1.0 + (PI * progress).cos()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * a.abs().max(b.abs()).max(1.0)
    }

    #[test]
    fn one_step_matches_pytorch_formulas_and_respects_decay_mask() {
        // PyTorch AdamW, step t = 1, lr = 0.1, β1 = 0.9, β2 = 0.999, eps = 1e-8, wd = 0.01:
        //   θ ← θ(1 − lr·wd) [if decayed];  m = (1 − β1) g;  v = (1 − β2) g²;
        //   θ ← θ − lr/(1 − β1) · m / (√v / √(1 − β2) + eps).
        let opt = AdamW::default();
        let mut values = vec![vec![1.0, -2.0], vec![0.5]];
        let grads = vec![vec![0.5, -1.0], vec![2.0]];
        let mut state = AdamState::new(&[2, 1]);
        opt.step(&mut state, &mut values, &grads, 0.1, &[true, false]);
        let bc2_sqrt = (1.0f64 - 0.999).sqrt();
        // m = 0.1·g and v = 0.001·g² for g = 0.5, −1, 2; lr/(1 − β1) = 0.1/0.1.
        let want = [
            1.0 * (1.0 - 0.1 * 0.01) - 0.1 / 0.1 * 0.05 / ((0.001f64 * 0.25).sqrt() / bc2_sqrt + 1e-8),
            -2.0 * (1.0 - 0.1 * 0.01) - 0.1 / 0.1 * -0.1 / ((0.001f64 * 1.0).sqrt() / bc2_sqrt + 1e-8),
            0.5 - 0.1 / 0.1 * 0.2 / ((0.001f64 * 4.0).sqrt() / bc2_sqrt + 1e-8), // not decayed
        ];
        // The same numbers evaluated independently (Python, same formulas).
        let literal = [0.899_000_002, -1.898_000_001, 0.400_000_000_5];
        let got = [values[0][0], values[0][1], values[1][0]];
        for k in 0..3 {
            assert!(close(got[k], want[k]), "entry {k}: {} vs {}", got[k], want[k]);
            assert!((got[k] - literal[k]).abs() < 1e-12, "entry {k}: {} vs {}", got[k], literal[k]);
        }
        assert_eq!(state.step, 1);
        assert!(close(state.m[0][1], -0.1) && close(state.v[1][0], 0.004));
    }

    #[test]
    fn three_steps_match_pytorch_formulas() {
        // Minimise θ² (g = 2θ) from θ = 1 with lr = 0.01, wd = 0.1, written out step by step.
        let (b1, b2, eps, lr, wd) = (0.9f64, 0.999f64, 1e-8, 0.01, 0.1);
        let opt = AdamW { weight_decay: wd, ..AdamW::default() };
        let mut values = vec![vec![1.0]];
        let mut state = AdamState::new(&[1]);
        let mut got = Vec::new();
        for _ in 0..3 {
            let grads = vec![vec![2.0 * values[0][0]]];
            opt.step(&mut state, &mut values, &grads, lr, &[true]);
            got.push(values[0][0]);
        }
        // t = 1
        let g1 = 2.0 * 1.0;
        let m1 = (1.0 - b1) * g1;
        let v1 = (1.0 - b2) * g1 * g1;
        let t1 = 1.0 * (1.0 - lr * wd) - lr / (1.0 - b1) * m1 / (v1.sqrt() / (1.0 - b2).sqrt() + eps);
        // t = 2
        let g2 = 2.0 * t1;
        let m2 = b1 * m1 + (1.0 - b1) * g2;
        let v2 = b2 * v1 + (1.0 - b2) * g2 * g2;
        let t2 =
            t1 * (1.0 - lr * wd) - lr / (1.0 - b1 * b1) * m2 / (v2.sqrt() / (1.0 - b2 * b2).sqrt() + eps);
        // t = 3
        let g3 = 2.0 * t2;
        let m3 = b1 * m2 + (1.0 - b1) * g3;
        let v3 = b2 * v2 + (1.0 - b2) * g3 * g3;
        let t3 = t2 * (1.0 - lr * wd)
            - lr / (1.0 - b1 * b1 * b1) * m3 / (v3.sqrt() / (1.0 - b2 * b2 * b2).sqrt() + eps);
        let literal = [0.989_000_000_05, 0.978_014_036_068_985_5, 0.967_044_152_345_476_8];
        for (k, want) in [t1, t2, t3].into_iter().enumerate() {
            assert!(close(got[k], want), "step {}: {} vs {want}", k + 1, got[k]);
            assert!((got[k] - literal[k]).abs() < 1e-12, "step {}: {} vs {}", k + 1, got[k], literal[k]);
        }
        assert_eq!(state.step, 3);
        assert!(close(state.m[0][0], m3) && close(state.v[0][0], v3));
    }

    #[test]
    fn decay_mask_is_respected_with_zero_gradients() {
        let opt = AdamW { weight_decay: 0.5, ..AdamW::default() };
        let mut values = vec![vec![2.0, -4.0], vec![3.0]];
        let mut state = AdamState::new(&[2, 1]);
        opt.step(&mut state, &mut values, &[vec![0.0; 2], vec![0.0]], 0.1, &[true, false]);
        assert_eq!(values, vec![vec![2.0 * 0.95, -4.0 * 0.95], vec![3.0]]);
        opt.step(&mut state, &mut values, &[vec![0.0; 2], vec![0.0]], 0.1, &[false, true]);
        assert_eq!(values, vec![vec![2.0 * 0.95, -4.0 * 0.95], vec![3.0 * 0.95]]);
    }

    #[test]
    fn minimises_a_convex_quadratic() {
        // f(θ) = Σ a_i (θ_i − c_i)² / 2, badly conditioned, from θ = 0.
        let a = [1.0, 10.0, 0.1, 3.0, 0.5];
        let c = [1.0, -2.0, 0.5, 3.0, -0.7];
        let f = |t: &[f64]| {
            t.iter().zip(a.iter().zip(&c)).map(|(t, (a, c))| 0.5 * a * (t - c) * (t - c)).sum::<f64>()
        };
        let opt = AdamW { weight_decay: 0.0, ..AdamW::default() };
        let schedule = Schedule { base: 0.1, warmup: 20, total: 400, floor: 0.01 };
        let mut values = vec![vec![0.0; 5]];
        let mut state = AdamState::new(&[5]);
        let start = f(&values[0]);
        for step in 0..400 {
            let grads = vec![values[0].iter().zip(a.iter().zip(&c)).map(|(t, (a, c))| a * (t - c)).collect()];
            opt.step(&mut state, &mut values, &grads, schedule.lr(step), &[true]);
        }
        let end = f(&values[0]);
        assert!(end < 1e-6 * start, "loss {start} → {end}");
        for (t, c) in values[0].iter().zip(&c) {
            assert!((t - c).abs() < 1e-2, "θ = {:?}", values[0]);
        }
    }

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let s = Schedule { base: 1e-3, warmup: 100, total: 1000, floor: 0.1 };
        assert_eq!(s.lr(0), 0.0);
        assert!(close(s.lr(50), 0.5e-3));
        assert_eq!(s.lr(100), 1e-3);
        assert!(close(s.lr(550), 1e-3 * (0.1 + 0.9 * 0.5)));
        assert!(close(s.lr(1000), 1e-4) && close(s.lr(5000), 1e-4));
        for step in 1..=100 {
            assert!(s.lr(step) > s.lr(step - 1), "warm-up not increasing at {step}");
        }
        for step in 101..=1000 {
            assert!(s.lr(step) < s.lr(step - 1), "not decreasing at {step}");
        }
        assert_eq!(s.lr(1001), s.lr(1000));
        let flat = Schedule { warmup: 0, ..s };
        assert_eq!(flat.lr(0), 1e-3);
    }
}
