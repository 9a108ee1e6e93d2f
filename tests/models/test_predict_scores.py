"""predict_scores and count_params on torch modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from potstill.errors import DataError, ModelError
from potstill.models.arch.mlp import MLP
from potstill.models.predict import count_params, predict_scores


def _fixed_linear(weight: list[list[float]], bias: list[float]) -> nn.Linear:
    layer = nn.Linear(len(weight[0]), len(weight))
    layer.weight.data = torch.tensor(weight)
    layer.bias.data = torch.tensor(bias)
    return layer


def test_classification_scores_are_softmax_probabilities() -> None:
    # logits of row [1, 2] = [1*1 + 2*0, 1*0 + 2*1] + [0, 0] = [1, 2]
    model = _fixed_linear([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])
    scores = predict_scores(
        model, np.array([[1.0, 2.0]], dtype=np.float32), problem="classification"
    )
    e1, e2 = np.exp(1.0), np.exp(2.0)
    np.testing.assert_allclose(scores, [[e1 / (e1 + e2), e2 / (e1 + e2)]], rtol=1e-6)
    assert scores.dtype == np.float64


def test_single_logit_is_binary_sigmoid() -> None:
    model = _fixed_linear([[1.0]], [0.0])
    scores = predict_scores(
        model, np.array([[0.0], [2.0]], dtype=np.float32), problem="classification"
    )
    p = 1 / (1 + np.exp(-2.0))
    np.testing.assert_allclose(scores, [[0.5, 0.5], [1 - p, p]], rtol=1e-6)


def test_regression_values_are_flat() -> None:
    model = _fixed_linear([[2.0, -1.0]], [0.5])
    X = np.array([[1.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    np.testing.assert_allclose(predict_scores(model, X, problem="regression"), [1.5, -2.5])


def test_batching_does_not_change_scores_and_mode_is_restored() -> None:
    torch.manual_seed(0)
    model = MLP(4, [8], 3, dropout=0.5, norm="batch").train()
    X = np.random.default_rng(0).normal(size=(37, 4)).astype(np.float32)
    full = predict_scores(model, X, problem="classification", batch_size=1024)
    small = predict_scores(model, X, problem="classification", batch_size=5)
    np.testing.assert_allclose(full, small, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(full.sum(axis=1), 1.0, rtol=1e-6)
    assert model.training  # put back as it was


def test_bad_inputs_and_outputs_are_refused() -> None:
    model = MLP(2, [3], 2)
    with pytest.raises(DataError, match="0 rows"):
        predict_scores(model, np.zeros((0, 2), dtype=np.float32), problem="classification")
    with pytest.raises(DataError, match="numeric array"):
        predict_scores(model, np.array(["a", "b"], dtype=object), problem="classification")
    with pytest.raises(ModelError, match=r"regression model must output \(N, 1\)"):
        predict_scores(model, np.zeros((2, 2), dtype=np.float32), problem="regression")


def test_count_params_hand_computed() -> None:
    # Linear(3, 4): 12 + 4; Linear(4, 2): 8 + 2 → 26; shared module counted once
    shared = nn.Linear(4, 4)
    assert count_params(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))) == 26
    assert count_params(nn.Sequential(shared, shared)) == 20
