"""Fairness: does the student treat the groups of a sensitive attribute like the teacher does?

Compression can cost accuracy unevenly: the rows a small model gives up first are often a
minority group's. For the attribute a system declares (e.g. ``sex`` in the credit data)
we report, through fairlearn's ``MetricFrame``, the task metric per group for both models
and, for binary classification, the demographic parity difference and the equalized odds
difference of the top-1 predictions.

``gap_increase`` is what the ``max_fairness_gap_increase`` gate reads: for binary
classification the larger of (student − teacher) demographic-parity and equalized-odds
differences; otherwise (multiclass, regression, where dp/eo are undefined) the increase of
the between-group spread (max − min) of the task metric. ``gap_basis`` says which.

A declared attribute that is absent, has missing values or a single group is refused with
a :class:`~potstill.errors.DataError`: a fairness section computed on nothing would read
as a clean bill of health.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference

from potstill.errors import DataError
from potstill.evaluate.metrics import MetricSpec

__all__ = ["check_sensitive", "fairness_summary"]


def check_sensitive(
    sensitive: np.ndarray | None, *, attribute: str | None, n: int, where: str
) -> np.ndarray:
    """The sensitive values of ``n`` rows as group labels (str); refuse unusable ones."""
    name = attribute or "<unnamed>"
    if sensitive is None:
        raise DataError(
            f"The sensitive attribute '{name}' is declared but {where} carries no sensitive "
            "values (Split.sensitive is None). Load that column with the data, or remove "
            "'sensitive' from the system config."
        )
    values = np.asarray(sensitive, dtype=object)
    if values.ndim != 1 or len(values) != n:
        raise DataError(
            f"The sensitive attribute '{name}' of {where} must hold one value per row: "
            f"expected shape ({n},), got {values.shape}."
        )
    missing = np.flatnonzero(pd.isna(values))
    if len(missing):
        rows = ", ".join(str(r) for r in missing[:5])
        raise DataError(
            f"The sensitive attribute '{name}' of {where} has {len(missing)} missing "
            f"value(s) (rows {rows}{', ...' if len(missing) > 5 else ''}). Drop or label "
            "those rows before evaluating fairness."
        )
    groups = np.array([str(v) for v in values], dtype=object)
    unique = np.unique(groups)
    if len(unique) < 2:
        raise DataError(
            f"The sensitive attribute '{name}' of {where} has a single group "
            f"({unique[0]!r} for all {n} rows); fairness gaps need at least two groups. "
            "Declare another attribute or use a test split that holds several groups."
        )
    return groups


def _frame(spec: MetricSpec, y_true: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> Any:
    return MetricFrame(
        metrics={spec.name: spec.fn, "n": lambda y, s: len(y)},
        y_true=y_true,
        y_pred=scores,
        sensitive_features=pd.Series(groups, name="group"),
    )


def _nan_to_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


#: Groups with fewer test rows are reported apart and left out of the gaps: a one-row group
#: (a blank cell, a typo) would otherwise set the gap on its own.
MIN_GROUP_ROWS = 5


def _per_group(
    metric: MetricSpec, y: np.ndarray, teacher: np.ndarray, student: np.ndarray, groups: np.ndarray
) -> dict[str, dict[str, Any]]:
    t_by = _frame(metric, y, teacher, groups).by_group
    s_by = _frame(metric, y, student, groups).by_group
    return {
        str(g): {
            "n": int(t_by.loc[g, "n"]),
            "teacher": _nan_to_none(t_by.loc[g, metric.name]),
            "student": _nan_to_none(s_by.loc[g, metric.name]),
        }
        for g in t_by.index
    }


def _unmeasured(
    attribute: str, metric: MetricSpec, per_group: dict[str, Any], small: list[str], rows: int
) -> dict[str, Any]:
    """The summary when fewer than two groups have MIN_GROUP_ROWS test rows: no gaps."""
    gaps = ("teacher_dp_diff", "student_dp_diff", "teacher_eo_diff", "student_eo_diff",
            "teacher_metric_gap", "student_metric_gap", "gap_increase")  # fmt: skip
    return {
        "attribute": attribute, "metric": metric.name, "groups": per_group,
        **dict.fromkeys(gaps), "gap_basis": "none", "small_groups": small,
        "min_group_rows": rows,
        "reason": f"fewer than two groups have {rows} test rows",
    }  # fmt: skip


def fairness_summary(
    y_true: np.ndarray,
    teacher: np.ndarray,
    student: np.ndarray,
    groups: np.ndarray,
    *,
    attribute: str,
    metric: MetricSpec,
    min_group_rows: int = 0,
) -> dict[str, Any]:
    """The ``Quality.fairness`` mapping (layout documented on :class:`potstill.types.Quality`).

    ``groups`` comes from :func:`check_sensitive`; ``teacher``/``student`` are the scores
    (probabilities or values) on the test split.
    """
    min_rows = min_group_rows or MIN_GROUP_ROWS
    per_group = _per_group(metric, y_true, teacher, student, groups)
    small = sorted(g for g, v in per_group.items() if v["n"] < min_rows)
    keep = ~np.isin(groups.astype(str), small)
    if len(np.unique(groups[keep])) < 2:  # the gaps would compare too few rows to mean anything
        return _unmeasured(attribute, metric, per_group, small, min_rows)
    y_true, teacher, student, groups = y_true[keep], teacher[keep], student[keep], groups[keep]
    t_frame = _frame(metric, y_true, teacher, groups)
    s_frame = _frame(metric, y_true, student, groups)
    t_gap = float(t_frame.difference()[metric.name])
    s_gap = float(s_frame.difference()[metric.name])
    result: dict[str, Any] = {
        "attribute": attribute,
        "metric": metric.name,
        "groups": per_group,
        "teacher_dp_diff": None,
        "student_dp_diff": None,
        "teacher_eo_diff": None,
        "student_eo_diff": None,
        "teacher_metric_gap": _nan_to_none(t_gap),
        "student_metric_gap": _nan_to_none(s_gap),
        "gap_increase": _nan_to_none(s_gap - t_gap),
        "gap_basis": "metric",
        "small_groups": small,
        "min_group_rows": min_rows,
    }
    if metric.problem == "classification" and teacher.shape[1] == 2:
        gaps = {}
        for who, scores in (("teacher", teacher), ("student", student)):
            y_pred = np.argmax(scores, axis=1)
            gaps[f"{who}_dp_diff"] = float(
                demographic_parity_difference(y_true, y_pred, sensitive_features=groups)
            )
            gaps[f"{who}_eo_diff"] = float(
                equalized_odds_difference(y_true, y_pred, sensitive_features=groups)
            )
        increase = max(
            gaps["student_dp_diff"] - gaps["teacher_dp_diff"],
            gaps["student_eo_diff"] - gaps["teacher_eo_diff"],
        )
        result.update({k: _nan_to_none(v) for k, v in gaps.items()})
        result["gap_increase"] = _nan_to_none(increase)
        result["gap_basis"] = "dp/eo"
    return result
