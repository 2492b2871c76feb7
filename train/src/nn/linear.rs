//! Affine maps `y = x Wᵀ + b` over the rows of a sequence, with `W` stored `[out, in]`. The
//! products are `matrixmultiply`'s `dgemm` (blocked, vectorised for the host at run time,
//! one thread: the batch is already spread over the threads).

use rand::{Rng, RngExt};

/// `y = x Wᵀ + b` for `x` of shape `[rows, in]`, `w` of shape `[out, in]` and `b` of length
/// `out`; returns `y` of shape `[rows, out]`.
pub fn forward(x: &[f64], rows: usize, w: &[f64], b: &[f64], out: usize) -> Vec<f64> {
    let inputs = in_width(x, rows, w, out);
    assert_eq!(b.len(), out, "linear: b must have length out");
    let mut y: Vec<f64> = (0..rows).flat_map(|_| b.iter().copied()).collect();
    // y[rows, out] += x[rows, in] · Wᵀ, Wᵀ[k, n] = w[n in + k].
    gemm(rows, inputs, out, (x, inputs, 1), (w, 1, inputs), &mut y, out);
    y
}

/// `c[m, n] += a[m, k] · b[k, n]`, each of `a` and `b` given with its row and column strides
/// (in elements), `c` row-major with `n` columns.
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: (&[f64], usize, usize),
    b: (&[f64], usize, usize),
    c: &mut [f64],
    cs: usize,
) {
    let ((a, rsa, csa), (b, rsb, csb)) = (a, b);
    if m == 0 || n == 0 {
        return;
    }
    assert!(c.len() >= m * n && a.len() >= m * k && b.len() >= k * n, "gemm: shapes");
    let stride = |s: usize| s as isize;
    // SAFETY: every index the strides reach is below the lengths asserted above: a's
    // (m-1) rsa + (k-1) csa < m k for the two layouts used, likewise b's and c's.
    unsafe {
        matrixmultiply::dgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            stride(rsa),
            stride(csa),
            b.as_ptr(),
            stride(rsb),
            stride(csb),
            1.0,
            c.as_mut_ptr(),
            stride(cs),
            1,
        );
    }
}

/// Backward of [`forward`]: adds `dyᵀ x` into `dw` (`[out, in]`) and the column sums of `dy`
/// into `db` (`[out]`), and returns `dx = dy W` (`[rows, in]`).
pub fn backward(
    x: &[f64],
    rows: usize,
    w: &[f64],
    out: usize,
    dy: &[f64],
    dw: &mut [f64],
    db: &mut [f64],
) -> Vec<f64> {
    let inputs = in_width(x, rows, w, out);
    assert_eq!(dy.len(), rows * out, "linear: dy must be [rows, out]");
    assert_eq!(dw.len(), w.len(), "linear: dw must be [out, in]");
    assert_eq!(db.len(), out, "linear: db must have length out");
    let mut dx = vec![0.0; rows * inputs];
    // dx[rows, in] = dy[rows, out] · W[out, in].
    gemm(rows, out, inputs, (dy, out, 1), (w, inputs, 1), &mut dx, inputs);
    // dw[out, in] += dyᵀ[out, rows] · x[rows, in].
    gemm(out, rows, inputs, (dy, 1, out), (x, inputs, 1), dw, inputs);
    for dyr in dy.chunks_exact(out) {
        for (d, g) in db.iter_mut().zip(dyr) {
            *d += g;
        }
    }
    dx
}

/// PyTorch/Equinox default: W and b uniform on ±1/sqrt(in). Returns `(w, b)` with `w` of
/// shape `[outputs, inputs]` and `b` of length `outputs`.
pub fn init(inputs: usize, outputs: usize, rng: &mut impl Rng) -> (Vec<f64>, Vec<f64>) {
    assert!(inputs > 0, "linear: inputs must be positive");
    let k = 1.0 / (inputs as f64).sqrt();
    let mut draw = |n: usize| -> Vec<f64> { (0..n).map(|_| k * (2.0 * rng.random::<f64>() - 1.0)).collect() };
    let w = draw(outputs * inputs);
    let b = draw(outputs);
    (w, b)
}

/// The input width `in` (positive), after checking the shapes of `x` and `w`.
fn in_width(x: &[f64], rows: usize, w: &[f64], out: usize) -> usize {
    assert!(
        out > 0 && w.len().is_multiple_of(out) && !w.is_empty(),
        "linear: w must be [out, in], out and in positive"
    );
    let inputs = w.len() / out;
    assert_eq!(x.len(), rows * inputs, "linear: x must be [rows, in]");
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::fd;

    #[test]
    fn backward_matches_finite_differences() {
        for seed in 0..20 {
            let r = &mut fd::rng(seed);
            let (rows, inputs, out) = (fd::size(r, 1, 5), fd::size(r, 1, 6), fd::size(r, 1, 6));
            let (x, w, b, dy) = (
                fd::randn(r, rows * inputs),
                fd::randn(r, out * inputs),
                fd::randn(r, out),
                fd::randn(r, rows * out),
            );
            let (mut dw, mut db) = (vec![0.0; w.len()], vec![0.0; out]);
            let dx = backward(&x, rows, &w, out, &dy, &mut dw, &mut db);
            fd::check("linear dx", &x, &dx, |x| fd::sum_prod(&dy, &forward(x, rows, &w, &b, out)));
            fd::check("linear dw", &w, &dw, |w| fd::sum_prod(&dy, &forward(&x, rows, w, &b, out)));
            fd::check("linear db", &b, &db, |b| fd::sum_prod(&dy, &forward(&x, rows, &w, b, out)));
        }
    }

    #[test]
    fn forward_is_x_w_transpose_plus_b_and_backward_accumulates() {
        // x = [[1, 2]], W = [[1, 0], [3, -1], [0.5, 0.5]], b = [0, 1, -1].
        let (x, w, b) = ([1.0, 2.0], [1.0, 0.0, 3.0, -1.0, 0.5, 0.5], [0.0, 1.0, -1.0]);
        assert_eq!(forward(&x, 1, &w, &b, 3), vec![1.0, 2.0, 0.5]);
        let dy = [1.0, -1.0, 2.0];
        let (mut dw, mut db) = (vec![1.0; 6], vec![1.0; 3]);
        let dx = backward(&x, 1, &w, 3, &dy, &mut dw, &mut db);
        assert_eq!(dx, vec![1.0 - 3.0 + 1.0, 0.0 + 1.0 + 1.0]);
        assert_eq!(dw, vec![2.0, 3.0, 0.0, -1.0, 3.0, 5.0]);
        assert_eq!(db, vec![2.0, 0.0, 3.0]);
    }

    #[test]
    fn init_is_uniform_on_plus_minus_one_over_sqrt_in() {
        let (w, b) = init(16, 300, &mut fd::rng(3));
        assert_eq!((w.len(), b.len()), (4800, 300));
        assert!(w.iter().chain(&b).all(|v| v.abs() <= 0.25));
        let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mean_sq = w.iter().map(|v| v * v).sum::<f64>() / w.len() as f64;
        assert!(max > 0.24, "max {max}");
        assert!((mean_sq - 0.25 * 0.25 / 3.0).abs() < 1e-3, "mean square {mean_sq}"); // U(−k, k): k²/3
    }
}
