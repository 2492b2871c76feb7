"""An hsc model as a JAX function whose gradient is hsc's RHEL, tangent or BPTT pass.

    f = hsc.jax.function(m, grad="rhel")
    # a model with a `loss`: f(params, inputs, targets, initial=None) -> the loss (a scalar)
    # a model without one:   f(params, inputs, initial=None) -> {position name: [B, T, ...]}
    jax.grad(lambda th: f(th, inputs, targets))(params)

The kernels run on the CPU through `jax.pure_callback`, inside `jax.custom_vjp`; the function
can be traced by `jax.jit`, and `jax.vmap` over an extra leading axis runs the callback once per
element (`vmap_method="sequential"`). Differentiating with respect to targets is not
supported (hsc does not compute that gradient) and raises at trace time.

For a model without a loss the output is the positions after each step, `q_1 .. q_T`, and the
backward pass is the model's gradient pass driven by their cotangents: so hsc's model can be a
recurrent layer between JAX layers. With `grad="rhel"` the cotangents are scaled so that the
largest is 1 before the echoes run (as `hsc train` does), so `eps` is relative to it.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.custom_derivatives import CustomVJPPrimal, SymbolicZero, custom_vjp_primal_tree_values

from ._gradient import check, gradient


def function(model, grad="rhel", eps=None, echo="central"):
    """A JAX-differentiable function of `model` whose VJP is hsc's `grad` pass ("rhel",
    "tangent" or "bptt"); `eps` and `echo` as in `Model.rhel_grad`."""
    check(grad)
    spec = model.spec
    positions = [s for s in spec["states"] if not s["momentum"]]

    def grad_pass(params, inputs, targets, initial, cotangents=None):
        return gradient(model, grad, eps, echo, params, inputs, targets, initial, cotangents)

    def like(x, tree):
        """Numbers `x` (a NumPy tree) with the dtypes of the JAX tree `tree`."""
        return jax.tree_util.tree_map(lambda a, b: np.asarray(a, dtype=b.dtype), x, tree)

    def shapes(tree):
        return jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), tree)

    def batch_and_steps(inputs):
        """`B` and `T` of a layer's output, from its first input."""
        for name, a in inputs.items():
            if jnp.ndim(a) < 2:
                raise ValueError(f"input `{name}` has shape {jnp.shape(a)}; expected (B, T, ...)")
            return jnp.shape(a)[0], jnp.shape(a)[1]
        raise ValueError("hsc.jax.function needs a per-step input to tell B and T of the positions")

    def dtype_of(params):
        leaves = jax.tree_util.tree_leaves(params)
        return jnp.result_type(*leaves) if leaves else jnp.result_type(float)

    def check_targets(targets):
        leaves = jax.tree_util.tree_leaves(targets, is_leaf=lambda t: isinstance(t, CustomVJPPrimal))
        if any(t.perturbed for t in leaves):
            raise NotImplementedError(
                "hsc does not differentiate with respect to targets; wrap them in jax.lax.stop_gradient")

    if spec["has_loss"]:
        @jax.custom_vjp
        def loss_fn(params, inputs, targets, initial):
            out = jax.ShapeDtypeStruct((), dtype_of(params))
            call = lambda p, u, y, x0: np.asarray(
                model.forward(p, inputs=u, targets=y, initial=x0)["loss"], dtype=out.dtype)
            return jax.pure_callback(call, out, params, inputs, targets, initial, vmap_method="sequential")

        def loss_fwd(params, inputs, targets, initial):
            check_targets(targets)
            params, inputs, targets, initial = map(custom_vjp_primal_tree_values, (params, inputs, targets, initial))
            out = (jax.ShapeDtypeStruct((), dtype_of(params)), shapes(params), shapes(inputs), shapes(initial))

            def call(p, u, y, x0):
                g = grad_pass(p, u, y, x0)
                return (np.asarray(g["loss"], dtype=out[0].dtype), like(g["params"], p), like(g["inputs"], u),
                        None if x0 is None else like(g["initial"], x0))

            loss, gp, gu, gx = jax.pure_callback(call, out, params, inputs, targets, initial,
                                                 vmap_method="sequential")
            return loss, (gp, gu, gx, targets)

        def loss_bwd(res, g):
            gp, gu, gx, targets = res
            scale = lambda tree: jax.tree_util.tree_map(lambda x: g * x, tree)
            return (scale(gp), scale(gu), jax.tree_util.tree_map(jnp.zeros_like, targets), scale(gx))

        loss_fn.defvjp(loss_fwd, loss_bwd, symbolic_zeros=True)

        def with_loss(params, inputs=None, targets=None, initial=None):
            return loss_fn(params, inputs or {}, targets or {}, initial)

        return with_loss

    @jax.custom_vjp
    def layer(params, inputs, initial):
        return run_layer(params, inputs, initial)

    def run_layer(params, inputs, initial):
        size, steps = batch_and_steps(inputs)
        dtype = dtype_of(params)
        out = {s["name"]: jax.ShapeDtypeStruct((size, steps) + tuple(s["shape"]), dtype) for s in positions}

        def call(p, u, x0):
            states = model.trajectory(p, inputs=u, initial=x0)["states"]
            return {k: np.asarray(states[k][:, 1:], dtype=dtype) for k in out}

        return jax.pure_callback(call, out, params, inputs, initial, vmap_method="sequential")

    def layer_fwd(params, inputs, initial):
        params, inputs, initial = map(custom_vjp_primal_tree_values, (params, inputs, initial))
        return run_layer(params, inputs, initial), (params, inputs, initial)

    def layer_bwd(res, g):
        params, inputs, initial = res
        out = (shapes(params), shapes(inputs), shapes(initial))
        # Cotangents JAX knows to be zero arrive as symbolic zeros.
        g = {k: (jnp.zeros(v.shape, v.dtype) if isinstance(v, SymbolicZero) else v) for k, v in g.items()}

        def call(p, u, x0, dq):
            r = grad_pass(p, u, None, x0, cotangents=dq)
            return like(r["params"], p), like(r["inputs"], u), None if x0 is None else like(r["initial"], x0)

        return jax.pure_callback(call, out, params, inputs, initial, g, vmap_method="sequential")

    layer.defvjp(layer_fwd, layer_bwd, symbolic_zeros=True)

    def without_loss(params, inputs=None, initial=None):
        return layer(params, inputs or {}, initial)

    return without_loss
