//! Elementwise activations.

/// `√(2/π)`.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation.
const GELU_CUBIC: f64 = 0.044_715;

/// tanh approximation, as jax.nn.gelu's default: 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))).
pub fn gelu(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| 0.5 * v * (1.0 + (SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)).tanh())).collect()
}

/// Backward of [`gelu`]: `dx = dy ⊙ gelu'(x)`.
pub fn gelu_backward(x: &[f64], dy: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), dy.len(), "gelu_backward: x and dy must have the same length");
    x.iter()
        .zip(dy)
        .map(|(&v, &g)| {
            let t = (SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)).tanh();
            let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * v * v);
            g * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du)
        })
        .collect()
}

/// The logistic function `1/(1 + e^(−x))`. Numerically stable for large |x|: it never
/// exponentiates a positive number, so it neither overflows nor returns NaN.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fd;

    #[test]
    fn gelu_backward_matches_finite_differences() {
        for seed in 0..10 {
            let r = &mut fd::rng(200 + seed);
            let n = fd::size(r, 1, 20);
            let x: Vec<f64> = fd::randn(r, n).iter().map(|v| 2.0 * v).collect();
            let dy = fd::randn(r, n);
            fd::check("gelu dx", &x, &gelu_backward(&x, &dy), |x| fd::sum_prod(&dy, &gelu(x)));
        }
    }

    #[test]
    fn gelu_is_the_tanh_approximation() {
        // jax.nn.gelu(1.0, approximate=True) = 0.8411919906082768; gelu(0) = 0; ≈ x for large x.
        let y = gelu(&[1.0, 0.0, -1.0, 10.0, -10.0]);
        assert!((y[0] - 0.841_191_990_608_276_8).abs() < 1e-15, "{}", y[0]);
        assert_eq!(y[1], 0.0);
        assert!((y[2] - (-1.0 + 0.841_191_990_608_276_8)).abs() < 1e-15);
        assert!((y[3] - 10.0).abs() < 1e-12 && y[4].abs() < 1e-12);
    }

    #[test]
    fn sigmoid_is_stable_and_symmetric() {
        assert_eq!(sigmoid(0.0), 0.5);
        assert_eq!(sigmoid(1000.0), 1.0);
        assert_eq!(sigmoid(-1000.0), 0.0);
        assert!(
            sigmoid(-800.0).is_finite() && sigmoid(f64::INFINITY) == 1.0 && sigmoid(f64::NEG_INFINITY) == 0.0
        );
        assert!((sigmoid(-745.0) - (-745.0f64).exp()).abs() <= 1e-320);
        for x in [0.1, 1.0, 3.0, 20.0] {
            assert!((sigmoid(x) + sigmoid(-x) - 1.0).abs() < 1e-15);
            assert!((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs() < 1e-15);
        }
    }
}
