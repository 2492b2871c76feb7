"""Shared by the tests: where the repository's examples and the `hsc` binary are."""

import os
import pathlib
import subprocess

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def hsc_binary():
    """The command-line hsc the tests compare with: $HSC_BIN, else the workspace's debug build."""
    path = pathlib.Path(os.environ.get("HSC_BIN", REPO / "target" / "debug" / "hsc"))
    if not path.exists():
        pytest.fail(f"no hsc binary at {path}: build it (cargo build -p hsc) or set HSC_BIN")
    return str(path)


def run_hsc(*args):
    """Runs the hsc binary; its stdout, or the test fails with its stderr."""
    done = subprocess.run([hsc_binary(), *map(str, args)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"hsc {' '.join(map(str, args))} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def rel(a, b):
    """max |a - b| / max |b|, as hsc gradcheck and rhel_reference.py measure errors."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.max(np.abs(b))
    return float(np.max(np.abs(a - b)) / (scale if scale > 0 else 1.0))
