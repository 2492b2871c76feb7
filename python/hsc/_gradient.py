"""The gradient pass that hsc.jax and hsc.torch call in their backward passes."""

import numpy as np

GRADS = ("rhel", "tangent", "bptt")


def check(grad):
    """Raises on a name that is not one of `GRADS`."""
    if grad not in GRADS:
        raise ValueError(f"unknown grad `{grad}` (expected one of {', '.join(GRADS)})")


def gradient(model, grad, eps, echo, params, inputs=None, targets=None, initial=None, cotangents=None):
    """`model`'s `grad` pass: `{"loss", "params", "inputs", "initial"}`. With `grad="rhel"` the
    cotangents (of a model without a loss) are scaled so that the largest is 1 before the echoes
    run, as `hsc train` does, so `eps` is relative to it; the gradients are scaled back."""
    kwargs = dict(inputs=inputs, initial=initial)
    if model.spec["has_loss"]:
        kwargs["targets"] = targets
    scale = 1.0
    if cotangents is not None:
        cotangents = {k: np.asarray(c, np.float64) for k, c in cotangents.items()}
        if grad == "rhel":
            largest = max((float(np.max(np.abs(c))) for c in cotangents.values()), default=0.0)
            scale = largest if largest > 0 else 1.0
            cotangents = {k: c / scale for k, c in cotangents.items()}
        kwargs["cotangents"] = cotangents
    if grad == "rhel":
        out = model.rhel_grad(params, eps=eps, echo=echo, **kwargs)
    elif grad == "tangent":
        out = model.tangent_grad(params, **kwargs)
    else:
        out = model.bptt_grad(params, **kwargs)
    if scale != 1.0:
        for group in ("params", "inputs", "initial"):
            out[group] = {k: v * scale for k, v in out[group].items()}
    return out
