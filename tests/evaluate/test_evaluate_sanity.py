"""A teacher no better than a constant, and a retention far from 1, are flagged."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from potstill.evaluate.sanity import is_suspect, retention_warnings, teacher_vs_trivial
from potstill.types import Estimate, Quality, Split, Task


def test_a_teacher_with_swapped_columns_loses_to_the_majority_class(tabular_task: Task) -> None:
    y = tabular_task.val.y
    good = np.eye(2)[y] * 0.8 + 0.1
    check = teacher_vs_trivial(tabular_task, good, y, split="val")
    majority = max(np.mean(y), 1 - np.mean(y))
    assert check.teacher == 1.0 and np.isclose(check.trivial, majority) and check.better
    assert "majority class" in check.trivial_predictor and check.rows == len(y)
    swapped = teacher_vs_trivial(tabular_task, good[:, ::-1], y, split="val")
    assert swapped.teacher == 0.0 and not swapped.better
    assert swapped.to_dict()["better"] is False


def test_roc_auc_and_regression_trivial_predictors(tabular_task: Task) -> None:
    y = tabular_task.val.y
    auc_task = replace(tabular_task, metric="roc_auc")
    check = teacher_vs_trivial(auc_task, np.eye(2)[1 - y], y, split="val")
    assert check.trivial == 0.5 and check.teacher == 0.0 and not check.better
    rng = np.random.default_rng(0)
    yr = rng.normal(10, 2, size=100).astype(np.float32)
    reg = replace(tabular_task, problem="regression", metric="rmse", n_classes=0,
                  train=Split(tabular_task.train.X[:100], yr))  # fmt: skip
    near = teacher_vs_trivial(reg, yr + 0.1, yr, split="train")
    assert not near.higher_is_better and near.better and near.trivial > 1.5
    assert not teacher_vs_trivial(reg, yr[::-1] * 3, yr, split="train").better


def _quality(teacher: float, student: float) -> Quality:
    est = Estimate
    return Quality(metric="accuracy", higher_is_better=True, teacher=est(teacher),
                   student=est(student), retention=est(student / teacher),
                   difference=est(student - teacher), n_test=100)  # fmt: skip


def test_retention_outside_half_to_one_and_a_half_is_suspect() -> None:
    assert retention_warnings(_quality(0.9, 0.88)) == []
    assert retention_warnings(None) == []
    (warning,) = retention_warnings(_quality(0.04, 0.245))
    assert warning["code"] == "retention_suspect" and "612.5%" in warning["message"]
    assert len(retention_warnings(_quality(0.9, 0.3))) == 1
    assert is_suspect({"warnings": [warning]}) and not is_suspect({"warnings": []})
