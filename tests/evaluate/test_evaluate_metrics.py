"""Metric registry and each metric against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, roc_auc_score

from potstill.errors import ConfigError, DataError, ModelError
from potstill.evaluate.metrics import (
    METRICS,
    binary_auc,
    check_scores,
    get_metric,
    list_metrics,
    metric_value,
    register_metric,
    retention,
)


def onehot_like(pred: list[int], n_classes: int = 2, conf: float = 0.8) -> np.ndarray:
    """Probabilities whose argmax is ``pred``."""
    p = np.full((len(pred), n_classes), (1 - conf) / (n_classes - 1))
    p[np.arange(len(pred)), pred] = conf
    return p


def test_accuracy_hand_computed() -> None:
    # predictions 0,1,0,0 vs labels 0,1,1,0: 3 of 4 right
    assert metric_value("accuracy", np.array([0, 1, 1, 0]), onehot_like([0, 1, 0, 0])) == 0.75


def test_binary_roc_auc_hand_computed() -> None:
    # positive scores 0.35, 0.8 vs negatives 0.1, 0.4: pairs won 1+1+0+1 = 3 of 4
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    proba = np.stack([1 - scores, scores], axis=1)
    assert metric_value("roc_auc", np.array([0, 0, 1, 1]), proba) == pytest.approx(0.75)


def test_multiclass_roc_auc_is_sklearn_ovr_macro() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=60)
    proba = rng.dirichlet([1, 1, 1], size=60)
    expected = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    assert metric_value("roc_auc", y, proba) == pytest.approx(expected)


def test_roc_auc_undefined_with_one_class_is_nan() -> None:
    assert math.isnan(get_metric("roc_auc").fn(np.array([1, 1, 1]), onehot_like([1, 0, 1])))


def test_f1_binary_and_macro_hand_computed() -> None:
    # TP=2 (rows 0, 4), FP=1 (row 3), FN=1 (row 1): F1 = 2*2 / (2*2 + 1 + 1)
    y = np.array([1, 1, 0, 0, 1])
    assert metric_value("f1", y, onehot_like([1, 0, 0, 1, 1])) == pytest.approx(4 / 6)
    # 3 classes, every class: one right, one wrong -> per-class F1 0.5 each
    y3 = np.array([0, 0, 1, 1, 2, 2])
    pred = [0, 1, 1, 2, 2, 0]
    assert metric_value("f1", y3, onehot_like(pred, 3)) == pytest.approx(0.5)


def test_log_loss_hand_computed() -> None:
    proba = np.array([[0.8, 0.2], [0.4, 0.6]])
    expected = -(math.log(0.8) + math.log(0.6)) / 2
    assert metric_value("log_loss", np.array([0, 1]), proba) == pytest.approx(expected)


def test_regression_metrics_hand_computed() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([[2.0], [1.0], [4.0], [3.0]])  # (n, 1) is accepted
    assert metric_value("rmse", y, pred) == pytest.approx(1.0)
    assert metric_value("mae", y, pred) == pytest.approx(1.0)
    assert metric_value("mse", y, pred) == pytest.approx(1.0)
    # r2 = 1 - SS_res / SS_tot = 1 - 4 / 5
    assert metric_value("r2", y, pred) == pytest.approx(0.2)


def test_directions_and_problems() -> None:
    assert get_metric("rmse").higher_is_better is False
    assert get_metric("log_loss").higher_is_better is False
    assert get_metric("accuracy").higher_is_better is True
    assert set(list_metrics("regression")) == {"rmse", "mse", "mae", "r2"}


def test_retention_inverts_for_lower_is_better() -> None:
    assert float(retention(0.9, 0.81, higher_is_better=True)) == pytest.approx(0.9)
    # rmse teacher 2, student 4: the student keeps half the quality
    assert float(retention(2.0, 4.0, higher_is_better=False)) == pytest.approx(0.5)
    assert math.isnan(float(retention(0.0, 0.5, higher_is_better=True)))
    both = retention(np.array([2.0, 1.0]), np.array([1.0, 1.0]), higher_is_better=False)
    np.testing.assert_allclose(both, [2.0, 1.0])


def test_unknown_metric_lists_valid_names() -> None:
    with pytest.raises(ConfigError, match=r"Unknown metric 'acc'.*'accuracy'.*'rmse'"):
        get_metric("acc")


def test_duplicate_registration_refused() -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_metric("accuracy", higher_is_better=True, problem="classification")
    assert "accuracy" in METRICS


def test_scores_must_be_probabilities() -> None:
    logits = np.array([[2.0, -1.0], [0.5, 0.5]])
    with pytest.raises(ModelError, match=r"probabilities.*Row 0.*softmax"):
        check_scores(logits, "classification", n=2)
    with pytest.raises(ModelError, match=r"shape \(2, 3\)"):
        check_scores(onehot_like([0, 1]), "classification", n=2, n_classes=3)
    with pytest.raises(ModelError, match="finite"):
        check_scores(np.array([1.0, np.nan]), "regression", n=2)
    # float32 rounding is tolerated and renormalised exactly
    p = check_scores(np.array([[0.3, 0.7000001]], dtype=np.float32), "classification", n=1)
    assert p.sum() == pytest.approx(1.0, abs=1e-12)


def test_labels_are_checked() -> None:
    with pytest.raises(DataError, match="class id 2"):
        metric_value("accuracy", np.array([0, 2]), onehot_like([0, 1]))
    with pytest.raises(DataError, match="integer class ids"):
        metric_value("accuracy", np.array([0.5, 1.0]), onehot_like([0, 1]))


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 200),
    seed=st.integers(0, 2**31 - 1),
    decimals=st.sampled_from([None, 0, 1]),
)
def test_rank_auc_equals_scikit_learns_roc_auc(n: int, seed: int, decimals: int | None) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]  # both classes present
    score = rng.normal(size=n)
    if decimals is not None:  # many ties
        score = np.round(score, decimals)
    assert binary_auc(y == 1, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)


def test_accuracy_and_multiclass_auc_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    p = rng.dirichlet(np.ones(4), 300)
    assert get_metric("accuracy").fn(y, p) == accuracy_score(y, p.argmax(1))
    auc = roc_auc_score(y, p, multi_class="ovr")
    assert get_metric("roc_auc").fn(y, p) == pytest.approx(auc, abs=1e-12)
