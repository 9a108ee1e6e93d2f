"""Calibration: can the student's probabilities be read as probabilities?

Distilled students are often over-confident, which matters wherever a score feeds a
decision threshold (credit, triage). We report the expected calibration error (ECE) of
both models with the reliability diagram behind it, and optionally fit a single
temperature to the student on the *validation* split (Guo et al., 2017) to show how much
of the gap a one-parameter fix recovers on the test split.

Binning: ``n_bins`` equal-width bins on the top-1 confidence, right-closed
(``(b/B, (b+1)/B]``, the first also holds 0), as ``sklearn.calibration.calibration_curve``
bins. ECE = Σ_b (n_b / n) · |accuracy_b − confidence_b|.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

__all__ = [
    "apply_temperature",
    "calibration_summary",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_bins",
]

_LOG_T_BOUNDS = (-3.0, 3.0)  # temperature searched in [e^-3, e^3] ≈ [0.05, 20]


def _bin_stats(
    y_true: np.ndarray, proba: np.ndarray, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per bin: row count, summed confidence, summed correctness."""
    confidence = proba.max(axis=1)
    correct = (proba.argmax(axis=1) == y_true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(bins, weights=confidence, minlength=n_bins)
    acc_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    return count, conf_sum, acc_sum


def reliability_bins(y_true: np.ndarray, proba: np.ndarray, n_bins: int) -> dict[str, list[Any]]:
    """The reliability diagram: mean confidence, accuracy and count per bin.

    Empty bins have ``None`` confidence and accuracy (and count 0).
    """
    count, conf_sum, acc_sum = _bin_stats(y_true, proba, n_bins)
    filled = count > 0
    return {
        "confidence": [
            float(c / k) if f else None for c, k, f in zip(conf_sum, count, filled, strict=True)
        ],
        "accuracy": [
            float(a / k) if f else None for a, k, f in zip(acc_sum, count, filled, strict=True)
        ],
        "count": [int(k) for k in count],
    }


def expected_calibration_error(y_true: np.ndarray, proba: np.ndarray, n_bins: int = 15) -> float:
    """ECE of class probabilities ``proba`` (n, C) against labels ``y_true``."""
    _, conf_sum, acc_sum = _bin_stats(y_true, proba, n_bins)
    return float(np.sum(np.abs(acc_sum - conf_sum)) / len(y_true))


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(log(proba) / T): the probabilities a temperature-scaled model would give."""
    logits = np.log(np.clip(proba, 1e-12, None))
    return np.asarray(softmax(logits / temperature, axis=1))


def fit_temperature(y_true: np.ndarray, proba: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of softmax(log p / T).

    Searched over log T in [-3, 3] with a bounded scalar minimiser (deterministic).
    """
    logits = np.log(np.clip(proba, 1e-12, None))
    rows = np.arange(len(y_true))

    def nll(log_t: float) -> float:
        return float(-np.mean(log_softmax(logits / np.exp(log_t), axis=1)[rows, y_true]))

    result = minimize_scalar(nll, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(result.x))


def calibration_summary(
    y_test: np.ndarray,
    teacher: np.ndarray,
    student: np.ndarray,
    *,
    n_bins: int,
    val: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The ``Quality.calibration`` mapping (layout documented on :class:`potstill.types.Quality`).

    ``val`` = (validation labels, student probabilities on the validation split) enables
    temperature scaling; without it ``temperature`` and ``student_ece_scaled`` are ``None``.
    """
    temperature: float | None = None
    scaled: float | None = None
    if val is not None:
        temperature = fit_temperature(*val)
        scaled = expected_calibration_error(y_test, apply_temperature(student, temperature), n_bins)
    return {
        "n_bins": n_bins,
        "teacher_ece": expected_calibration_error(y_test, teacher, n_bins),
        "student_ece": expected_calibration_error(y_test, student, n_bins),
        "teacher_bins": reliability_bins(y_test, teacher, n_bins),
        "student_bins": reliability_bins(y_test, student, n_bins),
        "temperature": temperature,
        "student_ece_scaled": scaled,
    }
