"""save_model / load_model: spec + safetensors round trip, integrity, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from potstill.errors import ModelError
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP
from potstill.models.arch.mobilenet import ImageClassifier, MobileNetV2
from potstill.models.export import MODEL_JSON, WEIGHTS_FILE, load_model, load_model_info, save_model

TINY = [[1, 8, 1, 1], [2, 8, 2, 2]]


def _trained_like(module: nn.Module) -> nn.Module:
    """Random weights *and* non-default BatchNorm statistics, so a lost buffer shows."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                assert m.running_mean is not None and m.running_var is not None
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return module.eval()


@pytest.mark.parametrize(
    ("module", "x"),
    [
        (MLP(5, [7, 6], 3, norm="batch"), torch.randn(4, 5)),
        (DeepEnsemble([MLP(5, [7], 2), MLP(5, [4], 2)]), torch.randn(4, 5)),
        (
            ImageClassifier(MobileNetV2(inverted_residual_setting=TINY), 4, input_size=16),
            torch.rand(2, 1, 20, 20),
        ),
    ],
)
def test_round_trip_gives_identical_outputs(
    tmp_path: Path, module: nn.Module, x: torch.Tensor
) -> None:
    module = _trained_like(module)
    path = save_model(module, tmp_path / "m", extra={"method": "kd", "seed": 3})
    assert path == tmp_path / "m"
    assert sorted(p.name for p in path.iterdir()) == [MODEL_JSON, WEIGHTS_FILE]  # no temp files
    loaded = load_model(path)
    assert type(loaded) is type(module) and not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(x), module(x))
    info = load_model_info(path)
    assert info["extra"] == {"method": "kd", "seed": 3}
    assert info["spec"] == module.spec()  # type: ignore[operator]
    assert info["params"] == sum(p.numel() for p in module.parameters())


def test_tampered_weights_are_detected(tmp_path: Path) -> None:
    path = save_model(MLP(3, [4], 2), tmp_path / "m")
    other = save_model(MLP(3, [4], 2), tmp_path / "other")
    (path / WEIGHTS_FILE).write_bytes((other / WEIGHTS_FILE).read_bytes())
    with pytest.raises(ModelError, match="does not match the SHA-256"):
        load_model(path)


def test_spec_and_weights_must_agree(tmp_path: Path) -> None:
    path = save_model(MLP(3, [4], 2), tmp_path / "m")
    meta = json.loads((path / MODEL_JSON).read_text())
    meta["spec"]["hidden"] = [5]
    meta.pop("sha256")
    (path / MODEL_JSON).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="do not fit the MLP architecture"):
        load_model(path)


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="needs a module with a spec"):
        save_model(nn.Linear(2, 2), tmp_path / "x")
    with pytest.raises(ModelError, match=r"no model\.json"):
        load_model(tmp_path)
    (tmp_path / MODEL_JSON).write_text('{"format": "other"}')
    with pytest.raises(ModelError, match="not a potstill model file"):
        load_model(tmp_path)
    (tmp_path / MODEL_JSON).write_text("{not json")
    with pytest.raises(ModelError, match="cannot be read as JSON"):
        load_model(tmp_path)
