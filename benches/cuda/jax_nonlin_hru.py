"""NonlinHRU's forward pass and RHEL gradient in JAX: the baseline `hsc bench --backends cuda`
is compared with on the same GPU (scripts/gpu_bench.sh runs both).

This is the code a user would write: the model's potential V as a function, jax.grad for
dV/dq, dV/dtheta and dV/du, leapfrog under lax.scan, the batch under vmap, jit around it all.
The RHEL rules (two echoes from the momentum-flipped final state, nudged by the loss's
cotangents, accumulating dV/dtheta at both kick points) are ../../../shared/spec/rhel.md's, as
in rhel_reference.py; the loss is L = sum_t g_t . q_t (hsc's NonlinHRU without an in-model
loss, driven by per-step cotangents). The RHEL gradient is checked against jax.grad of the
forward pass (BPTT) before anything is timed.

Run: python3 benches/cuda/jax_nonlin_hru.py [--P 256] [--N 16] [--batch 256] [--steps 10000]
"""
import argparse
import json
import time

import jax
import jax.numpy as jnp

ap = argparse.ArgumentParser()
ap.add_argument("--P", type=int, default=256)
ap.add_argument("--N", type=int, default=16)
ap.add_argument("--batch", type=int, default=256)
ap.add_argument("--steps", type=int, default=10000)
ap.add_argument("--dt", type=float, default=0.1)
ap.add_argument("--eps", type=float, default=1e-2)
ap.add_argument("--repeat", type=int, default=5)
args = ap.parse_args()
P, N, B, T, h, eps = args.P, args.N, args.batch, args.steps, args.dt, args.eps
f32 = jnp.float32


def potential(q, u, th):
    s = jax.nn.sigmoid(th["c"])
    z = th["W"] * q + th["B"] @ u + th["b"]
    logcosh = jnp.logaddexp(z, -z) - jnp.log(2.0)
    return jnp.sum(0.5 * th["alpha"] * q**2 + s * logcosh / th["W"])


dV_dq = jax.grad(potential, argnums=0)
dV_du = jax.grad(potential, argnums=1)
dV_dth = jax.grad(potential, argnums=2)


def leapfrog(q, p, u, th):
    p = p - h / 2 * dV_dq(q, u, th)
    q = q + h * p
    p = p - h / 2 * dV_dq(q, u, th)
    return q, p


def forward_one(th, us, gs):
    def step(carry, x):
        q, p, loss = carry
        u, g = x
        q, p = leapfrog(q, p, u, th)
        return (q, p, loss + g @ q), None

    zero = jnp.zeros(P, f32)
    (q, p, loss), _ = jax.lax.scan(step, (zero, zero, f32(0)), (us, gs))
    return loss, q, p


def echo_one(th, us, gs, qT, pT, e):
    """One echo nudged by e: the accumulated dV/dtheta and dV/du, as in rhel_reference.py."""
    acc0 = jax.tree.map(jnp.zeros_like, th)
    # The nudge placement of rhel.md: g_T at the flip, g_t after the echo step of row t.
    nudges = jnp.concatenate([jnp.zeros((1, P), f32), gs[:-1]])[::-1]

    def step(carry, x):
        q, p, acc = carry
        u, g_next = x
        start = q
        q, p = leapfrog(q, p, u, th)
        a, b = dV_dth(start, u, th), dV_dth(q, u, th)
        acc = jax.tree.map(lambda s, x, y: s + h / 2 * (x + y), acc, a, b)
        du = h / 2 * (dV_du(start, u, th) + dV_du(q, u, th))
        p = p + e * g_next
        return (q, p, acc), du

    (_, _, acc), du = jax.lax.scan(step, (qT, -pT + e * gs[-1], acc0), (us[::-1], nudges))
    return acc, du[::-1]


def rhel_one(th, us, gs):
    _, qT, pT = forward_one(th, us, gs)
    (ap_, up), (am, um) = echo_one(th, us, gs, qT, pT, eps), echo_one(th, us, gs, qT, pT, -eps)
    grads = jax.tree.map(lambda x, y: -(x - y) / (2 * eps), ap_, am)
    return grads, -(up - um) / (2 * eps)


forward = jax.jit(jax.vmap(forward_one, in_axes=(None, 0, 0)))
# Summed over the batch; the per-step input gradients are computed too (as hsc's are).
rhel = jax.jit(lambda th, us, gs: (lambda g: (jax.tree.map(lambda x: x.sum(0), g[0]), g[1]))(
    jax.vmap(rhel_one, in_axes=(None, 0, 0))(th, us, gs)))
bptt = jax.jit(jax.grad(lambda th, us, gs: jnp.sum(jax.vmap(forward_one, in_axes=(None, 0, 0))(th, us, gs)[0])))

key = jax.random.split(jax.random.PRNGKey(0), 6)
th = dict(W=jax.random.uniform(key[0], (P,), f32, 0.5, 1.0), b=jnp.zeros(P, f32),
          c=jax.random.uniform(key[1], (P,), f32, -1, 1), alpha=jax.random.uniform(key[2], (), f32, 0.1, 1.0),
          B=jax.random.uniform(key[3], (P, N), f32, -0.25, 0.25))


def data(batch, steps):
    return (jax.random.normal(key[4], (batch, steps, N), f32),
            jax.random.normal(key[5], (batch, steps, P), f32) / P)


# RHEL against BPTT on a small problem first.
Bs, Ts = B, min(T, 200)
us, gs = data(Bs, Ts)
g_rhel = rhel(th, us, gs)[0]
g_bptt = jax.grad(lambda th: jnp.sum(jax.vmap(forward_one, in_axes=(None, 0, 0))(th, us, gs)[0]))(th)
worst = max(float(jnp.max(jnp.abs(g_rhel[k] - g_bptt[k])) / (jnp.max(jnp.abs(g_bptt[k])) + 1e-30)) for k in th)
print(f"RHEL vs BPTT (jax.grad), batch {Bs}, {Ts} steps, eps {eps}: worst relative difference {worst:.1e}")

us, gs = data(B, T)


def timed(f):
    jax.block_until_ready(f(th, us, gs))  # compile
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        jax.block_until_ready(f(th, us, gs))
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]


report = {"device": str(jax.devices()[0]), "P": P, "N": N, "batch": B, "steps": T, "rhel_vs_bptt": worst}
for name, f in [("forward", forward), ("rhel", rhel), ("bptt", bptt)]:
    s = timed(f)
    report[name] = {"seconds": s, "ns_per_seq_step_state": s * 1e9 / (B * T * P), "seq_steps_per_second": B * T / s}
    print(f"{name:<8} {s * 1e3:10.1f} ms  {s * 1e9 / (B * T * P):8.3f} ns/(seq·step·P)  {B * T / s:12.0f} seq·steps/s")
print(json.dumps(report))
