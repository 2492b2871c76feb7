//! Classification losses over a vector of logits.

/// log-softmax computed stably (max subtracted; never log of a probability):
/// `x − (max + ln Σ exp(x − max))`.
pub fn log_softmax(logits: &[f64]) -> Vec<f64> {
    assert!(!logits.is_empty(), "log_softmax: logits must not be empty");
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logits.iter().map(|&z| (z - max).exp()).sum::<f64>().ln();
    logits.iter().map(|&z| z - lse).collect()
}

/// (−log_softmax[label], d loss/d logits = softmax − onehot).
pub fn cross_entropy(logits: &[f64], label: usize) -> (f64, Vec<f64>) {
    assert!(label < logits.len(), "cross_entropy: label {label} out of {} classes", logits.len());
    let mut grad = log_softmax(logits);
    let loss = -grad[label];
    for g in &mut grad {
        *g = g.exp();
    }
    grad[label] -= 1.0;
    (loss, grad)
}

/// The index of the largest entry (the first one on ties; NaNs are never chosen over numbers).
pub fn argmax(x: &[f64]) -> usize {
    assert!(!x.is_empty(), "argmax: x must not be empty");
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] || x[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fd;

    #[test]
    fn cross_entropy_gradient_matches_finite_differences_and_sums_to_zero() {
        for seed in 0..20 {
            let r = &mut fd::rng(500 + seed);
            let classes = fd::size(r, 2, 9);
            let label = fd::size(r, 0, classes - 1);
            let logits: Vec<f64> = fd::randn(r, classes).iter().map(|v| 3.0 * v).collect();
            let (loss, grad) = cross_entropy(&logits, label);
            assert!(loss > 0.0);
            assert!(grad.iter().sum::<f64>().abs() < 1e-14, "gradient sums to {}", grad.iter().sum::<f64>());
            fd::check("cross_entropy dlogits", &logits, &grad, |z| cross_entropy(z, label).0);
        }
    }

    #[test]
    fn log_softmax_is_stable_for_extreme_logits() {
        let ls = log_softmax(&[1000.0, -1000.0, 0.0]);
        assert!(ls.iter().all(|v| v.is_finite()), "{ls:?}");
        assert!(ls[0].abs() < 1e-300 && ls[1] == -2000.0 && ls[2] == -1000.0, "{ls:?}");
        let (loss, grad) = cross_entropy(&[1000.0, -1000.0, 0.0], 1);
        assert_eq!(loss, 2000.0);
        assert_eq!(grad, vec![1.0, -1.0, 0.0]);
        assert_eq!(cross_entropy(&[1000.0, -1000.0, 0.0], 0).0, 0.0);
    }

    #[test]
    fn log_softmax_matches_the_definition() {
        let z = [0.5f64, -1.0, 2.0, 0.0];
        let total: f64 = z.iter().map(|v| v.exp()).sum();
        for (a, v) in log_softmax(&z).iter().zip(z) {
            assert!((a - (v.exp() / total).ln()).abs() < 1e-14);
        }
        assert!((log_softmax(&z).iter().map(|v| v.exp()).sum::<f64>() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn argmax_picks_the_first_largest() {
        assert_eq!(argmax(&[0.1, 3.0, -2.0, 3.0]), 1);
        assert_eq!(argmax(&[-5.0]), 0);
        assert_eq!(argmax(&[f64::NAN, -1.0, 2.0]), 2);
    }
}
