"""DeepEnsemble: log of the mean member probability, mean regression, per-depth taps."""

from __future__ import annotations

import math

import pytest
import torch

from potstill.errors import ConfigError
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP
from potstill.models.hooks import FeatureTap


def _members(n: int = 3, out: int = 4) -> list[MLP]:
    torch.manual_seed(0)
    return [MLP(5, [6, 7], out).eval() for _ in range(n)]


def test_classification_output_is_log_of_mean_probability() -> None:
    members = _members()
    ensemble = DeepEnsemble(members).eval()
    x = torch.randn(8, 5)
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m(x), dim=1) for m in members]).mean(0).log()
        got = ensemble(x)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got.exp().sum(1), torch.ones(8))


def test_two_member_hand_computation() -> None:
    # Member probabilities p1=(1,0)-ish and p2=(0.5,0.5) → mean (0.75,0.25) in the limit.
    members = [MLP(1, [1], 2).eval() for _ in range(2)]
    for m, bias in zip(members, ([50.0, 0.0], [0.0, 0.0]), strict=True):
        torch.nn.init.zeros_(m.head.weight)
        m.head.bias.data = torch.tensor(bias)
    with torch.no_grad():
        out = DeepEnsemble(members).eval()(torch.zeros(1, 1))
    torch.testing.assert_close(out.exp(), torch.tensor([[0.75, 0.25]]), rtol=1e-5, atol=1e-6)
    assert math.isclose(float(out[0, 1]), math.log(0.25), rel_tol=1e-5)


def test_regression_output_is_mean_prediction() -> None:
    members = _members(out=1)
    ensemble = DeepEnsemble(members, problem="regression").eval()
    x = torch.randn(8, 5)
    with torch.no_grad():
        expected = torch.stack([m(x) for m in members]).mean(0)
        torch.testing.assert_close(ensemble(x), expected)


def test_taps_are_concatenated_member_block_outputs() -> None:
    members = _members()
    ensemble = DeepEnsemble(members).eval()
    assert ensemble.hidden_layer_names() == ["taps.0", "taps.1"]
    assert ensemble.embedding_layer_name() == "taps.1"
    x = torch.randn(8, 5)
    with torch.no_grad(), FeatureTap(ensemble, ensemble.hidden_layer_names()) as tap:
        out = tap(x)
        first = [m.blocks[0](x) for m in members]
        second = [m.blocks[1](h) for m, h in zip(members, first, strict=True)]
    assert out.hidden is not None
    torch.testing.assert_close(out.hidden[0], torch.cat(first, dim=1))
    torch.testing.assert_close(out.hidden[1], torch.cat(second, dim=1))
    assert out.hidden[1].shape == (8, 3 * 7)


def test_spec_round_trip() -> None:
    ensemble = DeepEnsemble(_members(2), problem="classification")
    spec = ensemble.spec()
    assert spec["type"] == "DeepEnsemble" and len(spec["members"]) == 2
    assert DeepEnsemble.from_spec(spec).spec() == spec


def test_members_must_agree() -> None:
    with pytest.raises(ConfigError, match=r"Member 0 has \(5, 4, 2\); member 1 has \(5, 3, 2\)"):
        DeepEnsemble([MLP(5, [6, 7], 4), MLP(5, [6, 7], 3)])
    with pytest.raises(ConfigError, match="at least one MLP"):
        DeepEnsemble([])
    with pytest.raises(ConfigError, match="'problem' parameter of DeepEnsemble"):
        DeepEnsemble(_members(1), problem="ranking")  # type: ignore[arg-type]
