//! A hand-written, plain-Rust baseline of NonlinHRU (examples/nonlin_hru.ham): the forward
//! pass and the fused central RHEL gradient, written as a careful programmer would write them
//! by hand for this one model. It is what hsc's compiled kernels are benchmarked against, and
//! it computes the same discrete algorithm as hsc's `forward` and `echo` kernels:
//!
//! ```text
//! H = Σ_k ½ p_k² + Σ_k [ ½ α q_k² + s_k · logcosh(W_k q_k + d_k) / W_k ],
//!     s_k = sigmoid(c_k),  d_k = Σ_j B[k, j] u_j + b_k
//! ∂V/∂q_k = α q_k + s_k tanh(W_k q_k + d_k)
//! ```
//!
//! Leapfrog with `h = dt/2`: per step, kick `p -= h ∂V/∂q`, drift `q += dt p`, kick again.
//! Every oscillator sees only its own `q_k`, `p_k` and drive `d_k`, so a whole step
//! (kick, drift, kick, and the loss term `cot[t, k] q_k`) is one pass over `k`, and the drive
//! is computed once per step and oscillator and shared by both half kicks (and, in the echo,
//! by both nudged copies).
//!
//! The echo (hsc's `echo` kernel with `ε_a = +ε`, `ε_b = -ε`): start from `(q_T, -p_T)` in
//! both copies; for `t = T-1 .. 0`: nudge `p ± ε cot[t]`, then one leapfrog step with input
//! `u_t`, accumulating `h ∂V/∂θ` at the position where each half kick acts, for both copies.
//! The accumulated `A(+ε) - A(-ε)` is summed directly as differences (no cancellation of two
//! large sums), and the factors that do not change with time (`s_k / W_k`, `h`, `1/(2ε)`) are
//! applied once at the end:
//!
//! ```text
//! ∂V/∂W_k = s_k (q tanh(x) / W_k − logcosh(x) / W_k²)      ∂V/∂b_k = s_k tanh(x) / W_k
//! ∂V/∂c_k = s_k (1 − s_k) logcosh(x) / W_k                  ∂V/∂α   = ½ Σ_k q_k²
//! ∂V/∂B[k, l] = s_k tanh(x) / W_k · u_l
//! dL/dθ = −(A(+ε) − A(−ε)) / (2ε),  dL/dq_0 = (p̂(+ε) − p̂(−ε)) / (2ε),  dL/dp_0 = (q̂(+ε) − q̂(−ε)) / (2ε)
//! ```
//!
//! `logcosh` appears only in differences, so its constant `−ln 2` is dropped.
//! Generic over `f32` and `f64` through [`Real`]; no allocation inside the time loop.

use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

/// The floating-point operations the baseline needs.
pub trait Real:
    Copy
    + PartialOrd
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// ½.
    const HALF: Self;
    /// The nearest value of this type.
    fn from_f64(x: f64) -> Self;
    /// `tanh`, the standard library's.
    fn tanh(self) -> Self;
    /// `exp`.
    fn exp(self) -> Self;
    /// `ln(1 + x)`.
    fn ln_1p(self) -> Self;
    /// `|x|`.
    fn abs(self) -> Self;
}

macro_rules! real {
    ($t:ty) => {
        impl Real for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const HALF: Self = 0.5;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
        }
    };
}
real!(f32);
real!(f64);

/// The sizes: `p` oscillators, `n` input features.
pub struct Dims {
    pub p: usize,
    pub n: usize,
}

/// The params, as in the .ham file.
pub struct Params<R> {
    pub w: Vec<R>,
    pub b: Vec<R>,
    pub c: Vec<R>,
    pub alpha: R,
    /// `B`, `[P, N]` row-major.
    pub bmat: Vec<R>,
}

/// Gradients of the loss: every param, and the initial state.
pub struct Grads<R> {
    pub w: Vec<R>,
    pub b: Vec<R>,
    pub c: Vec<R>,
    pub alpha: R,
    pub bmat: Vec<R>,
    pub q0: Vec<R>,
    pub p0: Vec<R>,
}

/// `1 / (1 + exp(-x))`, without overflow.
#[inline(always)]
fn sigmoid<R: Real>(x: R) -> R {
    if x >= R::ZERO {
        R::ONE / (R::ONE + (-x).exp())
    } else {
        let e = x.exp();
        e / (R::ONE + e)
    }
}

/// `logcosh(x) + ln 2 = |x| + ln(1 + exp(-2|x|))`, without overflow.
#[inline(always)]
fn logcosh_ln2<R: Real>(x: R) -> R {
    let a = x.abs();
    a + (-(a + a)).exp().ln_1p()
}

/// `Σ a_i b_i` with four partial sums (independent chains the compiler can keep in SIMD
/// lanes; the order of a floating-point sum is otherwise fixed).
#[inline(always)]
fn dot<R: Real>(a: &[R], b: &[R]) -> R {
    let mut s = [R::ZERO; 4];
    let (ac, bc) = (a.chunks_exact(4), b.chunks_exact(4));
    let mut tail = R::ZERO;
    for (x, y) in ac.remainder().iter().zip(bc.remainder()) {
        tail += *x * *y;
    }
    for (x, y) in ac.zip(bc) {
        s[0] += x[0] * y[0];
        s[1] += x[1] * y[1];
        s[2] += x[2] * y[2];
        s[3] += x[3] * y[3];
    }
    ((s[0] + s[1]) + (s[2] + s[3])) + tail
}

fn check_shapes<R>(d: &Dims, prm: &Params<R>, u: &[R], cot: &[R], q: &[R], p: &[R]) -> usize {
    assert!(d.n > 0 && d.p > 0, "empty dims");
    let steps = u.len() / d.n;
    assert_eq!(u.len(), steps * d.n, "u is [T, N]");
    assert_eq!(cot.len(), steps * d.p, "cot is [T, P]");
    assert!(prm.w.len() == d.p && prm.b.len() == d.p && prm.c.len() == d.p, "W, b, c are [P]");
    assert_eq!(prm.bmat.len(), d.p * d.n, "B is [P, N]");
    assert!(q.len() == d.p && p.len() == d.p, "q, p are [P]");
    steps
}

/// One sequence: u [T, N], cot [T, P] (dL/dq_{t+1} per step t), initial q0, p0 [P]; returns
/// the loss sum_t cot[t]·q_{t+1} and leaves the final state in q, p.
pub fn forward<R: Real>(d: &Dims, prm: &Params<R>, dt: R, u: &[R], cot: &[R], q: &mut [R], p: &mut [R]) -> R {
    let steps = check_shapes(d, prm, u, cot, q, p);
    let (np, nn) = (d.p, d.n);
    let h = dt * R::HALF;
    let alpha = prm.alpha;
    let s: Vec<R> = prm.c.iter().map(|&c| sigmoid(c)).collect();
    let (w, b, bmat) = (&prm.w[..], &prm.b[..], &prm.bmat[..np * nn]);
    let (q, p) = (&mut q[..np], &mut p[..np]);
    let mut loss = R::ZERO;
    for t in 0..steps {
        let ut = &u[t * nn..(t + 1) * nn];
        let ct = &cot[t * np..(t + 1) * np];
        let mut step_loss = R::ZERO;
        for k in 0..np {
            let drive = dot(&bmat[k * nn..(k + 1) * nn], ut) + b[k];
            let (wk, sk) = (w[k], s[k]);
            let (mut qk, mut pk) = (q[k], p[k]);
            pk -= h * (alpha * qk + sk * (wk * qk + drive).tanh());
            qk += dt * pk;
            pk -= h * (alpha * qk + sk * (wk * qk + drive).tanh());
            q[k] = qk;
            p[k] = pk;
            step_loss += ct[k] * qk;
        }
        loss += step_loss;
    }
    loss
}

/// One sequence's gradients by the fused central RHEL echo pair at ±eps, starting from the
/// final state (q, p) that `forward` left. Adds nothing to existing state; returns fresh
/// Grads. (It does NOT include the input gradient dL/du.)
#[allow(clippy::too_many_arguments)]
pub fn rhel<R: Real>(
    d: &Dims,
    prm: &Params<R>,
    dt: R,
    eps: R,
    u: &[R],
    cot: &[R],
    q_final: &[R],
    p_final: &[R],
) -> Grads<R> {
    let steps = check_shapes(d, prm, u, cot, q_final, p_final);
    let (np, nn) = (d.p, d.n);
    let h = dt * R::HALF;
    let alpha = prm.alpha;
    let s: Vec<R> = prm.c.iter().map(|&c| sigmoid(c)).collect();
    let (w, b, bmat) = (&prm.w[..], &prm.b[..], &prm.bmat[..np * nn]);

    // The two echoes (a: +ε, b: −ε), from (q_T, −p_T).
    let mut qa = q_final[..np].to_vec();
    let mut qb = qa.clone();
    let mut pa: Vec<R> = p_final[..np].iter().map(|&x| -x).collect();
    let mut pb = pa.clone();
    // Σ over half kicks of the differences between the copies of tanh(x), q·tanh(x),
    // logcosh(x) (+ ln 2), q², and tanh(x)·u_l.
    let mut acc_th = vec![R::ZERO; np];
    let mut acc_qth = vec![R::ZERO; np];
    let mut acc_lc = vec![R::ZERO; np];
    let mut acc_q2 = R::ZERO;
    let mut acc_bmat = vec![R::ZERO; np * nn];

    for t in (0..steps).rev() {
        let ut = &u[t * nn..(t + 1) * nn];
        let ct = &cot[t * np..(t + 1) * np];
        let mut step_q2 = R::ZERO;
        for k in 0..np {
            let drive = dot(&bmat[k * nn..(k + 1) * nn], ut) + b[k];
            let (wk, sk) = (w[k], s[k]);
            let nudge = eps * ct[k];
            let (mut qak, mut qbk) = (qa[k], qb[k]);
            let (mut pak, mut pbk) = (pa[k] + nudge, pb[k] - nudge);

            // First half kick, at the start positions.
            let (xa, xb) = (wk * qak + drive, wk * qbk + drive);
            let (ta, tb) = (xa.tanh(), xb.tanh());
            let mut dth = ta - tb;
            let mut dqth = qak * ta - qbk * tb;
            let mut dlc = logcosh_ln2(xa) - logcosh_ln2(xb);
            let mut dq2 = (qak - qbk) * (qak + qbk);
            pak -= h * (alpha * qak + sk * ta);
            pbk -= h * (alpha * qbk + sk * tb);

            // Drift.
            qak += dt * pak;
            qbk += dt * pbk;

            // Second half kick, at the end positions.
            let (xa, xb) = (wk * qak + drive, wk * qbk + drive);
            let (ta, tb) = (xa.tanh(), xb.tanh());
            dth += ta - tb;
            dqth += qak * ta - qbk * tb;
            dlc += logcosh_ln2(xa) - logcosh_ln2(xb);
            dq2 += (qak - qbk) * (qak + qbk);
            pak -= h * (alpha * qak + sk * ta);
            pbk -= h * (alpha * qbk + sk * tb);

            qa[k] = qak;
            qb[k] = qbk;
            pa[k] = pak;
            pb[k] = pbk;
            acc_th[k] += dth;
            acc_qth[k] += dqth;
            acc_lc[k] += dlc;
            step_q2 += dq2;
            for (a, &ul) in acc_bmat[k * nn..(k + 1) * nn].iter_mut().zip(ut) {
                *a += dth * ul;
            }
        }
        acc_q2 += step_q2;
    }

    // dL/dθ = −h Σ(∂V/∂θ(a) − ∂V/∂θ(b)) / (2ε).
    let two_eps = eps + eps;
    let scale = -h / two_eps;
    let mut gw = vec![R::ZERO; np];
    let mut gb = vec![R::ZERO; np];
    let mut gc = vec![R::ZERO; np];
    let mut gbmat = acc_bmat;
    for k in 0..np {
        let (sk, wk) = (s[k], w[k]);
        let s_w = sk / wk;
        let f = scale * s_w;
        gb[k] = f * acc_th[k];
        gw[k] = f * (acc_qth[k] - acc_lc[k] / wk);
        gc[k] = f * (R::ONE - sk) * acc_lc[k];
        for g in &mut gbmat[k * nn..(k + 1) * nn] {
            *g *= f;
        }
    }
    let ga = scale * R::HALF * acc_q2;
    let q0 = pa.iter().zip(&pb).map(|(&x, &y)| (x - y) / two_eps).collect();
    let p0 = qa.iter().zip(&qb).map(|(&x, &y)| (x - y) / two_eps).collect();
    Grads { w: gw, b: gb, c: gc, alpha: ga, bmat: gbmat, q0, p0 }
}
