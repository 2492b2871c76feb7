"""Reading a run folder of `hsc train` (or `hsc fit`): the model, the settings, the params."""

import json
import os

from . import _native


class Run:
    """A run folder, read.

    model: the run's model (its `model.ham` with the run's `-D` dims), compiled.
    settings: the run's `command.json` (the command, the seed and every setting).
    metrics: its `metrics.json`, or None before the first epoch ends.
    tensors: every tensor of the checkpoint by name (the whole network, AdamW's moments and
    the normalisation included), as float64 arrays; metadata: the checkpoint's metadata.
    checkpoint: the file read (`best.safetensors`, else `last.safetensors`).
    """

    def __init__(self, folder, model, settings, metrics, tensors, metadata, checkpoint):
        self.folder = folder
        self.model = model
        self.settings = settings
        self.metrics = metrics
        self.tensors = tensors
        self.metadata = metadata
        self.checkpoint = checkpoint

    def layer_params(self, layer=0):
        """The params of the recurrent model in block `layer`, as `model` names them (the dict
        the model's passes take)."""
        prefix = f"block{layer}.model."
        params = {k[len(prefix):]: v for k, v in self.tensors.items() if k.startswith(prefix)}
        if not params:
            blocks = sorted({k.split(".")[0] for k in self.tensors if k.startswith("block")})
            raise KeyError(f"the checkpoint has no layer {layer} (it has {', '.join(blocks) or 'none'})")
        return params

    def __repr__(self):
        return f"<hsc.Run {self.folder}: {self.model.name}, {os.path.basename(self.checkpoint)}>"


def load_run(folder, precision=None, backend=None):
    """Reads the run folder `folder`: the model compiled as the run compiled it (its precision
    and dims unless `precision` is given; `backend` as in `hsc.load`), the settings, the
    metrics and the best checkpoint's tensors (the last one's where no best was written)."""
    from . import load

    folder = os.fspath(folder)
    command_path = os.path.join(folder, "command.json")
    if not os.path.exists(command_path):
        raise FileNotFoundError(f"`{folder}` is not a run folder of hsc: it has no command.json")
    with open(command_path) as f:
        settings = json.load(f)
    dims = {}
    for define in settings.get("defines", []):
        name, _, value = define.partition("=")
        dims[name] = int(value)
    model = load(os.path.join(folder, "model.ham"), dims=dims or None,
                 precision=precision or settings.get("precision", "f64"), backend=backend)
    metrics = None
    metrics_path = os.path.join(folder, "metrics.json")
    if os.path.exists(metrics_path):
        with open(metrics_path) as f:
            metrics = json.load(f)
    for name in ("best.safetensors", "last.safetensors"):
        checkpoint = os.path.join(folder, name)
        if os.path.exists(checkpoint):
            break
    else:
        raise FileNotFoundError(f"`{folder}` has no checkpoint (best.safetensors or last.safetensors)")
    tensors, metadata = _native.read_safetensors(checkpoint)
    return Run(folder, model, settings, metrics, tensors, metadata, checkpoint)
