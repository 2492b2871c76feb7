//! Mean pooling over the rows (time steps) of a sequence.

/// The mean over rows of `x` (`[rows, width]`, `width = x.len()/rows`); returns `[width]`.
pub fn mean(x: &[f64], rows: usize) -> Vec<f64> {
    assert!(rows > 0 && x.len().is_multiple_of(rows), "pool: x must be [rows, width] with rows > 0");
    let width = x.len() / rows;
    let mut y = vec![0.0; width];
    for xr in x.chunks_exact(width.max(1)) {
        for (a, b) in y.iter_mut().zip(xr) {
            *a += b;
        }
    }
    let scale = 1.0 / rows as f64;
    for a in &mut y {
        *a *= scale;
    }
    y
}

/// Backward of [`mean`]: every row of `dx` (`[rows, width]`) is `dy / rows`.
pub fn mean_backward(dy: &[f64], rows: usize) -> Vec<f64> {
    assert!(rows > 0, "pool: rows must be positive");
    let scale = 1.0 / rows as f64;
    let row: Vec<f64> = dy.iter().map(|g| g * scale).collect();
    row.repeat(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fd;

    #[test]
    fn mean_backward_matches_finite_differences() {
        for seed in 0..10 {
            let r = &mut fd::rng(400 + seed);
            let (rows, width) = (fd::size(r, 1, 6), fd::size(r, 1, 5));
            let (x, dy) = (fd::randn(r, rows * width), fd::randn(r, width));
            fd::check("pool dx", &x, &mean_backward(&dy, rows), |x| fd::sum_prod(&dy, &mean(x, rows)));
        }
    }

    #[test]
    fn mean_averages_rows() {
        assert_eq!(mean(&[1.0, 2.0, 3.0, 6.0, 5.0, 10.0], 3), vec![3.0, 6.0]);
        assert_eq!(mean_backward(&[3.0, 6.0], 3), vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0]);
    }
}
