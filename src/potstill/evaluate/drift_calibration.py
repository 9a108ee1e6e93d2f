"""Thresholds for the drift statistics, calibrated by bootstrap for a window's size.

A PSI of 0.1 means little on a window of 50 rows and a lot on one of 50,000: the spread of
every statistic under *no drift* shrinks with the window. So the thresholds are drawn from
the reference itself. Each bootstrap replicate draws a pseudo-reference (as many rows as
the reference sample) and a pseudo-window (``window`` rows) from the reference sample, and
computes every statistic between them: the distribution of each statistic when live
traffic comes from the same population as the reference, with the sampling noise of both
sides. The thresholds are one common upper quantile of those distributions, the lowest
for which at most ``alpha`` of the replicates break *any* threshold (a family-wise level:
ten inputs do not give ten times the false alarms).

Live statistics (:func:`live_statistics`) use the same definitions: PSI on the reference's
bins, KS against the reference sample (scipy), chi-squared against the reference shares.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from potstill._validation import check_scalar
from potstill.evaluate.drift import (
    CategoricalReference,
    NumericReference,
    Reference,
    bin_counts,
    chi2_statistic,
    ks_statistic,
    psi,
    smoothed_shares,
)

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_RESAMPLES",
    "MIN_EXPECTED",
    "Thresholds",
    "calibrate",
    "category_groups",
    "live_statistics",
]

#: Share of no-drift windows allowed to raise an alarm (about one in 500 clean windows).
DEFAULT_ALPHA = 0.002
DEFAULT_RESAMPLES = 2000
#: Elements per bootstrap chunk (bounds memory for large windows).
_CHUNK_ELEMENTS = 2_000_000
#: Categories expected fewer times than this in a window are pooled with unseen values
#: (the usual condition of the chi-squared approximation; rare levels would dominate it).
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class Thresholds:
    """Calibrated thresholds, keyed by (input, statistic), for windows of ``window`` rows."""

    window: int
    alpha: float
    n_resamples: int
    values: dict[tuple[str, str], float]

    def as_json(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for (name, stat), value in self.values.items():
            out.setdefault(name, {})[stat] = value
        return out


def _row_counts(idx: np.ndarray, k: int) -> np.ndarray:
    """Per row of ``idx`` (b, m) the counts of each value in 0..k-1: (b, k)."""
    b = idx.shape[0]
    flat = (np.arange(b)[:, None] * k + idx).ravel()
    return np.bincount(flat, minlength=b * k).reshape(b, k).astype(np.float64)


def _chunks(n_boot: int, width: int) -> list[int]:
    size = max(1, _CHUNK_ELEMENTS // max(width, 1))
    return [min(size, n_boot - s) for s in range(0, n_boot, size)]


def _numeric_boot(
    ref: NumericReference, window: int, n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    s = ref.sample
    n = len(s)
    bins = np.searchsorted(np.asarray(ref.edges), s, side="right")
    k = len(ref.edges) + 1
    uniq, pos = np.unique(s, return_inverse=True)
    psis, kss = [], []
    for b in _chunks(n_boot, max(n, window, len(uniq))):
        ri, wi = rng.integers(0, n, size=(b, n)), rng.integers(0, n, size=(b, window))
        psis.append(psi(_row_counts(bins[ri], k) / n, _row_counts(bins[wi], k) / window))
        ref_cdf = np.cumsum(_row_counts(pos[ri], len(uniq)), axis=1) / n
        win_cdf = np.cumsum(_row_counts(pos[wi], len(uniq)), axis=1) / window
        kss.append(np.abs(ref_cdf - win_cdf).max(axis=1))
    return {"psi": np.concatenate(psis), "ks": np.concatenate(kss)}


def category_groups(ref: CategoricalReference, window: int) -> np.ndarray:
    """The bucket of each code 0..K (K: unseen): categories expected at least
    :data:`MIN_EXPECTED` times in ``window`` rows keep their own; the rest share the last."""
    shares = np.append(np.asarray(ref.shares, dtype=np.float64), 0.0)
    frequent = shares * window >= MIN_EXPECTED
    return np.where(frequent, np.cumsum(frequent) - 1, int(frequent.sum()))


def _categorical_boot(
    ref: CategoricalReference, window: int, n_boot: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    groups = category_groups(ref, window)
    codes = groups[ref.sample]
    n, k = len(codes), int(groups.max()) + 1
    out = []
    for b in _chunks(n_boot, max(n, window)):
        ri, wi = rng.integers(0, n, size=(b, n)), rng.integers(0, n, size=(b, window))
        expected = smoothed_shares(_row_counts(codes[ri], k))
        out.append(chi2_statistic(expected, _row_counts(codes[wi], k)))
    return {"chi2": np.concatenate(out)}


def _family_thresholds(samples: np.ndarray, alpha: float) -> np.ndarray:
    """The lowest common rank r of the sorted columns such that at most ``alpha`` of the
    rows exceed any column's r-th value; returns those values (one per column)."""
    ordered = np.sort(samples, axis=0)
    lo, hi = 0, len(samples) - 1  # at hi (the maxima) no row exceeds

    def rate(r: int) -> float:
        return float(np.mean(np.any(samples > ordered[r], axis=1)))

    while lo < hi:
        mid = (lo + hi) // 2
        if rate(mid) <= alpha:
            hi = mid
        else:
            lo = mid + 1
    return ordered[hi]


def calibrate(
    references: Sequence[Reference],
    window: int,
    *,
    alpha: float = DEFAULT_ALPHA,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Thresholds:
    """Thresholds of every statistic of ``references`` for windows of ``window`` rows."""
    check_scalar(window, "window", owner="drift calibration", ge=2, integer=True)
    check_scalar(alpha, "alpha", owner="drift calibration", gt=0, lt=1)
    check_scalar(n_resamples, "n_resamples", owner="drift calibration", ge=100, integer=True)
    rng = np.random.default_rng(seed)
    keys: list[tuple[str, str]] = []
    columns: list[np.ndarray] = []
    for ref in references:
        if isinstance(ref, NumericReference):
            boot = _numeric_boot(ref, window, n_resamples, rng)
        else:
            boot = _categorical_boot(ref, window, n_resamples, rng)
        for stat, samples in boot.items():
            keys.append((ref.name, stat))
            columns.append(samples)
    limits = _family_thresholds(np.column_stack(columns), alpha) if columns else np.empty(0)
    values = {key: float(v) for key, v in zip(keys, limits, strict=True)}
    return Thresholds(window=window, alpha=alpha, n_resamples=n_resamples, values=values)


def live_statistics(ref: Reference, values: np.ndarray | Sequence[object]) -> dict[str, float]:
    """The drift statistics of one window of live ``values`` of an input."""
    if isinstance(ref, NumericReference):
        x = np.asarray(values, dtype=np.float64)
        shares = bin_counts(x, ref.edges) / max(len(x), 1)
        return {
            "psi": float(psi(np.asarray(ref.shares), shares)),
            "ks": ks_statistic(ref.sample, x),
        }
    groups = category_groups(ref, len(values))
    k = int(groups.max()) + 1
    counts = np.bincount(groups[ref.codes(list(values))], minlength=k)
    weights = np.append(np.asarray(ref.shares) * ref.n, 0.0)
    expected = smoothed_shares(np.bincount(groups, weights=weights, minlength=k))
    return {"chi2": float(chi2_statistic(expected, counts))}
