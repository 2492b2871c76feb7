"""What a user gets wrong at the boundary ends in a Python exception that says what was
expected: shapes, dtypes, names, models with errors, a backend that cannot run."""

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import hsc
from conftest import EXAMPLES

NONLIN = EXAMPLES / "nonlin_hru.ham"


@pytest.fixture(scope="module")
def model():
    return hsc.load(NONLIN, dims={"P": 8, "N": 3})


@pytest.fixture(scope="module")
def params(model):
    return model.init(0)


def test_spec_describes_the_model(model):
    spec = model.spec
    assert spec["name"] == "NonlinHRU" and spec["dims"] == {"P": 8, "N": 3}
    assert [(a["name"], a["shape"]) for a in spec["params"]] == [
        ("W", (8,)), ("b", (8,)), ("c", (8,)), ("alpha", ()), ("B", (8, 3))]
    assert spec["params"][0]["init"] == "uniform(0.5, 1)"
    assert [(s["name"], s["momentum"]) for s in spec["states"]] == [("q", False), ("p", True)]
    assert spec["has_loss"] is False and spec["integrator"] == "leapfrog" and spec["step"] == 0.1
    assert model.backend in ("c", "cranelift") and model.precision == "f64"
    assert "NonlinHRU" in repr(model)


def test_wrong_shape_names_the_array_and_the_shape(model, params):
    u = np.zeros((2, 10, 4))
    with pytest.raises(ValueError, match=r"input `u` has shape \(2, 10, 4\); expected \(B, T, 3\)"):
        model.forward(params, {"u": u})
    with pytest.raises(ValueError, match=r"param `B` has shape \(3, 8\); expected \(8, 3\)"):
        model.forward({**params, "B": params["B"].T.copy()}, {"u": np.zeros((2, 10, 3))})
    with pytest.raises(ValueError, match=r"cotangent `q` has shape \(2, 9, 8\); expected \(2, 10, 8\) "
                                         r"\(B = 2 from input `u`, T = 10 from input `u`\)"):
        model.bptt_grad(params, {"u": np.zeros((2, 10, 3))}, cotangents={"q": np.zeros((2, 9, 8))})
    with pytest.raises(ValueError, match=r"leading batch axis"):
        model.forward(params, {"u": np.zeros((10, 3))})
    with pytest.raises(ValueError, match=r"initial `p` has shape \(3, 8\); expected \(2, 8\)"):
        model.forward(params, {"u": np.zeros((2, 10, 3))}, initial={"p": np.zeros((3, 8))})


def test_wrong_dtype(model, params):
    for bad in (np.zeros((2, 10, 3), dtype=np.int64), np.zeros((2, 10, 3), dtype=np.complex128)):
        with pytest.raises(TypeError, match=f"input `u` has dtype {bad.dtype}; hsc takes float64 or float32"):
            model.forward(params, {"u": bad})
    with pytest.raises(TypeError, match="input `u` has dtype object"):
        model.forward(params, {"u": object()})
    with pytest.raises(TypeError, match="params must be a dict"):
        model.forward([1, 2], {"u": np.zeros((2, 10, 3))})


def test_names(model, params):
    u = {"u": np.zeros((1, 5, 3))}
    with pytest.raises(ValueError, match=r"inputs: the model has no `x` \(it has u\)"):
        model.forward(params, {"x": np.zeros((1, 5, 3))})
    with pytest.raises(ValueError, match=r"params: `alpha` is missing"):
        model.forward({k: v for k, v in params.items() if k != "alpha"}, u)
    with pytest.raises(ValueError, match=r"inputs: `u` is missing"):
        model.forward(params)
    with pytest.raises(ValueError, match=r"cotangents: `q` is missing"):
        model.rhel_grad(params, u)
    with pytest.raises(ValueError, match=r"targets \(the model has no `loss`\)"):
        model.forward(params, u, targets={"y": np.zeros((1, 5))})
    with pytest.raises(ValueError, match="unknown echo"):
        model.rhel_grad(params, u, cotangents={"q": np.zeros((1, 5, 8))}, echo="sideways")


def test_other_layouts_and_float32_are_read(model, params):
    rng = np.random.default_rng(0)
    u = rng.standard_normal((3, 20, 4))[:, :, 1:]          # not contiguous
    dq = rng.standard_normal((3, 20, 8))
    want = model.bptt_grad(params, {"u": np.ascontiguousarray(u)}, cotangents={"q": dq})
    got = model.bptt_grad(params, {"u": u}, cotangents={"q": dq})
    np.testing.assert_array_equal(got["params"]["W"], want["params"]["W"])
    got32 = model.bptt_grad({k: np.asarray(v, np.float32) for k, v in params.items()},
                            {"u": u.astype(np.float32)}, cotangents={"q": dq.tolist()})
    assert np.max(np.abs(got32["params"]["W"] - want["params"]["W"])) < 1e-4 * np.max(np.abs(want["params"]["W"]))
    scalar = model.forward({**params, "alpha": 0.5}, {"u": np.ascontiguousarray(u)})
    assert np.isfinite(scalar["loss"])


def test_model_with_errors_raises_the_rendered_diagnostics():
    with pytest.raises(hsc.ModelError) as e:
        hsc.loads("model X\nstate q momentum p\nH = p^2 + r\n", name="bad.ham")
    text = str(e.value)
    assert "unknown name `r`" in text and "bad.ham:3:11" in text and "^ not declared" in text
    with pytest.raises(hsc.ModelError, match="cannot read"):
        hsc.load(EXAMPLES / "missing.ham")
    with pytest.raises(ValueError, match="unknown precision"):
        hsc.load(NONLIN, precision="f16")
    with pytest.raises(ValueError, match="unknown backend"):
        hsc.load(NONLIN, backend="tpu")
    with pytest.raises(TypeError, match="must be an int"):
        hsc.load(NONLIN, dims={"P": "many"})
    with pytest.raises(hsc.ModelError, match="P"):
        hsc.load(NONLIN, dims={"P": 0})


def test_missing_c_compiler():
    """Without a C compiler, backend="c" raises BackendUnavailable and the default falls back
    to Cranelift with a warning (in a fresh process: the compiler is probed once per process)."""
    script = f"""
import warnings, hsc
try:
    hsc.load({str(NONLIN)!r}, backend="c")
except hsc.BackendUnavailable as e:
    print("unavailable:", str(e).splitlines()[0])
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    m = hsc.load({str(NONLIN)!r})
print("backend:", m.backend, "warned:", [str(x.message) for x in w])
"""
    env = {**os.environ, "CC": "/nonexistent/cc"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "unavailable:" in out.stdout and "/nonexistent/cc" in out.stdout, out.stdout
    assert "backend: cranelift" in out.stdout and "the C backend is not used" in out.stdout, out.stdout


def test_the_gil_is_released_while_kernels_run():
    model = hsc.load(NONLIN, dims={"P": 64, "N": 16}, backend="interp")
    params = model.init(0)
    rng = np.random.default_rng(0)
    u = {"u": rng.standard_normal((2, 400, 16))}
    dq = {"q": rng.standard_normal((2, 400, 64))}
    worker = threading.Thread(target=lambda: model.bptt_grad(params, u, cotangents=dq))
    start = time.perf_counter()
    worker.start()
    ticks = 0
    while worker.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    # Holding the GIL for the whole call would leave this thread one or two ticks.
    assert elapsed > 0.05 and ticks >= elapsed / 0.001 / 10, (elapsed, ticks)


def test_models_are_not_pickled(model):
    import pickle
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(model)


def test_cuda_runs_or_says_why_not():
    """The GPU backend is built in: with a GPU the model runs on it, without one the error
    says what is missing."""
    try:
        m = hsc.load(NONLIN, dims={"P": 8, "N": 3}, backend="cuda")
    except hsc.BackendUnavailable as e:
        assert "the CUDA backend cannot run here" in str(e), str(e)
    else:
        assert m.backend == "cuda"
        out = m.forward(m.init(0), {"u": np.zeros((2, 5, 3))})
        assert out["state"]["q"].shape == (2, 8)
