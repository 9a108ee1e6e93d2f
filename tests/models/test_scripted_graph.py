"""A TorchScript CNN whose forward scales its input exposes its submodules' outputs."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from potstill.models import Teacher
from potstill.models.hooks import FeatureTap
from potstill.models.scripted import ScriptChain, script_taps
from potstill.models.scripted_graph import ScriptGraph, script_graph


class _ScaledCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * 4 * 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x / 16.0))


class _OneCall(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) * 2.0


def _compiled(kind: str, module: nn.Module, example: torch.Tensor) -> torch.jit.ScriptModule:
    """Traced or scripted, the way TorchScript teachers are made (torch deprecates both)."""
    module = module.eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        return torch.jit.trace(module, example) if kind == "trace" else torch.jit.script(module)


@pytest.mark.parametrize("kind", ["trace", "script"])
def test_scaled_cnn_exposes_its_feature_block(kind: str) -> None:
    torch.manual_seed(0)
    eager = _ScaledCNN()
    scripted = _compiled(kind, eager, torch.zeros(2, 1, 8, 8))
    taps = script_taps(scripted)
    assert isinstance(taps, ScriptGraph)  # not a chain: the forward scales its input
    assert taps.hidden == ("features",) and taps.embedding == "features"
    x = torch.rand(5, 1, 8, 8) * 16
    with FeatureTap(scripted, hidden=["features"], embedding="features") as tap:
        out = tap(x)
    with torch.no_grad():
        expected = eager.features(x / 16.0)
    assert out.hidden is not None and torch.allclose(out.hidden[0], expected, atol=1e-6)
    assert out.embedding is not None and out.embedding.shape == (5, 64)
    assert torch.allclose(out.logits, eager(x), atol=1e-6)


def test_teacher_from_scaled_cnn_has_hidden_layers() -> None:
    scripted = _compiled("trace", _ScaledCNN(), torch.zeros(2, 1, 8, 8))
    teacher = Teacher.from_torch(scripted, problem="classification")
    assert teacher.hidden_layer_names() == ["features"]
    assert teacher.embedding_layer_name() == "features"


def test_one_submodule_call_exposes_nothing() -> None:
    scripted = _compiled("script", _OneCall(), torch.zeros(2, 4))
    assert script_graph(scripted) is None and script_taps(scripted) is None
    assert script_graph(_OneCall()) is None  # eager modules use forward hooks instead


def test_plain_sequential_mlp_still_uses_its_chain() -> None:
    mlp = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    assert isinstance(script_taps(_compiled("script", mlp, torch.zeros(2, 4))), ScriptChain)
