//! Inverted dropout, as a mask that multiplies the activations.

use rand::{Rng, RngExt};

/// Inverted dropout: each entry 0 with probability p, else 1/(1−p); p = 0 gives all ones.
/// Apply with [`apply`]; backward is the same multiplication (`dx = apply(dy, mask)`).
/// `p` must lie in `[0, 1)`.
pub fn mask(len: usize, p: f64, rng: &mut impl Rng) -> Vec<f64> {
    assert!((0.0..1.0).contains(&p), "dropout: p must lie in [0, 1), got {p}");
    if p == 0.0 {
        return vec![1.0; len];
    }
    let keep = 1.0 / (1.0 - p);
    (0..len).map(|_| if rng.random::<f64>() < p { 0.0 } else { keep }).collect()
}

/// `x ⊙ mask`; also the backward (`dy ⊙ mask`).
pub fn apply(x: &[f64], mask: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), mask.len(), "dropout: x and mask must have the same length");
    x.iter().zip(mask).map(|(a, m)| a * m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fd;

    #[test]
    fn p_zero_is_identity() {
        let m = mask(50, 0.0, &mut fd::rng(0));
        assert!(m.iter().all(|&v| v == 1.0));
        let x = fd::randn(&mut fd::rng(1), 50);
        assert_eq!(apply(&x, &m), x);
    }

    #[test]
    fn keep_rate_and_mean_match_p() {
        let n = 100_000;
        for (seed, p) in [(10, 0.1), (11, 0.5), (12, 0.8)] {
            let m = mask(n, p, &mut fd::rng(seed));
            let kept = m.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
            let mean = m.iter().sum::<f64>() / n as f64;
            // Binomial standard deviation of the keep rate: sqrt(p(1−p)/n) ≤ 0.0016; allow 5σ.
            assert!((kept - (1.0 - p)).abs() < 0.008, "p = {p}: keep rate {kept}");
            assert!((mean - 1.0).abs() < 0.008 / (1.0 - p), "p = {p}: mean {mean}");
            assert!(m.iter().all(|&v| v == 0.0 || v == 1.0 / (1.0 - p)));
        }
    }

    #[test]
    fn apply_multiplies() {
        assert_eq!(apply(&[1.0, 2.0, 3.0], &[0.0, 2.0, 2.0]), vec![0.0, 4.0, 6.0]);
    }
}
