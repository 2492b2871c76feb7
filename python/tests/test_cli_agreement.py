"""Every pass of hsc.Model against the command line's numbers on the same data: `hsc gradcheck
--dump` writes the drawn params, data and every method's gradients; the Python passes on the
same engine (the default backend of both) must give the same numbers."""

import numpy as np
import pytest

import hsc
from conftest import EXAMPLES, rel, run_hsc

EXAMPLES_CHECKED = ["nonlin_hru", "coupled_oscillators", "two_populations", "rhel_reference", "cue_recall"]


@pytest.fixture(scope="module", params=EXAMPLES_CHECKED)
def dumped(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name)
    run_hsc("gradcheck", EXAMPLES / f"{name}.ham", "--steps", 40, "--seed", 3, "--dump", out)
    model = hsc.load(EXAMPLES / f"{name}.ham")
    load = lambda stem: np.load(out / f"{stem}.npy")
    spec = model.spec
    params = {a["name"]: load(f"param_{a['name']}") for a in spec["params"]}
    batched = lambda stem: load(stem)[None]
    data = dict(
        inputs={a["name"]: batched(f"input_{a['name']}") for a in spec["inputs"]},
        initial={s["name"]: batched(f"initial_{s['name']}") for s in spec["states"]},
    )
    if spec["has_loss"]:
        data["targets"] = {a["name"]: batched(f"target_{a['name']}") for a in spec["targets"]}
    else:
        data["cotangents"] = {s["name"]: batched(f"cotangent_{s['name']}")
                              for s in spec["states"] if not s["momentum"]}
    return name, model, params, data, load


def expected(model, load, method):
    spec = model.spec
    return {
        "params": {a["name"]: load(f"grad_{method}_param_{a['name']}") for a in spec["params"]},
        "inputs": {a["name"]: load(f"grad_{method}_input_{a['name']}")[None] for a in spec["inputs"]},
        "initial": {s["name"]: load(f"grad_{method}_initial_{s['name']}")[None] for s in spec["states"]},
    }


def compare(got, want, tol):
    worst = 0.0
    for group in ("params", "inputs", "initial"):
        assert set(got[group]) == set(want[group]), group
        for k in want[group]:
            assert got[group][k].shape == want[group][k].shape, (group, k)
            worst = max(worst, rel(got[group][k], want[group][k]))
    assert worst <= tol, worst
    return worst


@pytest.mark.parametrize("method", ["bptt", "tangent", "rhel", "onesided", "richardson"])
def test_pass_matches_cli(dumped, method):
    name, model, params, data, load = dumped
    if method == "bptt":
        got = model.bptt_grad(params, **data)
    elif method == "tangent":
        got = model.tangent_grad(params, **data)
    else:
        echo = {"rhel": "central"}.get(method, method)
        got = model.rhel_grad(params, eps=1e-5, echo=echo, **data)
    # The same engine on the same numbers: equal up to the order of the batch's sums.
    worst = compare(got, expected(model, load, method), 1e-12)
    print(f"{name} {method}: against the CLI {worst:.1e}")
    assert got["loss"] == pytest.approx(float(load("loss")), rel=1e-13)


def test_forward_and_trajectory_match_cli(dumped):
    name, model, params, data, load = dumped
    forward = model.forward(params, **data)
    assert forward["loss"] == pytest.approx(float(load("loss")), rel=1e-13)
    trajectory = model.trajectory(params, **data)
    assert trajectory["loss"] == pytest.approx(forward["loss"], rel=1e-13)
    for s in model.spec["states"]:
        states = trajectory["states"][s["name"]]
        assert states.shape[:2] == (1, 41)
        np.testing.assert_array_equal(states[:, 0], data["initial"][s["name"]])
        np.testing.assert_allclose(states[:, -1], forward["state"][s["name"]], rtol=0, atol=1e-13)
    assert trajectory["energy"].shape == (1, 41)


def test_gradients_agree_with_finite_differences(dumped):
    """BPTT from Python against the CLI's fourth-order finite differences (NaN where the CLI
    did not take them)."""
    name, model, params, data, load = dumped
    got = model.bptt_grad(params, **data)
    for a in model.spec["params"]:
        fd = load(f"grad_fd_param_{a['name']}")
        at = ~np.isnan(fd)
        assert rel(got["params"][a["name"]][at], fd[at]) <= 1e-5, a["name"]


def test_init_draws_what_the_cli_draws(dumped):
    name, model, params, data, load = dumped
    drawn = model.init(3)
    for k, v in params.items():
        np.testing.assert_array_equal(drawn[k], v)
