"""``evaluate_pair``: everything the student kept and lost against its teacher, in one call.

The study hands this box a task and two predictors and gets back a
:class:`~potstill.types.Quality`; it never computes a metric itself. Both models are
scored on the same test rows, every interval comes from one paired bootstrap stream (so
the retention and difference intervals account for the correlation of the two models),
temperature scaling is fitted on the validation split only, and every random draw comes
from ``EvalConfig.seed``: the same inputs and seed give identical output.

A declared sensitive attribute that cannot be used is refused *before* any measurement,
so a run never silently drops its fairness section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from potstill.errors import ConfigError, DataError
from potstill.evaluate.bootstrap import estimate, paired_bootstrap
from potstill.evaluate.calibration import calibration_summary
from potstill.evaluate.config import EvalConfig
from potstill.evaluate.fairness import check_sensitive, fairness_summary
from potstill.evaluate.fidelity import FIDELITY_NAMES, fidelity_statistic
from potstill.evaluate.metrics import (
    SECONDARY,
    MetricSpec,
    check_scores,
    check_targets,
    get_metric,
    retention,
)
from potstill.evaluate.robustness import list_perturbations, robustness_summary
from potstill.events import Stage, Ticker
from potstill.types import Quality, Task

__all__ = ["Predictor", "evaluate_pair"]

#: Given X, class probabilities (n, C) for classification or values (n,) for regression.
Predictor = Callable[[np.ndarray], np.ndarray]


def _checked(predictor: Predictor, task: Task, who: str) -> Callable[[np.ndarray], np.ndarray]:
    """``predictor`` with its output checked and converted by :func:`check_scores`."""
    n_classes = task.n_classes if task.problem == "classification" else None

    def predict(X: np.ndarray) -> np.ndarray:
        return check_scores(
            predictor(X),
            task.problem,
            n=len(X),
            n_classes=n_classes,
            who=f"{who} predictions for task '{task.name}'",
        )

    return predict


def _check_task(task: Task) -> np.ndarray:
    spec = get_metric(task.metric)
    if spec.problem != task.problem:
        raise ConfigError(
            f"The metric {task.metric!r} of task '{task.name}' is a {spec.problem} metric but "
            f"the task is {task.problem}. Choose one of the {task.problem} metrics."
        )
    if len(task.test) < 2:
        raise DataError(
            f"The test split of task '{task.name}' must hold at least 2 rows to evaluate. "
            f"Got {len(task.test)}."
        )
    y = check_targets(task.test.y, task.problem, where=f"The test labels of task '{task.name}'")
    if task.problem == "classification" and y.max() >= task.n_classes:
        raise DataError(
            f"The test labels of task '{task.name}' hold class id {y.max()} but the task has "
            f"n_classes={task.n_classes}."
        )
    return y


def _robustness_ticker(stage: Stage | None, task: Task, config: EvalConfig) -> Ticker:
    names = config.perturbations
    points = len(list_perturbations(task.kind) if names is None else names)
    return Ticker(stage, points * len(config.severities), "severity", steps=points * 10)


def evaluate_pair(
    task: Task,
    teacher: Predictor,
    student: Predictor,
    config: EvalConfig | None = None,
    *,
    stage: Stage | None = None,
) -> Quality:
    """Measure ``student`` against ``teacher`` on ``task.test`` (and ``task.val`` for scaling).

    Returns the primary metric ``task.metric`` of both with paired-bootstrap intervals,
    retention and difference with intervals, secondary metrics, fidelity (with intervals),
    calibration (classification), fairness (when the test split carries a sensitive
    attribute) and robustness curves, laid out as documented on :class:`Quality`.

    ``stage`` hears of the bootstrap resamples and the robustness points as they are done.

    Raises ``ConfigError`` for an unknown or mismatched metric, ``DataError`` for unusable
    labels or sensitive attribute, ``ModelError`` when a predictor returns malformed scores.
    """
    config = config if config is not None else EvalConfig()
    y = _check_task(task)
    spec = get_metric(task.metric)
    groups = _groups(task, config, len(y))
    predict_t, predict_s = _checked(teacher, task, "teacher"), _checked(student, task, "student")
    t_scores, s_scores = predict_t(task.test.X), predict_s(task.test.X)
    headline = _headline(task, spec, y, t_scores, s_scores, config, stage)
    secondary = {
        name: {
            "teacher": get_metric(name).fn(y, t_scores),
            "student": get_metric(name).fn(y, s_scores),
        }
        for name in SECONDARY[task.problem]
    }
    calibration = None
    if task.problem == "classification":
        val = None
        if config.temperature_scaling and len(task.val) > 0:
            y_val = check_targets(
                task.val.y, task.problem, where=f"The validation labels of task '{task.name}'"
            )
            val = (y_val, predict_s(task.val.X))
        calibration = calibration_summary(y, t_scores, s_scores, n_bins=config.ece_bins, val=val)
    fairness = None
    if groups is not None:
        attribute = task.sensitive_name or "sensitive"
        fairness = fairness_summary(y, t_scores, s_scores, groups, attribute=attribute, metric=spec)
    robustness = None
    if config.robustness:
        robustness = robustness_summary(
            task, predict_t, predict_s, spec, severities=config.severities,
            names=config.perturbations, seed=config.seed,
            progress=_robustness_ticker(stage, task, config),
        )  # fmt: skip
    return Quality(
        metric=spec.name, higher_is_better=spec.higher_is_better, n_test=len(y),
        secondary=secondary, calibration=calibration, fairness=fairness,
        robustness=robustness, **headline,
    )  # fmt: skip


def _groups(task: Task, config: EvalConfig, n: int) -> np.ndarray | None:
    """The test split's sensitive groups, checked, when fairness is measured."""
    if not config.fairness or (task.sensitive_name is None and task.test.sensitive is None):
        return None
    return check_sensitive(
        task.test.sensitive,
        attribute=task.sensitive_name,
        n=n,
        where=f"the test split of task '{task.name}'",
    )


def _headline(
    task: Task, spec: MetricSpec, y: np.ndarray, t_scores: np.ndarray, s_scores: np.ndarray,
    config: EvalConfig, stage: Stage | None,
) -> dict[str, Any]:  # fmt: skip
    """Both models' metric, retention, difference and fidelity, each with its paired-bootstrap
    interval (the same resampled rows for every statistic)."""
    n, hib, level = len(y), spec.higher_is_better, config.level
    fidelity = fidelity_statistic(task.problem, t_scores, s_scores)

    def statistic(rows: np.ndarray) -> list[float]:
        return [spec.fn(y[rows], t_scores[rows]), spec.fn(y[rows], s_scores[rows]),
                *fidelity(rows)]  # fmt: skip

    point = np.asarray(statistic(np.arange(n)), dtype=np.float64)
    boot = paired_bootstrap(statistic, n, n_resamples=config.n_resamples, seed=config.seed,
                            progress=Ticker(stage, config.n_resamples, "resample"))  # fmt: skip

    def column(k: int) -> np.ndarray | None:
        return None if boot.size == 0 else boot[:, k]

    boot_ret = None if boot.size == 0 else retention(boot[:, 0], boot[:, 1], higher_is_better=hib)
    boot_diff = None if boot.size == 0 else boot[:, 1] - boot[:, 0]
    point_ret = float(retention(point[0], point[1], higher_is_better=hib))
    return {
        "teacher": estimate(point[0], column(0), n=n, level=level),
        "student": estimate(point[1], column(1), n=n, level=level),
        "retention": estimate(point_ret, boot_ret, n=n, level=level),
        "difference": estimate(point[1] - point[0], boot_diff, n=n, level=level),
        "fidelity": {
            name: estimate(point[2 + k], column(2 + k), n=n, level=level)
            for k, name in enumerate(FIDELITY_NAMES[task.problem])
        },
    }
