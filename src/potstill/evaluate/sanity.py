"""Figures that say a comparison cannot be right: a teacher no better than a constant,
a retention far from 1.

A teacher whose class order does not match the task's, or that is fed another target or
its features in another order, scores *worse* than always predicting the majority class;
distilling it yields a student that "keeps 612 % of the accuracy". Both checks here are
cheap and measured, never assumed: :func:`teacher_vs_trivial` scores the teacher against
the trivial predictor of the task's metric (the training class shares for every row —
the majority class for accuracy, 0.5 for ROC AUC — or the training mean for a
regression), and :func:`retention_warnings` flags a retention outside
:data:`SUSPECT_RETENTION`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from potstill.evaluate.metrics import get_metric, metric_value
from potstill.types import Quality, Task

__all__ = [
    "SUSPECT_RETENTION",
    "TeacherCheck",
    "is_suspect",
    "retention_warnings",
    "teacher_vs_trivial",
]

#: A retention outside this range says the comparison itself is wrong far more often than
#: that a student is that much better (or worse) than its teacher.
SUSPECT_RETENTION = (0.5, 1.5)


@dataclass(frozen=True)
class TeacherCheck:
    """The teacher's metric on labelled rows beside a trivial predictor's."""

    metric: str
    higher_is_better: bool
    teacher: float
    trivial: float
    trivial_predictor: str
    rows: int
    split: str

    @property
    def better(self) -> bool:
        """Whether the teacher beats the trivial predictor (an undefined figure does not)."""
        if not (math.isfinite(self.teacher) and math.isfinite(self.trivial)):
            return False
        if self.higher_is_better:
            return self.teacher > self.trivial
        return self.teacher < self.trivial

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "better": self.better}


def _trivial(task: Task, n: int) -> tuple[np.ndarray, str]:
    """Scores of the trivial predictor for ``n`` rows, and what it predicts."""
    y = task.train.y
    if task.problem == "regression":
        mean = float(np.mean(y))
        return np.full(n, mean), f"the training mean ({mean:.4g}) for every row"
    shares = np.bincount(y.astype(np.int64), minlength=task.n_classes) / len(y)
    majority = task.class_names[int(np.argmax(shares))] if task.class_names else "0"
    what = (
        f"always the majority class {majority!r}"
        if task.metric == "accuracy"
        else f"the training class shares for every row (majority {majority!r})"
    )
    return np.tile(shares, (n, 1)), what


def teacher_vs_trivial(
    task: Task, scores: np.ndarray, y: np.ndarray, *, split: str
) -> TeacherCheck:
    """The task's metric of the teacher's ``scores`` on rows with targets ``y`` (of
    ``split``), beside that of the trivial predictor fitted on the train split."""
    spec = get_metric(task.metric)
    trivial, what = _trivial(task, len(y))
    return TeacherCheck(
        metric=spec.name,
        higher_is_better=spec.higher_is_better,
        teacher=metric_value(spec.name, y, scores),
        trivial=metric_value(spec.name, y, trivial),
        trivial_predictor=what,
        rows=len(y),
        split=split,
    )


def retention_warnings(quality: Quality | None) -> list[dict[str, Any]]:
    """``[{"code": "retention_suspect", ...}]`` when the retention is outside
    :data:`SUSPECT_RETENTION`, else ``[]``."""
    if quality is None or not math.isfinite(quality.retention.value):
        return []
    low, high = SUSPECT_RETENTION
    value = quality.retention.value
    if low <= value <= high:
        return []
    return [
        {
            "code": "retention_suspect",
            "value": value,
            "range": [low, high],
            "message": (
                f"Retention {value:.1%} is outside [{low:.0%}, {high:.0%}]: check that the "
                f"teacher's classes, target and features match the task (teacher "
                f"{quality.metric} {quality.teacher.value:.4g}, student "
                f"{quality.student.value:.4g})."
            ),
        }
    ]


def is_suspect(record: Mapping[str, Any]) -> bool:
    """Whether a record (JSON form) carries a suspect-retention warning."""
    return any(w.get("code") == "retention_suspect" for w in record.get("warnings") or [])
