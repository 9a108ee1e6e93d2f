"""Evaluation cache keys: the rows hashed once per system, the key pinned so that a change
to it (every cached evaluation missing once) is a decision, not an accident."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
import torch

from potstill.evaluate import EvalConfig
from potstill.study.eval_cache import (
    evaluation_key,
    rows_digest,
)
from potstill.types import DatasetInfo, Split, Task


def _task(sensitive: np.ndarray | None = None) -> Task:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return Task(
        name="t", sector="other", kind="tabular", problem="classification",
        train=Split(X[:20], y[:20]), val=Split(X[20:25], y[20:25]),
        test=Split(X[25:], y[25:], sensitive), metric="accuracy", n_classes=2,
        info=DatasetInfo("t", "generated", "n/a"),
    )  # fmt: skip


@pytest.fixture
def fixed_versions(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library versions every key holds, fixed so that a pinned key outlives upgrades."""
    monkeypatch.setattr(torch, "__version__", "2.0.0")
    monkeypatch.setattr(np, "__version__", "1.26.0")
    monkeypatch.setattr(sklearn, "__version__", "1.4.0")


@pytest.mark.usefixtures("fixed_versions")
@pytest.mark.parametrize(
    ("sensitive", "pinned"),
    [
        (None, "89c16a9694663322a7a865e87e7794398d9190ba8139fa6ce163775988316971"),
        (
            np.array(["a", "b", "a", "b", "a"], dtype=object),
            "0d226d45228a700ad755ab3e13acfd3a16be76c7c08bf58eb2d6e9c1be31ec44",
        ),
    ],
)
def test_the_key_is_pinned(sensitive: np.ndarray | None, pinned: str) -> None:
    """A change here means every evaluation cached so far misses once (a new EvalConfig
    field does that too: then bump EVAL_CACHE_VERSION and re-pin)."""
    task = _task(sensitive)
    assert evaluation_key("student", rows_digest(task), task, EvalConfig()) == pinned


def test_the_rows_digest_is_the_rows_part_of_the_key() -> None:
    task, config = _task(), EvalConfig()
    key = evaluation_key("student", rows_digest(task), task, config)
    assert key == evaluation_key("student", rows_digest(_task()), _task(), config)
    labelled = _task(np.array(["a", "b", "a", "b", "a"], dtype=object))
    assert rows_digest(labelled) != rows_digest(task)
    assert key != evaluation_key("student", rows_digest(labelled), labelled, config)
