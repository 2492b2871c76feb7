"""An hsc model as a PyTorch function whose backward pass is hsc's RHEL, tangent or BPTT pass.

    f = hsc.torch.function(m, grad="rhel")
    # a model with a `loss`: f(params, inputs, targets, initial=None) -> the loss (0-d tensor)
    # a model without one:   f(params, inputs, initial=None) -> {position name: [B, T, ...]}
    loss.backward()

Arguments are dicts of tensors keyed by the model's names, as for `hsc.Model`'s passes. The
kernels run on the CPU: tensors on another device are copied to the CPU and the gradients
copied back. Gradients with respect to targets are not computed: a target that requires grad
raises. The outputs have the dtype of the params.

For a model without a loss the output is the positions after each step, `q_1 .. q_T`, and the
backward pass is the model's gradient pass driven by their gradients. With `grad="rhel"` the
cotangents are scaled so that the largest is 1 before the echoes run (as `hsc train` does),
so `eps` is relative to it.
"""

import numpy as np
import torch

from ._gradient import check, gradient



def function(model, grad="rhel", eps=None, echo="central"):
    """A PyTorch-differentiable function of `model` whose backward is hsc's `grad` pass
    ("rhel", "tangent" or "bptt"); `eps` and `echo` as in `Model.rhel_grad`."""
    check(grad)
    spec = model.spec
    names = {
        "params": [a["name"] for a in spec["params"]],
        "inputs": [a["name"] for a in spec["inputs"]],
        "targets": [a["name"] for a in spec["targets"]] if spec["has_loss"] else [],
        "initial": [s["name"] for s in spec["states"]],
    }
    positions = [s["name"] for s in spec["states"] if not s["momentum"]]

    def grad_pass(arrays, cotangents=None):
        return gradient(model, grad, eps, echo, **arrays, cotangents=cotangents)

    class Function(torch.autograd.Function):
        @staticmethod
        def forward(ctx, layout, *tensors):
            arrays = {group: {} for group in names}
            for (group, name), t in zip(layout, tensors):
                arrays[group][name] = t.detach().cpu().numpy()
            if not arrays["initial"]:
                arrays["initial"] = None
            for (group, name), t in zip(layout, tensors):
                if group == "targets" and t.requires_grad:
                    raise NotImplementedError(
                        f"hsc does not differentiate with respect to targets (target `{name}` requires grad); "
                        "pass target.detach()")
            ctx.layout = layout
            ctx.like = [(t.dtype, t.device) for t in tensors]
            dtype, device = tensors[0].dtype, tensors[0].device
            wants_grad = any(t.requires_grad for t in tensors)
            if spec["has_loss"]:
                if wants_grad:
                    out = grad_pass(arrays)
                    ctx.grads = out
                else:
                    out = model.forward(arrays["params"], inputs=arrays["inputs"], targets=arrays["targets"],
                                        initial=arrays["initial"])
                return torch.tensor(out["loss"], dtype=dtype, device=device)
            ctx.arrays = arrays
            states = model.trajectory(arrays["params"], inputs=arrays["inputs"], initial=arrays["initial"])
            return tuple(torch.from_numpy(np.ascontiguousarray(states["states"][k][:, 1:])).to(dtype=dtype, device=device)
                         for k in positions)

        @staticmethod
        def backward(ctx, *outputs):
            if spec["has_loss"]:
                grads, scale = ctx.grads, outputs[0].item()
            else:
                cotangents = {k: g.detach().cpu().numpy().astype(np.float64) for k, g in zip(positions, outputs)}
                grads, scale = grad_pass(ctx.arrays, cotangents), 1.0
            result = [None]
            for (group, name), (dtype, device), needed in zip(ctx.layout, ctx.like, ctx.needs_input_grad[1:]):
                if not needed or group == "targets":
                    result.append(None)
                    continue
                g = torch.as_tensor(np.asarray(grads[group][name] * scale))
                result.append(g.to(dtype=dtype, device=device))
            return tuple(result)

    def call(params, inputs=None, *rest):
        groups = ["targets", "initial"] if spec["has_loss"] else ["initial"]
        if len(rest) > len(groups):
            raise TypeError(f"too many arguments: the function takes params, inputs, {', '.join(groups)}")
        given = {"params": params, "inputs": inputs or {}}
        given.update({g: r for g, r in zip(groups, rest) if r is not None})
        layout, tensors = [], []
        for group, group_names in names.items():
            values = given.get(group) or {}
            unknown = set(values) - set(group_names)
            if unknown:
                raise ValueError(f"{group}: the model has no {', '.join(sorted(unknown))} "
                                 f"(it has {', '.join(group_names) or 'none'})")
            for name in group_names:
                if name in values:
                    t = values[name]
                    if not isinstance(t, torch.Tensor):
                        t = torch.as_tensor(np.asarray(t))
                    layout.append((group, name))
                    tensors.append(t)
        if not tensors:
            raise ValueError("no params given")
        out = Function.apply(tuple(layout), *tensors)
        if spec["has_loss"]:
            return out
        if not isinstance(out, tuple):
            out = (out,)
        return dict(zip(positions, out))

    return call
