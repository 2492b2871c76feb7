"""NonlinHRU (examples/nonlin_hru.ham): forward pass, RHEL gradient and BPTT in JAX on the CPU,
written as an expert would: the baseline benches/cpu/run.sh compares hsc's CPU kernels with.

Unlike ../cuda/jax_nonlin_hru.py (jax.grad of a logaddexp potential), the force and every
derivative RHEL reads are written out: dV/dq = alpha q + s tanh(W q + d), s = sigmoid(c),
d = B u_t + b. Arrays are laid out (T, batch, .), with the batch as a leading array axis of the
scan's carry (vmap over the sequences lowers to the same ops and timed the same, within noise,
for forward and BPTT on JAX 0.10.2, so the simpler form stays). The drive B u_t + b of
every step is one matmul before the scan, and RHEL's P x N work per step (the B gradient and the
per-step input gradients dL/du_t, which hsc's RHEL returns too) is two matmuls after it, so the
scans carry only the elementwise recurrence. The two echoes (+eps, -eps) are one array with a
leading axis of 2, the sign of eps (what vmap over the sign gives), nudged and accumulated as in
../../../shared/spec/rhel.md. BPTT is jax.grad of the forward loss with respect to the params and
the inputs. Loss L = sum_t g_t . q_t with random per-step cotangents g_t. jax.jit around each
pass, f32. The RHEL gradient is checked against BPTT before timing.

Run: python3 benches/cpu/jax_nonlin_hru.py [--steps 1000] [--batch 16] [--dt 0.05] [--eps 1e-3]
(run.sh pins it to one core and one thread). Prints one JSON line per pass; ns_per_element is
the median seconds of a whole batch / (batch * steps * P), hsc bench's unit.
"""
import argparse
import json
import os
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--P", type=int, default=64)
ap.add_argument("--N", type=int, default=16)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--steps", type=int, default=1000)
ap.add_argument("--dt", type=float, default=0.05)
ap.add_argument("--eps", type=float, default=1e-3)
ap.add_argument("--min-time", type=float, default=1.0)
args = ap.parse_args()
P, N, B, T, h, eps = args.P, args.N, args.batch, args.steps, args.dt, args.eps
f32 = jnp.float32


def drives(th, us):
    return us @ th["B"].T + th["b"]  # (T, batch, P)


def kick(q, p, d, th, s, sign=1.0):
    return p - sign * h / 2 * (th["alpha"] * q + s * jnp.tanh(th["W"] * q + d))


def forward(th, us, gs):
    """Loss summed over the batch and the final state (q, p), each (batch, P), from x_0 = 0."""
    s = jax.nn.sigmoid(th["c"])

    def step(carry, x):
        q, p, loss = carry
        d, g = x
        p = kick(q, p, d, th, s)
        q = q + h * p
        p = kick(q, p, d, th, s)
        return (q, p, loss + jnp.sum(g * q)), None

    zero = jnp.zeros((us.shape[1], P), f32)
    (q, p, loss), _ = jax.lax.scan(step, (zero, zero, f32(0)), (drives(th, us), gs))
    return loss, (q, p)


def rhel(th, us, gs):
    """Param gradients (summed over the batch), dL/du_t (T, batch, N), dL/dq_0, dL/dp_0, loss."""
    loss, (qT, pT) = forward(th, us, gs)
    s, W = jax.nn.sigmoid(th["c"]), th["W"]
    e = jnp.array([eps, -eps], f32)[:, None, None]  # the echo axis
    # Nudge after the echo step of input t >= 1 with g_t (row t - 1 of gs); g_T at the flip.
    nudges = jnp.concatenate([jnp.zeros((1,) + gs.shape[1:], f32), gs[:-1]])[::-1]

    def at_kick(q, d):  # tanh, and the echo differences of tanh*q, logcosh + log 2, q^2
        z = W * q + d
        a = jnp.abs(z)
        t = jnp.tanh(z)
        # logcosh z + log 2 = |z| - log1p(|tanh z|) = |z| - 2 atanh(r), r = |t|/(2 + |t|) in
        # [0, 1/3], by its odd series: XLA's exp and log1p are 3x slower here (not vectorised).
        r = jnp.abs(t) / (2 + jnp.abs(t))
        r2 = r * r
        series = 1 / 3 + r2 * (1 / 5 + r2 * (1 / 7 + r2 * (1 / 9 + r2 * (1 / 11 + r2 / 13))))
        lc = a - 2 * r * (1 + r2 * series)
        diff = lambda x: x[0] - x[1]
        return t, diff(t), diff(t * q), diff(lc), diff(q * q)

    def step(carry, x):
        q, p, tq, lc, qq = carry
        d, g = x
        t0, v0, tq0, lc0, qq0 = at_kick(q, d)
        p = p - h / 2 * (th["alpha"] * q + s * t0)
        q = q + h * p
        t1, v1, tq1, lc1, qq1 = at_kick(q, d)
        p = p - h / 2 * (th["alpha"] * q + s * t1) + e * g
        return (q, p, tq + tq0 + tq1, lc + lc0 + lc1, qq + qq0 + qq1), v0 + v1

    zero = jnp.zeros_like(qT)
    start = (jnp.stack([qT, qT]), -pT + e * gs[-1], zero, zero, zero)
    (q, p, tq, lc, qq), v = jax.lax.scan(step, start, (drives(th, us)[::-1], nudges))
    v = v[::-1]  # (T, batch, P): tanh differences of both kicks of the echo step of input t
    k = -h / 2 / (2 * eps)  # -(A(+eps) - A(-eps)) / (2 eps), tau = h/2 per kick
    sw = s / W
    grads = dict(W=k * s * (tq.sum(0) / W - lc.sum(0) / W**2), b=k * sw * v.sum((0, 1)),
                 c=k * s * (1 - s) / W * lc.sum(0), alpha=k * 0.5 * qq.sum(),
                 B=k * sw[:, None] * jnp.einsum("tbi,tbj->ij", v, us))
    du = k * (v * sw) @ th["B"]
    return grads, du, (p[0] - p[1]) / (2 * eps), (q[0] - q[1]) / (2 * eps), loss


bptt = jax.grad(lambda th, us, gs: forward(th, us, gs)[0], argnums=(0, 1))
passes = {"forward": jax.jit(forward), "rhel": jax.jit(rhel), "bptt": jax.jit(bptt)}

key = jax.random.split(jax.random.PRNGKey(0), 6)
th = dict(W=jax.random.uniform(key[0], (P,), f32, 0.5, 1.0), b=jnp.zeros(P, f32),
          c=jax.random.uniform(key[1], (P,), f32, -1, 1), alpha=jax.random.uniform(key[2], (), f32, 0.1, 1.0),
          B=jax.random.uniform(key[3], (P, N), f32, -0.25, 0.25))
us = jax.random.normal(key[4], (T, B, N), f32)
gs = jax.random.normal(key[5], (T, B, P), f32) / P

# RHEL against BPTT (both f32) on the first min(T, 1000) steps, max |diff| / max |bptt| per array.
# (At 10000 steps f32 rounding alone puts them some 1e-2 apart: the echo does not retrace exactly.)
Tc = min(T, 1000)
g_rhel, du_rhel = jax.jit(rhel)(th, us[:Tc], gs[:Tc])[:2]
g_bptt, du_bptt = jax.jit(bptt)(th, us[:Tc], gs[:Tc])
rel = lambda x, y: float(jnp.max(jnp.abs(x - y)) / jnp.max(jnp.abs(y)))
errors = {k: rel(g_rhel[k], g_bptt[k]) for k in th} | {"u": rel(du_rhel, du_bptt)}
print(f"RHEL vs BPTT, f32, {Tc} steps, eps {eps}:", " ".join(f"{k} {v:.1e}" for k, v in errors.items()), flush=True)
assert max(errors.values()) < 1e-2, "RHEL disagrees with BPTT: not timing"

for name, f in passes.items():
    jax.block_until_ready(f(th, us, gs))  # compile and warm up
    times, start = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < args.min_time:
        t = time.perf_counter()
        jax.block_until_ready(f(th, us, gs))
        times.append(time.perf_counter() - t)
    median = sorted(times)[len(times) // 2]
    print(json.dumps({"baseline": "jax", "pass": name, "P": P, "N": N, "batch": B, "steps": T, "dt": h,
                      "eps": eps, "runs": len(times), "seconds": median,
                      "ns_per_element": median * 1e9 / (B * T * P), "rhel_vs_bptt": max(errors.values()),
                      "jax": jax.__version__, "device": str(jax.devices()[0])}), flush=True)
