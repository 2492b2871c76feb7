//! Small, exact CPU neural-network layers (f64, forward and backward by hand) and the
//! optimizer used to train stacked Hamiltonian state-space models.
//!
//! Conventions: a sequence's activations are row-major `[rows, width]` slices (rows are time
//! steps); a linear map's weight is `[out, in]` row-major and `y = x Wᵀ + b`. A `backward`
//! takes the forward's inputs (or the cache its forward returned) and the output cotangent
//! `dy`, ADDS parameter gradients into the slices it is given, and returns the input cotangent.
//!
//! - [`linear`]: affine maps and their PyTorch-style initialisation.
//! - [`layer_norm`]: per-row layer normalisation with gain and bias.
//! - [`activation`]: GELU (tanh approximation) and a stable sigmoid.
//! - [`glu`]: gated linear unit, `(x W1ᵀ + b1) ⊙ sigmoid(x W2ᵀ + b2)`.
//! - [`dropout`]: inverted-dropout masks.
//! - [`pool`]: mean pooling over the rows of a sequence.
//! - [`loss`]: log-softmax, cross-entropy and argmax over class logits.
//! - [`optim`]: AdamW (as PyTorch's) and a warm-up + cosine learning-rate schedule.

pub mod activation;
pub mod dropout;
pub mod glu;
pub mod layer_norm;
pub mod linear;
pub mod loss;
pub mod optim;
pub mod pool;

#[cfg(test)]
mod fd;

#[cfg(test)]
mod tests {
    use super::*;

    /// Tensors of the composite, in order: the input and every parameter.
    const NAMES: [&str; 11] =
        ["x", "ln_gain", "ln_bias", "w1", "b1", "glu_w1", "glu_b1", "glu_w2", "glu_b2", "w_out", "b_out"];

    /// Sequence length, hidden width, GLU width, classes, and the label.
    struct Shapes {
        rows: usize,
        h: usize,
        k: usize,
        classes: usize,
        label: usize,
    }

    /// layer_norm → linear → gelu → dropout(mask) → glu → mean pool → linear → cross_entropy:
    /// the loss and the gradients of every tensor in `t` (same order).
    fn loss_and_grads(s: &Shapes, t: &[Vec<f64>], mask: &[f64]) -> (f64, Vec<Vec<f64>>) {
        let (x, g, bn, w1, b1, gw1, gb1, gw2, gb2, wo, bo) =
            (&t[0], &t[1], &t[2], &t[3], &t[4], &t[5], &t[6], &t[7], &t[8], &t[9], &t[10]);
        let (n, ln) = layer_norm::forward(x, s.rows, g, bn);
        let z = linear::forward(&n, s.rows, w1, b1, s.h);
        let a = activation::gelu(&z);
        let dr = dropout::apply(&a, mask);
        let (u, gc) = glu::forward(&dr, s.rows, gw1, gb1, gw2, gb2, s.k);
        let p = pool::mean(&u, s.rows);
        let logits = linear::forward(&p, 1, wo, bo, s.classes);
        let (loss, dlogits) = loss::cross_entropy(&logits, s.label);

        let mut d: Vec<Vec<f64>> = t.iter().map(|v| vec![0.0; v.len()]).collect();
        let [_, dg, dbn, dw1, db1, dgw1, dgb1, dgw2, dgb2, dwo, dbo, ..] = &mut d[..] else { unreachable!() };
        let dp = linear::backward(&p, 1, wo, s.classes, &dlogits, dwo, dbo);
        let du = pool::mean_backward(&dp, s.rows);
        let ddr = glu::backward(&gc, &dr, gw1, gw2, &du, dgw1, dgb1, dgw2, dgb2);
        let da = dropout::apply(&ddr, mask);
        let dz = activation::gelu_backward(&z, &da);
        let dn = linear::backward(&n, s.rows, w1, s.h, &dz, dw1, db1);
        d[0] = layer_norm::backward(&ln, g, &dn, dg, dbn);
        (loss, d)
    }

    #[test]
    fn composite_backward_matches_finite_differences_end_to_end() {
        let mut dropped = 0;
        for seed in 0..10 {
            let r = &mut fd::rng(900 + seed);
            let (rows, d, h, k, classes) = (
                fd::size(r, 1, 5),
                fd::size(r, 2, 5),
                fd::size(r, 1, 6),
                fd::size(r, 1, 5),
                fd::size(r, 2, 5),
            );
            let s = Shapes { rows, h, k, classes, label: fd::size(r, 0, classes - 1) };
            // Inputs and LayerNorm parameters standard normal, linear maps at their default init
            // (so logits stay O(1) and the loss is not saturated).
            let (x, ln_gain, ln_bias) = (fd::randn(r, rows * d), fd::randn(r, d), fd::randn(r, d));
            let (w1, b1) = linear::init(d, h, r);
            let (gw1, gb1) = linear::init(h, k, r);
            let (gw2, gb2) = linear::init(h, k, r);
            let (wo, bo) = linear::init(k, classes, r);
            let t = vec![x, ln_gain, ln_bias, w1, b1, gw1, gb1, gw2, gb2, wo, bo];
            let mask = dropout::mask(rows * h, 0.3, r);
            dropped += mask.iter().filter(|&&m| m == 0.0).count();
            let (loss, grads) = loss_and_grads(&s, &t, &mask);
            assert!(loss.is_finite() && loss > 0.0);
            for i in 0..t.len() {
                fd::check(&format!("composite d{}", NAMES[i]), &t[i], &grads[i], |v| {
                    let mut q = t.clone();
                    q[i] = v.to_vec();
                    loss_and_grads(&s, &q, &mask).0
                });
            }
        }
        assert!(dropped > 0, "the masks should drop some entries");
    }
}
