"""Checks hsc's gradients on examples/rhel_reference.ham against ../shared/spec/rhel_reference.py.

Usage: python3 scripts/check_reference.py DUMP_DIR
where DUMP_DIR was written by
    hsc gradcheck examples/rhel_reference.ham --steps 200 --dump DUMP_DIR

The reference module's functions read its globals (P, N, T, h, U, G, F) when called, so they
are pointed at the dumped data: row t of hsc's inputs drives step t, row t of its targets
scores x_{t+1} (the reference's G[t + 1], F[t + 1]). The reference's forward pass and its two
nudged echoes then run on the dumped params and initial state. Exits 1 on a disagreement.
"""
import importlib.util
import pathlib
import sys

import numpy as np

here = pathlib.Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("ref", here.parent.parent / "shared/spec/rhel_reference.py")
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

dump = pathlib.Path(sys.argv[1])
load = lambda name: np.load(dump / f"{name}.npy")
u, g, f = load("input_u"), load("target_g"), load("target_f")
T, N = u.shape
P = g.shape[1]
ref.P, ref.N, ref.T, ref.h = P, N, T, 0.1
ref.U = u
ref.G = np.vstack([np.zeros(P), g])
ref.F = np.vstack([np.zeros(P), f])
th = {k: load(f"param_{k}") for k in ["W", "b", "c", "alpha", "B"]}
q0, p0 = load("initial_q"), load("initial_p")

rel = lambda a, b: np.max(np.abs(a - b)) / np.max(np.abs(b))
failures = []

def check(what, err, tol):
    print(f"{what:<44} {err:.1e}  (tolerance {tol:.0e})")
    if not err <= tol:
        failures.append(what)

L, qT, pT = ref.forward(th, q0, p0)
check("loss: hsc vs reference", abs(float(load("loss")) - L) / abs(L), 1e-12)
eps = 1e-5
(ap, up, qp, pp), (am, um, qm, pm) = ref.echo(th, qT, pT, eps), ref.echo(th, qT, pT, -eps)
d = lambda x, y: -(x - y) / (2 * eps)
reference = {f"param_{k}": d(ap[k], am[k]) for k in th}
reference["input_u"] = d(up, um)
reference["initial_q"] = (pp - pm) / (2 * eps)
reference["initial_p"] = (qp - qm) / (2 * eps)
for name, r in reference.items():
    check(f"{name}: hsc RHEL vs reference RHEL (ε = 1e-5)", rel(load(f"grad_rhel_{name}"), r), 1e-8)
    check(f"{name}: hsc BPTT vs reference RHEL", rel(load(f"grad_bptt_{name}"), r), 1e-6)
    check(f"{name}: hsc tangent echo vs reference RHEL", rel(load(f"grad_tangent_{name}"), r), 1e-6)
if failures:
    print(f"FAILED: {', '.join(failures)}")
    sys.exit(1)
print("ok: hsc agrees with rhel_reference.py")
