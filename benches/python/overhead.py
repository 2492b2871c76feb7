"""The cost of calling hsc from Python, on workload W1 (NonlinHRU P 64, N 16, batch 16, 1000
steps, f32, dt 0.05, loss sum_t g_t . q_t): each pass called from Python on NumPy arrays
against the same pass of the same engine timed by `hsc bench` (Rust), the gradient through
`hsc.jax.function` under jax.jit, and the expert's plain JAX (benches/cpu/jax_nonlin_hru.py),
all on one core in one sitting.

Run: taskset -c 0 python3 benches/python/overhead.py [--hsc target/release/hsc] [--steps 1000]
with the wheel installed (built with --release) and jax. Rust and Python are timed in turn for
--rounds rounds. Prints a markdown table of median ns per sequence·step·P (hsc bench's unit)
and the Python/Rust ratio per pass.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import numpy as np  # noqa: E402

import hsc  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
ap = argparse.ArgumentParser()
ap.add_argument("--hsc", default=str(REPO / "target" / "release" / "hsc"))
ap.add_argument("--steps", type=int, default=1000)
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--min-time", type=float, default=1.0)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--no-jax", action="store_true")
args = ap.parse_args()
P, N, B, T = 64, 16, args.batch, args.steps
per = B * T * P

tmp = pathlib.Path(tempfile.mkdtemp())
model_file = tmp / "nonlin_hru.ham"
model_file.write_text((REPO / "examples" / "nonlin_hru.ham").read_text().replace("leapfrog(dt = 0.1)", "leapfrog(dt = 0.05)"))
assert "dt = 0.05" in model_file.read_text()

def bench_rust():
    """`hsc bench`: the same engine (C, f32), one thread; ns per sequence·step·P per pass."""
    out = subprocess.run([args.hsc, "bench", str(model_file), "--precision", "f32", "--steps", str(T), "--batch",
                          str(B), "--threads", "1", "--backends", "c", "--passes", "forward,rhel,tangent,bptt",
                          "--no-baseline", "--min-time", str(args.min_time), "--json"],
                         capture_output=True, text=True, check=True)
    return {r["pass"]: r["ns_per_seq_step_state"] for r in json.loads(out.stdout)["rows"]}


def median_ns(call):
    call()  # warm
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < args.min_time or len(times) < 5:
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e9 / per


m = hsc.load(model_file, precision="f32", backend="c")
params = m.init(0)
rng = np.random.default_rng(0)
u = {"u": rng.standard_normal((B, T, N))}
g = {"q": rng.standard_normal((B, T, P))}


def bench_python():
    return {
        "forward": median_ns(lambda: m.forward(params, u, cotangents=g)),
        "rhel": median_ns(lambda: m.rhel_grad(params, u, cotangents=g, eps=1e-3)),
        "tangent": median_ns(lambda: m.tangent_grad(params, u, cotangents=g)),
        "bptt": median_ns(lambda: m.bptt_grad(params, u, cotangents=g)),
    }


# Rust and Python in turn, `--rounds` times (these machines drift by ±10 %); medians of each and
# of the per-round ratios.
PASSES = ("forward", "rhel", "tangent", "bptt")
rounds = [(bench_rust(), bench_python()) for _ in range(args.rounds)]
rust = {p: float(np.median([r[p] for r, _ in rounds])) for p in PASSES}
python = {p: float(np.median([py[p] for _, py in rounds])) for p in PASSES}
ratio = {p: float(np.median([py[p] / r[p] for r, py in rounds])) for p in PASSES}
rows = [("hsc from Rust (`hsc bench`, C backend)", rust), ("hsc from Python (NumPy arrays)", python)]

if not args.no_jax:
    import jax
    import jax.numpy as jnp

    import hsc.jax

    th = {k: jnp.asarray(v, jnp.float32) for k, v in params.items()}
    uj, gj = jnp.asarray(u["u"], jnp.float32), jnp.asarray(g["q"], jnp.float32)
    via = {}
    for grad in ("rhel", "bptt"):
        f = hsc.jax.function(m, grad=grad, eps=1e-3)
        loss = jax.jit(jax.value_and_grad(lambda th, uu: jnp.sum(f(th, {"u": uu})["q"] * gj), argnums=(0, 1)))
        via[grad] = median_ns(lambda: jax.block_until_ready(loss(th, uj)))
    fwd = jax.jit(lambda th, uu: jnp.sum(hsc.jax.function(m)(th, {"u": uu})["q"] * gj))
    via["forward"] = median_ns(lambda: jax.block_until_ready(fwd(th, uj)))
    rows.append(("hsc.jax.function under jax.jit (positions out; grads: + RHEL/BPTT pass)", via))
    # What jax.pure_callback itself costs per call: the same arrays in and out, no work.
    out_shape = jax.ShapeDtypeStruct((B, T, P), jnp.float32)
    zeros = np.zeros((B, T, P), np.float32)
    empty = jax.jit(lambda th, uu: jax.pure_callback(lambda th, uu: zeros, out_shape, th, uu))
    callback_us = median_ns(lambda: jax.block_until_ready(empty(th, uj))) * per / 1e3
    trajectory = median_ns(lambda: m.trajectory(params, u))
    expert = subprocess.run([sys.executable, str(REPO / "benches" / "cpu" / "jax_nonlin_hru.py"), "--steps", str(T),
                             "--batch", str(B), "--dt", "0.05", "--min-time", str(args.min_time)],
                            capture_output=True, text=True, check=True)
    jax_rows = {}
    for line in expert.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            jax_rows[r["pass"]] = r["ns_per_element"]
    rows.append((f"JAX {jax.__version__}, expert (benches/cpu/jax_nonlin_hru.py)", jax_rows))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"CPU: {cpu}; one thread (RAYON_NUM_THREADS=1; run under taskset -c 0 to pin the core)")
print(f"NonlinHRU P {P}, N {N}, batch {B}, {T} steps, f32, dt 0.05, RHEL eps 1e-3, loss sum_t g_t . q_t")
print()
print("| ns per sequence·step·P | forward | RHEL | tangent | BPTT |")
print("|---|---:|---:|---:|---:|")
for name, ns in rows:
    print(f"| {name} | " + " | ".join(f"{ns[p]:.2f}" if p in ns else "—" for p in ("forward", "rhel", "tangent", "bptt")) + " |")
print(f"| Python / Rust (median of {args.rounds} rounds' ratios) | " + " | ".join(f"{ratio[p]:.3f}" for p in ("forward", "rhel", "tangent", "bptt")) + " |")
if not args.no_jax:
    print(f"\njax.pure_callback with these arrays and no work: {callback_us:.0f} µs per call "
          f"({callback_us * 1e3 / per:.3f} ns per sequence·step·P); m.trajectory from Python, the pass "
          f"hsc.jax.function's forward runs: {trajectory:.2f} ns\n")
