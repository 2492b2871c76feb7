//! Test helpers: seeded random data and central finite-difference gradient checks.

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// The largest relative error a backward may show against finite differences.
pub const TOL: f64 = 1e-6;

/// A seeded generator.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` standard-normal values.
pub fn randn(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| StandardNormal.sample(rng)).collect()
}

/// A random size in `lo..=hi`.
pub fn size(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    rng.random_range(lo..=hi)
}

/// `Σ a ⊙ b`: the scalar objective whose gradient with respect to `b` is `a`.
pub fn sum_prod(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

/// `∇f(x)` by fourth-order central differences with step `h = 1e-4·max(1, |x_i|)`:
/// truncation O(h⁴), rounding ~1e-12 for O(1) objectives.
pub fn numeric_grad(x: &[f64], f: impl Fn(&[f64]) -> f64) -> Vec<f64> {
    let mut xp = x.to_vec();
    (0..x.len())
        .map(|i| {
            let h = 1e-4 * x[i].abs().max(1.0);
            let mut at = |d: f64| {
                xp[i] = x[i] + d;
                let v = f(&xp);
                xp[i] = x[i];
                v
            };
            (at(-2.0 * h) - 8.0 * at(-h) + 8.0 * at(h) - at(2.0 * h)) / (12.0 * h)
        })
        .collect()
}

/// Largest per-entry relative error `|a − n| / max(|a|, |n|, floor)`: an entry with |a| and |n|
/// both below `floor` counts its absolute error divided by `floor`.
pub fn rel_err(analytic: &[f64], numeric: &[f64], floor: f64) -> f64 {
    assert_eq!(analytic.len(), numeric.len(), "gradient lengths differ");
    analytic
        .iter()
        .zip(numeric)
        .map(|(a, n)| (a - n).abs() / a.abs().max(n.abs()).max(floor))
        .fold(0.0, f64::max)
}

/// Panics unless `analytic` matches the finite-difference gradient of `f` at `x` within [`TOL`].
/// The differences carry rounding noise ~2e-12·|f(x)|, so a relative error of 1e-6 is
/// resolvable only for entries above ~1e-5·|f(x)|: smaller entries must agree to
/// `TOL · 1e-5 · max(1, |f(x)|)` in absolute terms.
pub fn check(name: &str, x: &[f64], analytic: &[f64], f: impl Fn(&[f64]) -> f64) {
    let floor = 1e-5 * f(x).abs().max(1.0);
    let numeric = numeric_grad(x, f);
    let err = rel_err(analytic, &numeric, floor);
    assert!(
        err < TOL,
        "{name}: relative error {err:.3e} ≥ {TOL:.0e}\n analytic {analytic:?}\n numeric  {numeric:?}"
    );
}

fn x_sin_x(x: &[f64]) -> f64 {
    x.iter().map(|v| v.sin() * v).sum()
}

#[test]
fn check_accepts_the_right_gradient() {
    let x = randn(&mut rng(1), 7);
    let right: Vec<f64> = x.iter().map(|v| v.sin() + v * v.cos()).collect();
    check("x sin x", &x, &right, x_sin_x);
}

#[test]
#[should_panic(expected = "relative error")]
fn check_rejects_a_gradient_off_by_1e_5() {
    let x = randn(&mut rng(1), 7);
    let mut wrong: Vec<f64> = x.iter().map(|v| v.sin() + v * v.cos()).collect();
    wrong[3] *= 1.0 + 1e-5;
    check("x sin x, one entry off", &x, &wrong, x_sin_x);
}
