"""Fairness on a 10-row example computed by hand, and refusal of unusable attributes."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.errors import DataError
from potstill.evaluate.fairness import check_sensitive, fairness_summary
from potstill.evaluate.metrics import get_metric


def proba_of(pred: list[int], n_classes: int = 2) -> np.ndarray:
    p = np.full((len(pred), n_classes), 0.2 / (n_classes - 1))
    p[np.arange(len(pred)), pred] = 0.8
    return p


Y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
GROUPS = np.array(["a"] * 5 + ["b"] * 5, dtype=object)
# teacher: selection rate a 3/5, b 2/5 -> dp 0.2
#          TPR a 2/3, b 2/3; FPR a 1/2, b 0 -> eo 0.5; accuracy a 3/5, b 4/5
TEACHER = proba_of([0, 1, 1, 1, 0, 0, 1, 0, 0, 1])
# student: selection rate a 4/5, b 1/5 -> dp 0.6
#          TPR a 2/3, b 1/3; FPR a 1, b 0 -> eo 1.0; accuracy a 2/5, b 3/5
STUDENT = proba_of([1, 1, 1, 1, 0, 0, 0, 0, 0, 1])


def test_ten_row_example_hand_computed() -> None:
    groups = check_sensitive(GROUPS, attribute="sex", n=10, where="test")
    out = fairness_summary(
        Y, TEACHER, STUDENT, groups, attribute="sex", metric=get_metric("accuracy")
    )
    assert out["attribute"] == "sex" and out["metric"] == "accuracy"
    assert out["groups"]["a"] == {
        "n": 5,
        "teacher": pytest.approx(0.6),
        "student": pytest.approx(0.4),
    }
    assert out["groups"]["b"] == {
        "n": 5,
        "teacher": pytest.approx(0.8),
        "student": pytest.approx(0.6),
    }
    assert out["teacher_dp_diff"] == pytest.approx(0.2)
    assert out["student_dp_diff"] == pytest.approx(0.6)
    assert out["teacher_eo_diff"] == pytest.approx(0.5)
    assert out["student_eo_diff"] == pytest.approx(1.0)
    # the larger widening: dp +0.4, eo +0.5
    assert out["gap_increase"] == pytest.approx(0.5)
    assert out["gap_basis"] == "dp/eo"
    assert out["teacher_metric_gap"] == pytest.approx(0.2)
    assert out["student_metric_gap"] == pytest.approx(0.2)


def test_multiclass_uses_metric_gap() -> None:
    y = np.array([0, 1, 2, 0, 1, 2])
    groups = np.array(["x", "x", "x", "y", "y", "y"], dtype=object)
    teacher = proba_of([0, 1, 2, 0, 1, 0], 3)  # accuracy x 1, y 2/3
    student = proba_of([0, 1, 2, 1, 2, 0], 3)  # accuracy x 1, y 0
    out = fairness_summary(
        y,
        teacher,
        student,
        groups,
        attribute="band",
        metric=get_metric("accuracy"),
        min_group_rows=1,  # the arithmetic on 3-row groups
    )
    assert out["teacher_dp_diff"] is None and out["student_eo_diff"] is None
    assert out["gap_basis"] == "metric"
    assert out["gap_increase"] == pytest.approx(1.0 - 1 / 3)


def test_regression_per_group_metric() -> None:
    y = np.array([0.0, 0.0, 1.0, 1.0])
    groups = np.array([1, 1, 2, 2], dtype=object)  # numeric groups become string keys
    out = fairness_summary(
        y,
        y + np.array([1.0, 1.0, 0.0, 0.0]),
        y + 2.0,
        groups.astype(str),
        attribute="age_band",
        metric=get_metric("rmse"),
        min_group_rows=1,  # the arithmetic on 2-row groups
    )
    assert out["groups"]["1"]["teacher"] == pytest.approx(1.0)
    assert out["groups"]["2"]["teacher"] == pytest.approx(0.0)
    assert out["gap_increase"] == pytest.approx(0.0 - 1.0)


def test_declared_attribute_missing_is_refused() -> None:
    with pytest.raises(DataError, match=r"'sex' is declared.*no sensitive values"):
        check_sensitive(None, attribute="sex", n=10, where="the test split of task 'credit'")


def test_single_group_is_refused() -> None:
    with pytest.raises(DataError, match=r"single group \('a' for all 4 rows\)"):
        check_sensitive(np.array(["a"] * 4, dtype=object), attribute="sex", n=4, where="test")


def test_missing_values_and_length_are_refused() -> None:
    values = np.array(["a", None, "b", float("nan")], dtype=object)
    with pytest.raises(DataError, match=r"2 missing value\(s\) \(rows 1, 3\)"):
        check_sensitive(values, attribute="sex", n=4, where="test")
    with pytest.raises(DataError, match=r"expected shape \(5,\)"):
        check_sensitive(GROUPS[:4], attribute="sex", n=5, where="test")


def test_a_group_too_small_is_reported_apart_and_sets_no_gap() -> None:
    """A blank sensitive cell forms a one-row 'missing' group: shown, not gapped."""
    y = np.append(Y, 1)
    groups = np.append(GROUPS, "missing")
    teacher, student = np.vstack([TEACHER, proba_of([0])]), np.vstack([STUDENT, proba_of([1])])
    out = fairness_summary(
        y, teacher, student, groups, attribute="sex", metric=get_metric("accuracy")
    )
    assert out["small_groups"] == ["missing"] and out["groups"]["missing"]["n"] == 1
    assert out["teacher_dp_diff"] == pytest.approx(0.2)  # as without the one-row group
    assert out["gap_increase"] == pytest.approx(0.5)
    only_one = fairness_summary(
        y[4:], teacher[4:], student[4:], groups[4:], attribute="sex", metric=get_metric("accuracy")
    )  # 'a' has 1 row, 'missing' 1: only 'b' is large enough
    assert only_one["gap_increase"] is None and "fewer than two groups" in only_one["reason"]
