"""Did distillation help? A paired bootstrap of distilled − scratch, and a verdict.

Two students of one system are scored on the *same* test rows, so their metrics are
correlated; comparing their separate intervals (do they overlap?) throws that away and
calls almost every gap "not significant". Here both students are scored on the same
resampled rows (one stream of indices for both), and the statistic is their difference.

*Gain* is the difference in the metric's better direction, in metric units:
``distilled − scratch`` for a higher-is-better metric (accuracy, ROC AUC),
``scratch − distilled`` for a lower-is-better one (RMSE, log loss), so a positive gain
always means the distilled student is better.

*Several seeds* are combined by a stratified bootstrap: each resample draws rows with
replacement within every seed's own test split (seed ``i`` of the list uses the stream
``seed + i``) and averages the per-seed gains with equal weight; the point gain is the mean
of the per-seed gains. The interval then reflects the test rows' sampling, for the
students these seeds trained; spread between training runs enters through the average,
not as a random effect.

The verdict reads the percentile interval at ``level``: "helped (CI above 0)", "hurt (CI
below 0)", else "no measurable difference"; with no interval, "not measured". Picking the
best of k methods and then testing it is optimistic, so the best method's verdict is
corrected by Holm over the k methods' one-sided p-values (:func:`best_of_k`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from potstill.errors import DataError
from potstill.evaluate.bootstrap import percentile_interval, resample_indices
from potstill.evaluate.metrics import MetricSpec

__all__ = [
    "HELPED",
    "HURT",
    "NOT_MEASURED",
    "NO_DIFFERENCE",
    "Gain",
    "PairedScores",
    "best_of_k",
    "gain_samples",
    "holm",
    "paired_gain",
    "verdict",
]

HELPED = "helped (CI above 0)"
HURT = "hurt (CI below 0)"
NO_DIFFERENCE = "no measurable difference"
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class PairedScores:
    """One seed's test rows: the labels and both students' scores on those same rows."""

    y: np.ndarray
    scratch: np.ndarray
    distilled: np.ndarray


@dataclass(frozen=True)
class Gain:
    """Distilled − scratch in the metric's better direction, with its paired interval.

    ``share_above_zero`` is the share of resamples with a positive gain; ``p_helped`` and
    ``p_hurt`` are one-sided bootstrap p-values, ``(1 + #{gain ≤ 0}) / (1 + B)`` and
    ``(1 + #{gain ≥ 0}) / (1 + B)`` over the B finite resamples.
    """

    metric: str
    higher_is_better: bool
    value: float
    low: float | None
    high: float | None
    level: float
    share_above_zero: float | None
    p_helped: float | None
    p_hurt: float | None
    n_resamples: int  # finite resamples behind the interval
    n_seeds: int
    n_test: int  # test rows, summed over seeds

    def to_record(self) -> dict[str, Any]:
        """The record's ``quality.versus_scratch``: these fields and the verdict."""
        return {**asdict(self), "verdict": verdict(self.low, self.high)}


def _check(pair: PairedScores, index: int) -> int:
    n = len(pair.y)
    if n < 2 or len(pair.scratch) != n or len(pair.distilled) != n:
        raise DataError(
            f"Seed #{index} of a paired comparison must give both students scores on the "
            f"same test rows (at least 2). Got {n} labels, {len(pair.scratch)} scratch and "
            f"{len(pair.distilled)} distilled scores. Score both students on the one test split."
        )
    return n


def _gain(spec: MetricSpec, pair: PairedScores, rows: np.ndarray) -> float:
    sign = 1.0 if spec.higher_is_better else -1.0
    y = pair.y[rows]
    return sign * (spec.fn(y, pair.distilled[rows]) - spec.fn(y, pair.scratch[rows]))


def gain_samples(
    pairs: Sequence[PairedScores], spec: MetricSpec, *, n_resamples: int, seed: int
) -> tuple[float, np.ndarray]:
    """The point gain and ``n_resamples`` bootstrap gains (NaN where the metric is undefined).

    Within a seed both students see the same resampled rows; across seeds the rows are
    resampled independently (stratified) and the per-seed gains averaged.
    """
    if not pairs:
        raise DataError("A paired comparison needs at least one seed's scores. Got none.")
    sizes = [_check(p, i) for i, p in enumerate(pairs)]
    point = float(
        np.mean([_gain(spec, p, np.arange(n)) for p, n in zip(pairs, sizes, strict=True)])
    )
    samples = np.zeros(n_resamples)
    for i, (pair, n) in enumerate(zip(pairs, sizes, strict=True)):
        for b, rows in enumerate(resample_indices(n, n_resamples, seed + i)):
            samples[b] += _gain(spec, pair, rows)
    return point, samples / len(pairs)


def paired_gain(
    pairs: Sequence[PairedScores],
    spec: MetricSpec,
    *,
    n_resamples: int,
    seed: int,
    level: float,
) -> Gain:
    """The gain of the distilled student over scratch, combined over ``pairs`` (one per seed)."""
    point, samples = gain_samples(pairs, spec, n_resamples=n_resamples, seed=seed)
    finite = samples[np.isfinite(samples)]
    low, high = percentile_interval(samples, level) if len(samples) else (None, None)
    b = len(finite)
    measured = low is not None
    return Gain(
        metric=spec.name,
        higher_is_better=spec.higher_is_better,
        value=point,
        low=low,
        high=high,
        level=level,
        share_above_zero=float(np.mean(finite > 0)) if measured else None,
        p_helped=float((1 + np.sum(finite <= 0)) / (1 + b)) if measured else None,
        p_hurt=float((1 + np.sum(finite >= 0)) / (1 + b)) if measured else None,
        n_resamples=b,
        n_seeds=len(pairs),
        n_test=sum(len(p.y) for p in pairs),
    )


def verdict(low: float | None, high: float | None) -> str:
    """The verdict of a gain's interval: above 0, below 0, straddling it, or none."""
    if low is None or high is None:
        return NOT_MEASURED
    if low > 0:
        return HELPED
    if high < 0:
        return HURT
    return NO_DIFFERENCE


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (each capped at 1).

    The j-th smallest of k p-values is multiplied by ``k − j`` (j from 0), and the
    adjusted values are made non-decreasing in that order.
    """
    p = np.asarray(p_values, dtype=np.float64)
    if np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise DataError(f"Holm's correction needs p-values in [0, 1]. Got {list(p_values)}.")
    k = len(p)
    order = np.argsort(p, kind="stable")
    stepped = np.minimum(1.0, (k - np.arange(k)) * p[order])
    adjusted = np.empty(k)
    adjusted[order] = np.maximum.accumulate(stepped) if k else stepped
    return [float(v) for v in adjusted]


def best_of_k(
    gains: Mapping[str, Mapping[str, Any]], best: str | None = None
) -> tuple[str | None, float | None, str]:
    """(best method, its Holm-adjusted p_helped, its corrected verdict) over ``gains``.

    ``gains`` maps each of the k methods to its ``versus_scratch`` dict (``value``,
    ``low``, ``high``, ``level``, ``p_helped``); ``best`` is the method picked (default:
    the largest gain). It is called helped only when its interval is above 0 *and* its
    Holm-adjusted one-sided p-value is below ``(1 − level) / 2`` (the share a ``level``
    interval leaves on one side). A best method that hurts stays "hurt": picking the best
    only makes that conservative.
    """
    measured = {m: g for m, g in gains.items() if g.get("p_helped") is not None}
    if best is None:
        best = max(measured, key=lambda m: float(measured[m]["value"]), default=None)
    if best is None or best not in measured:
        return best, None, NOT_MEASURED
    names = list(measured)
    adjusted = dict(zip(names, holm([float(measured[m]["p_helped"]) for m in names]), strict=True))
    chosen = measured[best]
    raw = verdict(chosen.get("low"), chosen.get("high"))
    alpha = (1.0 - float(chosen.get("level") or 0.95)) / 2.0
    if raw == HELPED and adjusted[best] < alpha:
        return best, adjusted[best], HELPED
    return best, adjusted[best], HURT if raw == HURT else NO_DIFFERENCE
