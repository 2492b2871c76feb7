"""Reads an `hsc train` checkpoint with Python's safetensors, as a user would, and checks it:
every tensor of the network has AdamW moments of its shape, the normalisation has one entry
per channel, and the metadata describes the run. Usage: check_checkpoint.py RUN_DIR"""
import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file

run = sys.argv[1]
path = f"{run}/best.safetensors"
tensors = load_file(path)
with safe_open(path, framework="numpy") as f:
    meta = f.metadata()
assert meta["format"] == "hsc-train-1", meta["format"]
arch = json.loads(meta["architecture"])
history = json.loads(meta["history"])
names = [n for n in tensors if not n.startswith(("adam.", "normalizer."))]
for n in names:
    for moment in ("m", "v"):
        other = tensors[f"adam.{moment}.{n}"]
        assert other.shape == tensors[n].shape, (n, moment, other.shape, tensors[n].shape)
    assert tensors[n].dtype == np.float64 and np.isfinite(tensors[n]).all(), n
assert tensors["normalizer.mean"].shape == (arch["channels"],)
assert tensors["encoder.weight"].shape == (arch["hidden"], arch["channels"])
assert tensors["classifier.weight"].shape == (arch["classes"], arch["hidden"])
metrics = json.load(open(f"{run}/metrics.json"))
assert len(history) <= len(metrics["epochs"])
print(f"ok: {path} read by safetensors {__import__('safetensors').__version__}: {len(names)} tensors, "
      f"{sum(tensors[n].size for n in names)} numbers, epoch {meta['best_epoch']}, "
      f"test accuracy {metrics['test_accuracy']}")
