"""hsc.torch.function: torch.autograd.gradcheck (finite differences) of every pass on a model
with a loss and on one without, RHEL against BPTT, and the errors PyTorch users can meet."""

import pytest

torch = pytest.importorskip("torch")

import hsc  # noqa: E402
import hsc.torch  # noqa: E402
from conftest import EXAMPLES, rel  # noqa: E402


def model_and_data(name, dims=None, steps=25, batch=2, seed=0):
    model = hsc.load(EXAMPLES / f"{name}.ham", dims=dims)
    gen = torch.Generator().manual_seed(seed)
    params = {k: torch.tensor(v, requires_grad=True) for k, v in model.init(seed).items()}
    randn = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64)
    inputs = {a["name"]: randn(batch, steps, *a["shape"]).requires_grad_() for a in model.spec["inputs"]}
    targets = {a["name"]: randn(batch, steps, *a["shape"]) for a in model.spec["targets"]}
    initial = {s["name"]: (0.5 * randn(batch, *s["shape"])).requires_grad_() for s in model.spec["states"]}
    return model, params, inputs, targets, initial


def flat(model, params, inputs, initial):
    """The leaves gradcheck perturbs, and a function rebuilding the dicts from them."""
    keys = [("params", k) for k in params] + [("inputs", k) for k in inputs] + [("initial", k) for k in initial]
    leaves = tuple({"params": params, "inputs": inputs, "initial": initial}[g][k] for g, k in keys)

    def unflat(*tensors):
        out = {"params": {}, "inputs": {}, "initial": {}}
        for (g, k), t in zip(keys, tensors):
            out[g][k] = t
        return out

    return leaves, unflat


@pytest.mark.parametrize("grad", ["bptt", "tangent"])
def test_gradcheck_with_loss(grad):
    model, params, inputs, targets, initial = model_and_data("two_populations", steps=12)
    f = hsc.torch.function(model, grad=grad)
    leaves, unflat = flat(model, params, inputs, initial)
    fn = lambda *t: f(unflat(*t)["params"], unflat(*t)["inputs"], targets, unflat(*t)["initial"])
    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("grad", ["bptt", "tangent"])
def test_gradcheck_without_loss(grad):
    model, params, inputs, targets, initial = model_and_data("nonlin_hru", dims={"P": 4, "N": 3})
    f = hsc.torch.function(model, grad=grad)
    leaves, unflat = flat(model, params, inputs, initial)
    fn = lambda *t: f(unflat(*t)["params"], unflat(*t)["inputs"], unflat(*t)["initial"])["q"]
    assert torch.autograd.gradcheck(fn, leaves, eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("name,dims", [("two_populations", None), ("nonlin_hru", {"P": 8, "N": 3})])
def test_rhel_matches_bptt(name, dims):
    grads = {}
    for grad in ("bptt", "rhel"):
        model, params, inputs, targets, initial = model_and_data(name, dims=dims, steps=80)
        f = hsc.torch.function(model, grad=grad, eps=1e-5)
        if model.spec["has_loss"]:
            loss = f(params, inputs, targets, initial)
        else:
            loss = torch.sum(torch.tanh(f(params, inputs, initial)["q"]))
        loss.backward()
        grads[grad] = [t.grad.numpy() for t in [*params.values(), *inputs.values(), *initial.values()]]
    worst = max(rel(a, b) for a, b in zip(grads["rhel"], grads["bptt"]))
    print(f"torch {name}: RHEL against BPTT {worst:.1e}")
    assert worst <= 1e-6


def test_float32_tensors_keep_their_dtype():
    model = hsc.load(EXAMPLES / "nonlin_hru.ham", dims={"P": 4, "N": 3}, precision="f32")
    params = {k: torch.tensor(v, dtype=torch.float32, requires_grad=True) for k, v in model.init(0).items()}
    u = torch.randn(2, 10, 3)
    q = hsc.torch.function(model, grad="tangent")(params, {"u": u})["q"]
    assert q.dtype == torch.float32 and q.shape == (2, 10, 4)
    q.pow(2).sum().backward()
    assert params["W"].grad.dtype == torch.float32 and torch.isfinite(params["W"].grad).all()


def test_targets_that_require_grad_raise():
    model, params, inputs, targets, initial = model_and_data("coupled_oscillators")
    f = hsc.torch.function(model, grad="bptt")
    y = {k: v.requires_grad_() for k, v in targets.items()}
    with pytest.raises(NotImplementedError, match="targets"):
        f(params, inputs, y, initial)


def test_unknown_names_raise():
    model, params, inputs, targets, initial = model_and_data("coupled_oscillators")
    f = hsc.torch.function(model, grad="bptt")
    with pytest.raises(ValueError, match="no zz"):
        f(params, inputs, {"zz": torch.zeros(2, 3, 1)}, initial)
