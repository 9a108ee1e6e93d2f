"""Paired, seeded bootstrap confidence intervals.

Teacher and student are measured on the same test rows, so their figures are correlated:
an interval for the *difference* or the *retention* must resample the same rows for both
(a paired bootstrap), or it would be far too wide. Every statistic of one evaluation is
computed on one shared stream of resampled row indices, drawn from ``seed``: the same
inputs and seed give bit-identical intervals.

Intervals are percentile intervals. A resample on which a statistic is undefined (e.g.
ROC AUC of a resample holding one class) is left out; when fewer than half of the
resamples give a finite value the interval is reported as unknown (``None``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from potstill.types import Estimate

__all__ = ["estimate", "paired_bootstrap", "percentile_interval", "resample_indices"]


def resample_indices(n: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """``n_resamples`` arrays of ``n`` row indices drawn with replacement from ``range(n)``."""
    rng = np.random.default_rng(seed)
    for _ in range(n_resamples):
        yield rng.integers(0, n, size=n)


def paired_bootstrap(
    statistic: Callable[[np.ndarray], Sequence[float]],
    n: int,
    *,
    n_resamples: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Evaluate ``statistic(rows)`` on every resample; returns an array (n_resamples, k).

    ``statistic`` computes all k figures (teacher metric, student metric, agreement, …)
    from the same resampled rows, which is what makes the bootstrap paired.
    ``progress(1)`` is called after each resample.
    """
    values = []
    for rows in resample_indices(n, n_resamples, seed):
        values.append(np.asarray(statistic(rows), dtype=np.float64))
        if progress is not None:
            progress(1)
    if not values:
        return np.empty((0, 0))
    return np.vstack(values)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """The central ``level`` percentile interval of the finite ``samples``."""
    samples = np.asarray(samples, dtype=np.float64)
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0 or 2 * len(finite) < len(samples):
        return None, None
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return float(low), float(high)


def estimate(value: float, samples: np.ndarray | None, *, n: int, level: float) -> Estimate:
    """An :class:`Estimate` of ``value`` with the interval of its bootstrap ``samples``.

    With no samples (bootstrap disabled) the interval and level are ``None``.
    """
    value = float(value)
    if samples is None or len(samples) == 0:
        return Estimate(value=value, low=None, high=None, n=n, level=None)
    low, high = percentile_interval(samples, level)
    return Estimate(value=value, low=low, high=high, n=n, level=level)
