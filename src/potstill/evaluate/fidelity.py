"""Fidelity: how closely the student reproduces the teacher, label-free.

Retention compares both models to the labels; fidelity compares them to each other, which
is what a team replacing a deployed model is asked ("does it decide like the old one?").
Classification: top-1 agreement, KL(teacher ‖ student) and Jensen–Shannon divergence of the
output distributions (natural log, nats; JS is bounded by ln 2). Regression: Pearson
correlation and mean absolute difference of the predictions.

Each measure is a mean of per-row terms (except Pearson), so :func:`fidelity_statistic`
returns a function of resampled rows that the paired bootstrap evaluates cheaply.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import rel_entr

from potstill.types import Problem

__all__ = [
    "FIDELITY_NAMES",
    "agreement",
    "fidelity_statistic",
    "js_divergence",
    "kl_divergence",
    "mean_abs_difference",
    "pearson",
    "row_js",
    "row_kl",
]

#: Names of the fidelity measures by problem, in the order :func:`fidelity_statistic` gives.
FIDELITY_NAMES: dict[str, tuple[str, ...]] = {
    "classification": ("agreement", "kl", "js"),
    "regression": ("pearson", "mad"),
}

_EPS = 1e-12  # floor of q in KL(p ‖ q), so a zero student probability gives a large, finite term


def row_kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row KL(p ‖ q) = Σ p log(p / q) in nats, for probability rows (n, C)."""
    q = np.clip(q, _EPS, None)
    return np.asarray(rel_entr(p, q).sum(axis=1), dtype=np.float64)


def row_js(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Per-row Jensen–Shannon divergence ½KL(p ‖ m) + ½KL(q ‖ m), m = (p + q) / 2, in nats."""
    m = 0.5 * (p + q)
    return np.asarray(0.5 * rel_entr(p, m).sum(axis=1) + 0.5 * rel_entr(q, m).sum(axis=1))


def agreement(teacher: np.ndarray, student: np.ndarray) -> float:
    """Fraction of rows on which both models predict the same top-1 class."""
    return float(np.mean(np.argmax(teacher, axis=1) == np.argmax(student, axis=1)))


def kl_divergence(teacher: np.ndarray, student: np.ndarray) -> float:
    """Mean KL(teacher ‖ student) over rows, in nats."""
    return float(np.mean(row_kl(teacher, student)))


def js_divergence(teacher: np.ndarray, student: np.ndarray) -> float:
    """Mean Jensen–Shannon divergence over rows, in nats."""
    return float(np.mean(row_js(teacher, student)))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two prediction vectors; NaN when either is constant."""
    a = np.asarray(a, dtype=np.float64) - np.mean(a)
    b = np.asarray(b, dtype=np.float64) - np.mean(b)
    denom = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    if denom == 0.0:
        return float("nan")
    return float(np.clip(np.dot(a, b) / denom, -1.0, 1.0))


def mean_abs_difference(teacher: np.ndarray, student: np.ndarray) -> float:
    """Mean |teacher − student| of regression predictions."""
    return float(np.mean(np.abs(np.asarray(teacher) - np.asarray(student))))


def fidelity_statistic(
    problem: Problem, teacher: np.ndarray, student: np.ndarray
) -> Callable[[np.ndarray], list[float]]:
    """A function of row indices returning the measures named by ``FIDELITY_NAMES[problem]``.

    ``statistic(np.arange(n))`` gives the point values; the bootstrap passes resampled rows.
    """
    if problem == "classification":
        agree = (np.argmax(teacher, axis=1) == np.argmax(student, axis=1)).astype(np.float64)
        kl = row_kl(teacher, student)
        js = row_js(teacher, student)

        def classification(rows: np.ndarray) -> list[float]:
            return [float(agree[rows].mean()), float(kl[rows].mean()), float(js[rows].mean())]

        return classification

    abs_diff = np.abs(teacher - student)

    def regression(rows: np.ndarray) -> list[float]:
        return [pearson(teacher[rows], student[rows]), float(abs_diff[rows].mean())]

    return regression
