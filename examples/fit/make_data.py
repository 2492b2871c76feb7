"""The data of hsc's fitting examples, made without hsc: NumPy and a classical Runge-Kutta
integrator (RK4, 20 substeps per observed step), so the observations are the continuous
flow's, not the discrete map the model runs.

    python3 examples/fit/make_data.py      # writes spring_chain.npz and henon_heiles.npz
    python3 examples/fit/make_data.py --stream TICKS FILE.npz   # a stream for hl_readout.ham

spring_chain.npz: 4 sequences of 300 steps (dt 0.05) of a 4-mass chain, from random states.
  y[S, T, 4]       the positions after each step (the model's target)
  q[S, 4], p[S, 4] the initial state
  qobs, pobs       [S, T, 4], the whole state after each step (for --force)
henon_heiles.npz: one chaotic orbit of the Henon-Heiles system, 5000 steps (dt 0.05) at
  energy 0.16, where a change of 1e-9 in the initial state grows to order 1.
  y, q, p, qobs, pobs as above, with 2 coordinates.
The true params are stored as truth.<name>, which `hsc fit` ignores (it says so).
"""

import pathlib

import numpy as np

HERE = pathlib.Path(__file__).parent


def rk4(force, q, p, dt, steps, substeps=20):
    """Positions and momenta after each of `steps` steps of `dt`: [steps, ...] each.
    `force(q, n)` is the force during step n (a drive is held over a step, as hsc's models
    hold their inputs)."""
    h = dt / substeps
    qs, ps = [], []
    for n in range(steps):
        for _ in range(substeps):
            k1q, k1p = p, force(q, n)
            k2q, k2p = p + 0.5 * h * k1p, force(q + 0.5 * h * k1q, n)
            k3q, k3p = p + 0.5 * h * k2p, force(q + 0.5 * h * k2q, n)
            k4q, k4p = p + h * k3p, force(q + h * k3q, n)
            q = q + h / 6 * (k1q + 2 * k2q + 2 * k3q + k4q)
            p = p + h / 6 * (k1p + 2 * k2p + 2 * k3p + k4p)
        qs.append(q)
        ps.append(p)
    return np.array(qs), np.array(ps)


def spring_chain():
    k = np.array([1.3, 0.8, 1.6, 1.1])
    onsite, quartic = 0.35, 0.9

    def force(q, _):
        stretch = np.diff(q)  # q[i] - q[i-1], i = 1..N-1
        tension = k[1:] * stretch + quartic * stretch**3
        f = -onsite * q
        f[0] -= k[0] * q[0]
        f[1:] -= tension
        f[:-1] += tension
        return f

    rng = np.random.default_rng(7)
    S, T = 4, 300
    q0 = rng.normal(0, 0.6, (S, 4))
    p0 = rng.normal(0, 0.6, (S, 4))
    runs = [rk4(force, q0[s], p0[s], 0.05, T) for s in range(S)]
    qobs = np.array([r[0] for r in runs])
    pobs = np.array([r[1] for r in runs])
    np.savez(
        HERE / "spring_chain.npz",
        y=qobs, q=q0, p=p0, qobs=qobs, pobs=pobs,
        **{"truth.k": k, "truth.onsite": np.array(onsite), "truth.quartic": np.array(quartic)},
    )


def henon_heiles():
    a, b, lam = 1.0, 1.0, 1.0

    def force(q, _):
        x, y = q
        return np.array([-a * x - 2 * lam * x * y, -b * y - lam * (x * x - y * y)])

    def energy(q, p):
        x, y = q
        return 0.5 * p @ p + 0.5 * (a * x * x + b * y * y) + lam * (x * x * y - y**3 / 3)

    q0 = np.array([0.0, -0.2])
    # The momentum that puts the orbit at energy E.
    E = 0.16
    py = 0.1
    px = np.sqrt(2 * (E - energy(q0, np.array([0.0, py]))))
    p0 = np.array([px, py])
    T = 5000
    qobs, pobs = rk4(force, q0, p0, 0.05, T)
    q1, _ = rk4(force, q0 + np.array([1e-9, 0]), p0, 0.05, T)
    growth = np.abs(q1 - qobs).max(axis=1)
    print(f"henon_heiles: energy {energy(qobs[-1], pobs[-1]):.6f} (start {E}); "
          f"a 1e-9 change grows to {growth[-1]:.2e} by step {T} "
          f"(first above 0.1 at step {int(np.argmax(growth > 0.1)) + 1 if (growth > 0.1).any() else None})")
    np.savez(
        HERE / "henon_heiles.npz",
        y=qobs, q=q0, p=p0, qobs=qobs, pobs=pobs,
        **{"truth.a": np.array(a), "truth.b": np.array(b), "truth.lam": np.array(lam)},
    )


def readout_stream(ticks, path):
    """A stream for hl_readout.ham: a drive u (three sines) and a teacher's readout y of eight
    driven oscillators (stiffnesses 0.5..4, readout weights drawn once)."""
    k = np.linspace(0.5, 4.0, 8)
    R = np.random.default_rng(3).normal(0, 1, 8)
    t = np.arange(ticks) * 0.05
    u = 0.5 * (np.sin(0.31 * t) + np.sin(2.7 * t + 1.0) + np.sin(3.3 * t + 2.0))
    q, _ = rk4(lambda q, n: -k * q + u[n], np.zeros(8), np.zeros(8), 0.05, ticks, substeps=4)
    y = q @ R
    np.savez(path, u=u[:, None], y=y[:, None], **{"truth.k": k, "truth.R": R})


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 4 and sys.argv[1] == "--stream":
        readout_stream(int(sys.argv[2]), sys.argv[3])
    else:
        spring_chain()
        henon_heiles()
