"""The study keeps each student's test scores and pairs every distilled student with the
from-scratch one; several studies (seeds) combine by the stratified paired bootstrap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from potstill.errors import StoreError
from potstill.evaluate import EvalConfig, get_metric
from potstill.evaluate.verdict import HELPED, PairedScores, paired_gain
from potstill.study.versus import (
    combined_versus_scratch,
    load_test_scores,
    predictions_path,
    save_test_scores,
    with_versus_scratch,
)
from potstill.types import Estimate, Quality, Split, Task

CONFIG = EvalConfig(n_resamples=200, seed=5, robustness=False)


def _probs(correct: np.ndarray, y: np.ndarray) -> np.ndarray:
    p1 = np.where(np.where(correct, y, 1 - y) == 1, 0.8, 0.2)
    return np.stack([1 - p1, p1], axis=1).astype(np.float32)


def _study(root: Path, seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    scratch, distilled = _probs(rng.random(n) < 0.7, y), _probs(rng.random(n) < 0.8, y)
    save_test_scores(predictions_path(root, "a__scratch"), y, scratch, metric="accuracy")
    save_test_scores(predictions_path(root, "a__kd"), y, distilled, metric="accuracy")
    return y, scratch, distilled


def test_scores_round_trip_and_a_missing_file_is_named(tmp_path: Path) -> None:
    y, scratch, _ = _study(tmp_path, 0, 50)
    got_y, got, metric = load_test_scores(predictions_path(tmp_path, "a__scratch"))
    assert np.array_equal(got_y, y) and np.array_equal(got, scratch) and metric == "accuracy"
    assert not list((tmp_path / "predictions").glob(".*.tmp"))  # written atomically
    with pytest.raises(StoreError, match=r"a__fitnet\.npz"):
        load_test_scores(predictions_path(tmp_path, "a__fitnet"))


def test_seeds_combine_by_the_stratified_paired_bootstrap(tmp_path: Path) -> None:
    pairs = []
    for i, n in enumerate((300, 200)):
        y, scratch, distilled = _study(tmp_path / f"seed{i}", i, n)
        pairs.append(PairedScores(y, scratch, distilled))
    dirs = [tmp_path / "seed0", tmp_path / "seed1"]
    gain = combined_versus_scratch(dirs, "a__scratch", "a__kd", CONFIG)
    expected = paired_gain(pairs, get_metric("accuracy"), n_resamples=200, seed=5, level=0.95)
    assert gain == expected and gain.n_seeds == 2 and gain.n_test == 500
    per_seed = [
        paired_gain([p], get_metric("accuracy"), n_resamples=0, seed=0, level=0.95).value
        for p in pairs
    ]
    assert gain.value == pytest.approx(np.mean(per_seed))  # seeds weigh equally
    save_test_scores(predictions_path(dirs[1], "a__kd"), pairs[1].y, pairs[1].distilled,
                     metric="f1")  # fmt: skip
    with pytest.raises(StoreError, match="different metrics"):
        combined_versus_scratch(dirs, "a__scratch", "a__kd", CONFIG)


def _quality() -> Quality:
    e = Estimate(0.8)
    return Quality("accuracy", True, e, e, e, e, 4)


def test_every_distilled_student_gets_its_paired_gain() -> None:
    y = np.array([0, 1] * 50)
    empty = Split(np.zeros((1, 1)), np.zeros(1))
    task = Task("t", "financial", "tabular", "classification", empty, empty,
                Split(np.zeros((100, 1)), y), "accuracy", 2)  # fmt: skip
    scores = {"scratch": _probs(np.arange(100) % 4 != 0, y), "kd": _probs(np.ones(100, bool), y)}
    qualities = {"scratch": _quality(), "kd": _quality(), "rkd": _quality()}
    out = with_versus_scratch(qualities, scores, "scratch", task, CONFIG)
    assert out["scratch"].versus_scratch is None and out["rkd"].versus_scratch is None
    kd = out["kd"].versus_scratch
    assert kd is not None and kd["value"] == pytest.approx(0.25) and kd["verdict"] == HELPED
    assert with_versus_scratch(qualities, scores, None, task, CONFIG) == qualities
