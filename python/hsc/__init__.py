"""hsc from Python: compiled Hamiltonian models with NumPy arrays in and out.

    import hsc
    m = hsc.load("examples/nonlin_hru.ham", dims={"P": 64}, precision="f64")
    params = m.init(seed=0)
    grads = m.rhel_grad(params, inputs={"u": u}, cotangents={"q": dq})

`hsc.jax.function` and `hsc.torch.function` make a model's gradient pass the gradient of a
JAX or PyTorch function; `hsc.load_run` reads a run folder of `hsc train`.
"""

import warnings as _warnings

from . import _native
from ._native import BackendUnavailable, Model, ModelError, __version__
from .run import Run, load_run

__all__ = ["load", "loads", "load_run", "Model", "Run", "ModelError", "BackendUnavailable", "__version__"]


def load(path, dims=None, precision="f64", backend=None):
    """Reads, checks and compiles the model file `path`.

    dims: overrides of the file's `dim` values, as `{"P": 64}` (the CLI's `-D P=64`).
    precision: "f64" or "f32".
    backend: "c", "cranelift", "interp" or "cuda"; None picks what the CLI picks, C where a C
    compiler works, else Cranelift (with a warning saying why). `m.backend` says which ran.

    Raises ModelError (a ValueError) with hsc's diagnostics when the model has errors, and
    BackendUnavailable (a RuntimeError) when the backend asked for cannot run here.
    """
    m = _native.load(str(path), _dims(dims), precision, backend)
    _note(m)
    return m


def loads(source, dims=None, precision="f64", backend=None, name="<source>"):
    """As `load`, from the model's source text (`name` labels it in the diagnostics)."""
    m = _native.loads(source, _dims(dims), precision, backend, name)
    _note(m)
    return m


def _dims(dims):
    if dims is None:
        return None
    if not isinstance(dims, dict):
        raise TypeError("dims must be a dict such as {'P': 64}")
    out = []
    for k, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"dims: `{k}` must be an int, not {type(v).__name__}")
        out.append((str(k), v))
    return out


def _note(m):
    if m.backend_note:
        _warnings.warn(m.backend_note, RuntimeWarning, stacklevel=3)
