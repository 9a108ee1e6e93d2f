"""Evaluation cache keys: the rows hashed once per system, and a cache written under the
keys of before (the rows hashed inside each cell's key) still read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sklearn
import torch

from potstill.evaluate import EvalConfig
from potstill.study.eval_cache import (
    EvaluationCache,
    evaluation_key,
    legacy_evaluation_key,
    rows_digest,
)
from potstill.types import DatasetInfo, Estimate, Quality, Split, Task


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
        (None, "0dd50e6d66a25a0faeb7ab80cd3e511f89389db6e95cfb39b3faa33d6df1a3c9"),
        (
            np.array(["a", "b", "a", "b", "a"], dtype=object),
            "048235f6655f2d031592e99846cd3d6e64184becb601609062e6155b8e0220de",
        ),
    ],
)
def test_the_legacy_key_is_the_one_caches_were_written_under(
    sensitive: np.ndarray | None, pinned: str
) -> None:
    """Pinned from the code before the rows had their own digest. A change here means every
    evaluation cached so far misses (a new EvalConfig field does that too: then re-pin)."""
    assert legacy_evaluation_key("student", _task(sensitive), EvalConfig()) == pinned


def test_the_rows_digest_is_the_rows_part_of_the_key() -> None:
    task, config = _task(), EvalConfig()
    key = evaluation_key("student", rows_digest(task), task, config)
    assert key == evaluation_key("student", rows_digest(_task()), _task(), config)
    labelled = _task(np.array(["a", "b", "a", "b", "a"], dtype=object))
    assert rows_digest(labelled) != rows_digest(task)
    assert key != evaluation_key("student", rows_digest(labelled), labelled, config)
    assert key != legacy_evaluation_key("student", task, config)


def test_an_entry_kept_under_the_legacy_key_is_read_and_moved(tmp_path: Path) -> None:
    task, config = _task(), EvalConfig()
    key = evaluation_key("student", rows_digest(task), task, config)
    legacy = legacy_evaluation_key("student", task, config)
    kept = Quality(metric="accuracy", higher_is_better=True, teacher=Estimate(0.9),
                   student=Estimate(0.8), retention=Estimate(0.8 / 0.9),
                   difference=Estimate(-0.1), n_test=5)  # fmt: skip
    cache = EvaluationCache(tmp_path)
    cache.store(legacy, kept, np.arange(5.0))

    def compute() -> tuple[Quality, np.ndarray]:
        raise AssertionError("evaluated again although the legacy entry was kept")

    quality, scores, hit = cache.evaluate(key, compute, lambda: legacy)
    assert hit and quality.student.value == 0.8 and scores.tolist() == [0.0, 1, 2, 3, 4]
    assert cache.fetch(key) is not None  # moved: the next study reads the new key directly
