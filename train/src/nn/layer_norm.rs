//! Layer normalisation over the last axis (each row of `[rows, width]`), as PyTorch's
//! `nn.LayerNorm(width)` with `eps = 1e-5`.

/// The `eps` added to the variance.
pub const EPS: f64 = 1e-5;

/// What [`backward`] needs from [`forward`].
#[derive(Clone, Debug)]
pub struct Cache {
    /// The normalised input `(x − mean)/sqrt(var + eps)`, `[rows, width]`.
    pub xhat: Vec<f64>,
    /// `1/sqrt(var + eps)` per row.
    pub inv_std: Vec<f64>,
}

/// Per row over `width` values: (x − mean)/sqrt(var + 1e-5) · gain + bias (biased variance, as
/// PyTorch). `width` is `gain.len()`; returns `y` (`[rows, width]`) and the cache.
pub fn forward(x: &[f64], rows: usize, gain: &[f64], bias: &[f64]) -> (Vec<f64>, Cache) {
    let width = gain.len();
    assert!(width > 0, "layer_norm: width must be positive");
    assert_eq!(bias.len(), width, "layer_norm: bias must match gain");
    assert_eq!(x.len(), rows * width, "layer_norm: x must be [rows, width]");
    let n = width as f64;
    let mut y = Vec::with_capacity(x.len());
    let mut xhat = Vec::with_capacity(x.len());
    let mut inv_std = Vec::with_capacity(rows);
    for xr in x.chunks_exact(width) {
        let mean = xr.iter().sum::<f64>() / n;
        let var = xr.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let r = 1.0 / (var + EPS).sqrt();
        inv_std.push(r);
        for ((&v, &g), &b) in xr.iter().zip(gain).zip(bias) {
            let h = (v - mean) * r;
            xhat.push(h);
            y.push(h * g + b);
        }
    }
    (y, Cache { xhat, inv_std })
}

/// Backward of [`forward`]: adds `Σ_rows dy ⊙ xhat` into `dgain` and `Σ_rows dy` into `dbias`,
/// and returns `dx = inv_std · (g − mean(g) − xhat · mean(g ⊙ xhat))` with `g = dy ⊙ gain`.
pub fn backward(cache: &Cache, gain: &[f64], dy: &[f64], dgain: &mut [f64], dbias: &mut [f64]) -> Vec<f64> {
    let width = gain.len();
    assert_eq!(dy.len(), cache.xhat.len(), "layer_norm: dy must be [rows, width]");
    assert_eq!(dgain.len(), width, "layer_norm: dgain must match gain");
    assert_eq!(dbias.len(), width, "layer_norm: dbias must match gain");
    let n = width as f64;
    let mut dx = Vec::with_capacity(dy.len());
    for ((hr, dyr), &r) in cache.xhat.chunks_exact(width).zip(dy.chunks_exact(width)).zip(&cache.inv_std) {
        let (mut mean_g, mut mean_gh) = (0.0, 0.0);
        for j in 0..width {
            let g = dyr[j] * gain[j];
            mean_g += g;
            mean_gh += g * hr[j];
            dgain[j] += dyr[j] * hr[j];
            dbias[j] += dyr[j];
        }
        mean_g /= n;
        mean_gh /= n;
        for j in 0..width {
            dx.push(r * (dyr[j] * gain[j] - mean_g - hr[j] * mean_gh));
        }
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
            let r = &mut fd::rng(100 + seed);
            let (rows, width) = (fd::size(r, 1, 5), fd::size(r, 2, 7));
            let (x, gain, bias, dy) = (
                fd::randn(r, rows * width),
                fd::randn(r, width),
                fd::randn(r, width),
                fd::randn(r, rows * width),
            );
            let (_, cache) = forward(&x, rows, &gain, &bias);
            let (mut dg, mut db) = (vec![0.0; width], vec![0.0; width]);
            let dx = backward(&cache, &gain, &dy, &mut dg, &mut db);
            let obj = |x: &[f64], g: &[f64], b: &[f64]| fd::sum_prod(&dy, &forward(x, rows, g, b).0);
            fd::check("layer_norm dx", &x, &dx, |x| obj(x, &gain, &bias));
            fd::check("layer_norm dgain", &gain, &dg, |g| obj(&x, g, &bias));
            fd::check("layer_norm dbias", &bias, &db, |b| obj(&x, &gain, b));
        }
    }

    #[test]
    fn rows_are_normalised_with_biased_variance() {
        // Row [1, 2, 3, 6]: mean 3, biased variance (4 + 1 + 0 + 9)/4 = 3.5.
        let (y, _) = forward(&[1.0, 2.0, 3.0, 6.0], 1, &[1.0; 4], &[0.0; 4]);
        let s = (3.5f64 + 1e-5).sqrt();
        let want = [-2.0 / s, -1.0 / s, 0.0, 3.0 / s];
        assert!(y.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-15), "{y:?}");
        let (y, _) = forward(&[1.0, 2.0, 3.0, 6.0], 1, &[2.0; 4], &[0.5; 4]);
        assert!((y[3] - (2.0 * 3.0 / s + 0.5)).abs() < 1e-15);
    }
}
