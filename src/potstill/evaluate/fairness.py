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


def fairness_summary(
    y_true: np.ndarray,
    teacher: np.ndarray,
    student: np.ndarray,
    groups: np.ndarray,
    *,
    attribute: str,
    metric: MetricSpec,
) -> dict[str, Any]:
    """The ``Quality.fairness`` mapping (layout documented on :class:`potstill.types.Quality`).

    ``groups`` comes from :func:`check_sensitive`; ``teacher``/``student`` are the scores
    (probabilities or values) on the test split.
    """
    t_frame = _frame(metric, y_true, teacher, groups)
    s_frame = _frame(metric, y_true, student, groups)
    t_by, s_by = t_frame.by_group, s_frame.by_group
    per_group = {
        str(g): {
            "n": int(t_by.loc[g, "n"]),
            "teacher": _nan_to_none(t_by.loc[g, metric.name]),
            "student": _nan_to_none(s_by.loc[g, metric.name]),
        }
        for g in t_by.index
    }
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
