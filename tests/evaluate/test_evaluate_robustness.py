"""Perturbations do what their docstrings say, seeded; curves and robust retention."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.errors import ConfigError
from potstill.evaluate.metrics import get_metric
from potstill.evaluate.robustness import (
    Reference,
    get_perturbation,
    list_perturbations,
    robustness_summary,
)
from potstill.types import Kind, Split, Task


def test_registry_per_kind() -> None:
    assert list_perturbations("tabular") == ["gaussian_noise", "missing_features"]
    assert list_perturbations("image") == ["gaussian_noise", "blur", "occlusion"]
    assert list_perturbations("text") == ["token_dropout", "typos"]
    with pytest.raises(
        ConfigError,
        match=r"Unknown perturbation 'blur' for tabular.*"
        r"'gaussian_noise', 'missing_features'",
    ):
        get_perturbation("blur", "tabular")


def test_gaussian_noise_is_scaled_by_feature_std() -> None:
    X = np.zeros((20000, 2), dtype=np.float32)
    ref = Reference(mean=np.zeros(2), std=np.array([1.0, 10.0]))
    out = get_perturbation("gaussian_noise", "tabular").fn(X, 0.5, np.random.default_rng(0), ref)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.std(axis=0), [0.5, 5.0], rtol=0.03)
    again = get_perturbation("gaussian_noise", "tabular").fn(X, 0.5, np.random.default_rng(0), ref)
    np.testing.assert_array_equal(out, again)


def test_missing_features_replaced_by_train_mean() -> None:
    X = np.ones((1000, 4), dtype=np.float32)
    ref = Reference(mean=np.array([0.0, 0.0, 0.0, 5.0]), std=np.ones(4))
    out = get_perturbation("missing_features", "tabular").fn(X, 0.3, np.random.default_rng(1), ref)
    missing = out != 1.0
    assert missing.mean() == pytest.approx(0.3, abs=0.02)
    assert set(np.unique(out[:, :3][missing[:, :3]])) == {0.0}
    assert set(np.unique(out[:, 3][missing[:, 3]])) == {5.0}
    full = get_perturbation("missing_features", "tabular").fn(X, 1.0, np.random.default_rng(1), ref)
    np.testing.assert_array_equal(full, np.tile([0.0, 0.0, 0.0, 5.0], (1000, 1)))


def test_image_perturbations() -> None:
    rng = np.random.default_rng(0)
    ref = Reference(mean=np.full((1, 2, 1, 1), -7.0), std=np.ones((1, 2, 1, 1)))
    flat = np.full((3, 2, 28, 28), 0.5, dtype=np.float32)
    blurred = get_perturbation("blur", "image").fn(flat, 1.0, rng, ref)
    np.testing.assert_allclose(blurred, flat, atol=1e-6)  # blur keeps a constant image
    spike = np.zeros((1, 1, 28, 28), dtype=np.float32)
    spike[0, 0, 14, 14] = 1.0
    spread = get_perturbation("blur", "image").fn(spike, 1.0, rng, ref)
    assert spread.sum() == pytest.approx(1.0, rel=1e-4) and spread.max() < 0.1
    occluded = get_perturbation("occlusion", "image").fn(flat, 0.5, rng, ref)
    # side = 0.5 * 28 / 2 = 7: 49 pixels per channel per image set to the channel mean
    assert (occluded == -7.0).sum(axis=(2, 3)).tolist() == [[49, 49]] * 3


def test_text_perturbations() -> None:
    X = np.array(["the quick brown fox", "jumps over lazy dogs"], dtype=object)
    rng = np.random.default_rng(0)
    dropped = get_perturbation("token_dropout", "text").fn(X, 1.0, rng, Reference())
    assert dropped.tolist() == ["", ""]
    kept = get_perturbation("token_dropout", "text").fn(X, 1e-9, rng, Reference())
    assert kept.tolist() == X.tolist()
    typos = get_perturbation("typos", "text").fn(X, 1.0, rng, Reference())
    for before, after in zip(X, typos, strict=True):
        for a, b in zip(before.split(), after.split(), strict=True):
            assert a != b and abs(len(a) - len(b)) <= 1  # exactly one edit per token


def _task(kind: Kind, X: np.ndarray, y: np.ndarray) -> Task:
    split = Split(X, y)
    return Task(
        "t",
        "benchmark",
        kind,
        "classification",
        split,
        split,
        split,
        "accuracy",
        2,
    )


def test_summary_identical_models_retain_everything() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)

    def model(X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-3 * X[:, 0]))
        return np.stack([1 - p, p], axis=1)

    out = robustness_summary(
        _task("tabular", X, y),
        model,
        model,
        get_metric("accuracy"),
        severities=(0.5, 1.0),
        names=None,
        seed=0,
    )
    assert set(out["perturbations"]) == {"gaussian_noise", "missing_features"}
    curve = out["perturbations"]["gaussian_noise"]
    assert curve["severity"] == [0.5, 1.0]
    assert curve["teacher"] == curve["student"]
    assert curve["teacher"][1] < 1.0  # noise costs accuracy
    assert out["robust_retention"] == pytest.approx(1.0)


def test_summary_text_retention_hand_computed() -> None:
    X = np.array(["good good", "bad bad", "good", "bad"], dtype=object)
    y = np.array([1, 0, 1, 0])

    def teacher(X: np.ndarray) -> np.ndarray:  # reads the words: right unless text is empty
        p = np.array([0.9 if "good" in t else (0.1 if "bad" in t else 0.4) for t in X])
        return np.stack([1 - p, p], axis=1)

    def student(X: np.ndarray) -> np.ndarray:  # always says 0: accuracy 0.5
        return np.tile([0.7, 0.3], (len(X), 1))

    out = robustness_summary(
        _task("text", X, y),
        teacher,
        student,
        get_metric("accuracy"),
        severities=(1.0,),
        names=("token_dropout",),
        seed=0,
    )
    # everything dropped: teacher predicts 0 everywhere -> accuracy 0.5 = student's
    assert out["perturbations"]["token_dropout"]["teacher"] == [0.5]
    assert out["robust_retention"] == pytest.approx(1.0)
