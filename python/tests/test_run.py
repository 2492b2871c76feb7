"""hsc.load_run on a run folder written by `hsc train`."""

import numpy as np
import pytest

import hsc
from conftest import EXAMPLES, REPO, run_hsc


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "run"
    run_hsc("train", EXAMPLES / "nonlin_hru.ham", "-D", "P=8", "-D", "N=4", "--hidden", 8, "--epochs", 2,
            "--data", REPO / "train" / "tests" / "data" / "Ragged", "--out", out)
    return out


def test_load_run(run):
    r = hsc.load_run(run)
    assert r.model.name == "NonlinHRU" and r.model.spec["dims"] == {"P": 8, "N": 4}
    assert r.settings["hidden"] == 8 and r.settings["defines"] == ["P=8", "N=4"]
    assert r.checkpoint.endswith("best.safetensors") and r.metadata["format"] == "hsc-train-1"
    assert r.metrics is not None and "test_accuracy" in r.metrics
    layer = r.layer_params(0)
    assert set(layer) == {a["name"] for a in r.model.spec["params"]}
    # The layer's params run through the model's passes.
    u = np.random.default_rng(0).standard_normal((2, 7, 4))
    out = r.model.forward(layer, {"u": u})
    assert out["state"]["q"].shape == (2, 8)
    with pytest.raises(KeyError, match="no layer 5"):
        r.layer_params(5)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        hsc.load_run(tmp_path)
    (tmp_path / "command.json").write_text("{}")
    (tmp_path / "model.ham").write_text((EXAMPLES / "coupled_oscillators.ham").read_text())
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        hsc.load_run(tmp_path)
    (tmp_path / "best.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{}")
    with pytest.raises(ValueError, match="not a safetensors file"):
        hsc.load_run(tmp_path)
