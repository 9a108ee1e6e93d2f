"""Tiny seeded tasks and predictors shared by the evaluate tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from potstill.types import Split, Task


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def linear_predictor(weights: np.ndarray, scale: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """A binary 'model': softmax of (0, scale * X @ weights)."""

    def predict(X: np.ndarray) -> np.ndarray:
        z = scale * (np.asarray(X, dtype=np.float64) @ weights)
        return _softmax(np.stack([np.zeros_like(z), z], axis=1))

    return predict


def make_tabular_task(*, n_test: int = 200, sensitive: bool = True, seed: int = 0) -> Task:
    rng = np.random.default_rng(seed)

    def split(n: int) -> Split:
        X = rng.standard_normal((n, 3)).astype(np.float32)
        y = (X[:, 0] + 0.5 * X[:, 1] + 0.7 * rng.standard_normal(n) > 0).astype(np.int64)
        groups = np.where(rng.random(n) < 0.5, "F", "M").astype(object) if sensitive else None
        return Split(X, y, groups)

    return Task(
        name="toy-credit",
        sector="financial",
        kind="tabular",
        problem="classification",
        train=split(300),
        val=split(120),
        test=split(n_test),
        metric="accuracy",
        n_classes=2,
        feature_names=("a", "b", "c"),
        sensitive_name="sex" if sensitive else None,
    )


@pytest.fixture
def tabular_task() -> Task:
    return make_tabular_task()


@pytest.fixture
def teacher() -> Callable[[np.ndarray], np.ndarray]:
    return linear_predictor(np.array([1.0, 0.5, 0.0]), scale=2.0)


@pytest.fixture
def student() -> Callable[[np.ndarray], np.ndarray]:
    return linear_predictor(np.array([1.0, 0.0, 0.2]), scale=6.0)


@pytest.fixture
def make_task() -> Callable[..., Task]:
    return make_tabular_task


@pytest.fixture
def make_linear() -> Callable[..., Callable[[np.ndarray], np.ndarray]]:
    return linear_predictor
