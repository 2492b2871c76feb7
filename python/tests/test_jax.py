"""jax.grad through hsc.jax.function against jax.grad of the same model written in plain JAX
(its own integrator, forces from jax.grad of the potential), in f64: BPTT and the tangent echo
to 1e-10, RHEL to 1e-6 at eps = 1e-5."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

import hsc  # noqa: E402
import hsc.jax  # noqa: E402
from conftest import EXAMPLES, rel  # noqa: E402

TOLERANCE = {"bptt": 1e-10, "tangent": 1e-10, "rhel": 1e-6}

W1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
W0 = 1.0 - 2.0 * W1
PIECES = {
    "leapfrog": [("kick", 0.5), ("drift", 1.0), ("kick", 0.5)],
    "yoshida4": [("kick", W1 / 2), ("drift", W1), ("kick", (W1 + W0) / 2), ("drift", W0),
                 ("kick", (W0 + W1) / 2), ("drift", W1), ("kick", W1 / 2)],
}


def integrate(potential, loss, integrator, h, th, qs, ps, us, ys):
    """Runs one sequence: qs, ps tuples of state arrays; us, ys per-step arrays [T, ...] (or
    None). K = sum p^2 / 2 for every pair, as in the models below. Returns the summed loss
    and the positions after each step."""
    force = jax.grad(potential, argnums=0)

    def step(state, row):
        qs, ps = state
        u, y = row
        for kind, w in PIECES[integrator]:
            if kind == "kick":
                f = force(qs, u, th)
                ps = tuple(p - w * h * g for p, g in zip(ps, f))
            else:
                qs = tuple(q + w * h * p for q, p in zip(qs, ps))
        return (qs, ps), (loss(qs, ps, y, th) if loss else 0.0, qs)

    _, (losses, q_path) = jax.lax.scan(step, (qs, ps), (us, ys))
    return jnp.sum(losses), q_path


def logcosh(x):
    return jnp.logaddexp(x, -x) - jnp.log(2.0)


MODELS = {
    # A loss, one pair, no input.
    "coupled_oscillators": dict(
        dims=None, integrator="leapfrog", h=0.01,
        potential=lambda qs, u, th: (0.5 * th["k1"] * qs[0][0] ** 2 + 0.5 * th["k12"] * (qs[0][1] - qs[0][0]) ** 2
                                     + 0.5 * th["k2"] * qs[0][1] ** 2),
        loss=lambda qs, ps, y, th: (qs[0][1] - y["y"][0]) ** 2,
    ),
    # Two state pairs, Yoshida-4, an input and a loss.
    "two_populations": dict(
        dims=None, integrator="yoshida4", h=0.02,
        potential=lambda qs, u, th: (jnp.sum(0.5 * qs[0] ** 2 + 9.81 / 100 * (1 - jnp.cos(qs[0])))
                                     + jnp.sum(0.5 * th["stiffness"] * qs[1] ** 2)
                                     + qs[0] @ th["C"] @ qs[1] - qs[0] @ th["D"] @ u["u"]),
        loss=lambda qs, ps, y, th: jnp.sum((th["R"] @ qs[0] - y["y"]) ** 2) / 3,
    ),
    # No loss: the positions are the output, scored by a loss written in JAX.
    "nonlin_hru": dict(
        dims={"P": 6, "N": 3}, integrator="leapfrog", h=0.1,
        potential=lambda qs, u, th: jnp.sum(
            0.5 * th["alpha"] * qs[0] ** 2
            + jax.nn.sigmoid(th["c"]) * logcosh(th["W"] * qs[0] + th["B"] @ u["u"] + th["b"]) / th["W"]),
        loss=None,
    ),
}
STEPS, BATCH = 60, 3


def setup(name):
    spec = MODELS[name]
    model = hsc.load(EXAMPLES / f"{name}.ham", dims=spec["dims"])
    rng = np.random.default_rng(7)
    params = {k: jnp.asarray(v) for k, v in model.init(11).items()}
    inputs = {a["name"]: rng.standard_normal((BATCH, STEPS) + a["shape"]) for a in model.spec["inputs"]}
    targets = {a["name"]: rng.standard_normal((BATCH, STEPS) + a["shape"]) for a in model.spec["targets"]}
    initial = {s["name"]: 0.5 * rng.standard_normal((BATCH,) + s["shape"]) for s in model.spec["states"]}
    return model, spec, params, inputs, targets, initial


def plain(model, spec):
    """The model in plain JAX: a function of (params, inputs, targets, initial) with the same
    outputs as hsc.jax.function's."""
    states = model.spec["states"]
    qnames = [s["name"] for s in states if not s["momentum"]]
    pnames = [s["name"] for s in states if s["momentum"]]

    def one(th, u, y, x0):
        qs = tuple(x0[n] for n in qnames)
        ps = tuple(x0[n] for n in pnames)
        T = STEPS
        us = u if u else {"_": jnp.zeros((T,))}
        ys = y if y else {"_": jnp.zeros((T,))}
        return integrate(spec["potential"], spec["loss"], spec["integrator"], spec["h"], th, qs, ps, us, ys)

    def f(th, u, y, x0):
        loss, q_path = jax.vmap(one, in_axes=(None, 0, 0, 0))(th, u, y, x0)
        return jnp.sum(loss) if spec["loss"] else dict(zip(qnames, q_path))

    return f


def readout(positions, weights):
    """A JAX loss on the positions of a model without one."""
    return sum(jnp.sum(jnp.tanh(q) * w) for q, w in zip(positions.values(), weights))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("grad", ["bptt", "tangent", "rhel"])
def test_grad_matches_plain_jax(name, grad):
    model, spec, params, inputs, targets, initial = setup(name)
    f = hsc.jax.function(model, grad=grad, eps=1e-5)
    g_plain = plain(model, spec)
    if spec["loss"]:
        ours = lambda th, u, x0: f(th, u, targets, x0)
        theirs = lambda th, u, x0: g_plain(th, u, targets, x0)
        assert float(ours(params, inputs, initial)) == pytest.approx(float(theirs(params, inputs, initial)), rel=1e-12)
    else:
        weights = [np.random.default_rng(1).standard_normal(initial["q"].shape[1:])]
        ours = lambda th, u, x0: readout(f(th, u, x0), weights)
        theirs = lambda th, u, x0: readout(g_plain(th, u, {}, x0), weights)
    argnums = (0, 1, 2) if inputs else (0, 2)
    args = (params, inputs, initial)
    got = jax.grad(ours, argnums=argnums)(*args)
    want = jax.grad(theirs, argnums=argnums)(*args)
    worst = max(rel(a, b) for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)))
    print(f"jax {name} {grad}: against plain JAX {worst:.1e}")
    assert worst <= TOLERANCE[grad], worst


def test_under_jit_and_vmap():
    model, spec, params, inputs, targets, initial = setup("nonlin_hru")
    f = hsc.jax.function(model, grad="tangent")
    weights = [np.ones(6)]
    loss = lambda th, u: readout(f(th, u, initial), weights)
    direct = jax.grad(loss)(params, inputs)
    jitted = jax.jit(jax.grad(loss))(params, inputs)
    # The same callbacks; XLA may order the readout's sums differently under jit.
    for a, b in zip(jax.tree_util.tree_leaves(direct), jax.tree_util.tree_leaves(jitted)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)
    # vmap over a leading axis of inputs: one callback per element.
    stacked = {"u": np.stack([inputs["u"], 2 * inputs["u"]])}
    per = jax.vmap(lambda u: jax.grad(loss)(params, u)["W"])(stacked)
    one = jax.grad(loss)(params, {"u": 2 * inputs["u"]})["W"]
    np.testing.assert_allclose(per[1], one, rtol=1e-13)


def test_targets_are_not_differentiated():
    model, spec, params, inputs, targets, initial = setup("coupled_oscillators")
    f = hsc.jax.function(model, grad="bptt")
    with pytest.raises(NotImplementedError, match="targets"):
        jax.grad(lambda y: f(params, inputs, y, initial))(targets)


def test_float32():
    model = hsc.load(EXAMPLES / "nonlin_hru.ham", dims={"P": 6, "N": 3}, precision="f32")
    params = {k: jnp.asarray(v, jnp.float32) for k, v in model.init(0).items()}
    u = {"u": np.random.default_rng(0).standard_normal((2, 30, 3)).astype(np.float32)}
    f = hsc.jax.function(model, grad="tangent")
    out = f(params, u)
    assert out["q"].dtype == jnp.float32 and out["q"].shape == (2, 30, 6)
    g = jax.grad(lambda th: jnp.sum(f(th, u)["q"] ** 2))(params)
    assert g["W"].dtype == jnp.float32 and np.all(np.isfinite(g["W"]))


def test_unknown_grad():
    model = hsc.load(EXAMPLES / "coupled_oscillators.ham")
    with pytest.raises(ValueError, match="unknown grad"):
        hsc.jax.function(model, grad="adjoint")
