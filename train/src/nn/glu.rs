//! Gated linear unit: two linear maps of the same input, one gating the other.

use super::{activation::sigmoid, linear};

/// What [`backward`] needs from [`forward`] (besides the input and weights).
#[derive(Clone, Debug)]
pub struct Cache {
    /// Rows of the input.
    pub rows: usize,
    /// Output width.
    pub out: usize,
    /// The value branch `x W1ᵀ + b1`, `[rows, out]`.
    pub value: Vec<f64>,
    /// The gate `sigmoid(x W2ᵀ + b2)`, `[rows, out]`.
    pub gate: Vec<f64>,
}

/// y = (x W1ᵀ + b1) ⊙ sigmoid(x W2ᵀ + b2), for `x` `[rows, in]`, `w1` and `w2` `[out, in]`,
/// `b1` and `b2` `[out]`; returns `y` (`[rows, out]`) and the cache.
pub fn forward(
    x: &[f64],
    rows: usize,
    w1: &[f64],
    b1: &[f64],
    w2: &[f64],
    b2: &[f64],
    out: usize,
) -> (Vec<f64>, Cache) {
    let value = linear::forward(x, rows, w1, b1, out);
    let mut gate = linear::forward(x, rows, w2, b2, out);
    for g in &mut gate {
        *g = sigmoid(*g);
    }
    let y = value.iter().zip(&gate).map(|(v, g)| v * g).collect();
    (y, Cache { rows, out, value, gate })
}

/// Backward of [`forward`]: adds the gradients of `w1`, `b1`, `w2`, `b2` into `dw1`, `db1`,
/// `dw2`, `db2`, and returns `dx`.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    cache: &Cache,
    x: &[f64],
    w1: &[f64],
    w2: &[f64],
    dy: &[f64],
    dw1: &mut [f64],
    db1: &mut [f64],
    dw2: &mut [f64],
    db2: &mut [f64],
) -> Vec<f64> {
    assert_eq!(dy.len(), cache.value.len(), "glu: dy must be [rows, out]");
    let mut dvalue = Vec::with_capacity(dy.len());
    let mut dpre = Vec::with_capacity(dy.len());
    for ((&g, &v), &s) in dy.iter().zip(&cache.value).zip(&cache.gate) {
        dvalue.push(g * s);
        dpre.push(g * v * s * (1.0 - s));
    }
    let mut dx = linear::backward(x, cache.rows, w1, cache.out, &dvalue, dw1, db1);
    let dx2 = linear::backward(x, cache.rows, w2, cache.out, &dpre, dw2, db2);
    for (a, b) in dx.iter_mut().zip(&dx2) {
        *a += b;
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fd;

    #[test]
    fn backward_matches_finite_differences() {
        for seed in 0..20 {
            let r = &mut fd::rng(300 + seed);
            let (rows, inputs, out) = (fd::size(r, 1, 5), fd::size(r, 1, 6), fd::size(r, 1, 6));
            let x = fd::randn(r, rows * inputs);
            let (w1, b1, w2, b2) = (
                fd::randn(r, out * inputs),
                fd::randn(r, out),
                fd::randn(r, out * inputs),
                fd::randn(r, out),
            );
            let dy = fd::randn(r, rows * out);
            let (_, cache) = forward(&x, rows, &w1, &b1, &w2, &b2, out);
            let (mut dw1, mut db1, mut dw2, mut db2) =
                (vec![0.0; w1.len()], vec![0.0; out], vec![0.0; w2.len()], vec![0.0; out]);
            let dx = backward(&cache, &x, &w1, &w2, &dy, &mut dw1, &mut db1, &mut dw2, &mut db2);
            let obj = |x: &[f64], w1: &[f64], b1: &[f64], w2: &[f64], b2: &[f64]| {
                fd::sum_prod(&dy, &forward(x, rows, w1, b1, w2, b2, out).0)
            };
            fd::check("glu dx", &x, &dx, |x| obj(x, &w1, &b1, &w2, &b2));
            fd::check("glu dw1", &w1, &dw1, |w| obj(&x, w, &b1, &w2, &b2));
            fd::check("glu db1", &b1, &db1, |b| obj(&x, &w1, b, &w2, &b2));
            fd::check("glu dw2", &w2, &dw2, |w| obj(&x, &w1, &b1, w, &b2));
            fd::check("glu db2", &b2, &db2, |b| obj(&x, &w1, &b1, &w2, b));
        }
    }

    #[test]
    fn forward_gates_the_value_branch() {
        // in = 1, out = 2: value = [2x + 1, -x], gate = sigmoid([0·x + 0, x + 3]).
        let (y, _) = forward(&[1.0], 1, &[2.0, -1.0], &[1.0, 0.0], &[0.0, 1.0], &[0.0, 3.0], 2);
        assert_eq!(y[0], 3.0 * 0.5);
        assert!((y[1] - -1.0 / (1.0 + (-4.0f64).exp())).abs() < 1e-15);
    }
}
