"""Latency statistics with honest reliability marks, and the harness's stopping rule.

A p99 from 200 samples is mostly noise; MLPerf's early-stopping rule says how many samples
a percentile needs before it means something. We keep its minimums (p90: 64, p99: 662),
derive p50 and p95 by the same rule (the least n with q**n <= 0.0013, which reproduces
both published numbers), and mark any percentile below its minimum as unreliable rather
than hiding it. Percentiles are nearest-rank (``inverted_cdf``): always a real sample.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import norm
from scipy.stats import t as student_t

from potstill.types import LatencyStats

__all__ = [
    "CV_FLAG_THRESHOLD",
    "MIN_SAMPLES",
    "StopRule",
    "difference_interval",
    "expanded_tail",
    "latency_stats",
    "min_samples_for",
    "percentile",
    "ratio_interval",
    "samples_summary",
    "scale_interval",
]

#: Tail probability of MLPerf's early-stopping rule that reproduces p90 → 64, p99 → 662.
_EARLY_STOP_ALPHA = 0.0013
#: Coefficient of variation above which a latency is flagged "cv>10%".
CV_FLAG_THRESHOLD = 0.10


def min_samples_for(quantile: float) -> int:
    """Fewest samples for a ``quantile`` (e.g. 0.99) to be reliable: ln(0.0013) / ln(q)."""
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1). Got {quantile!r} instead.")
    return math.ceil(math.log(_EARLY_STOP_ALPHA) / math.log(quantile))


#: Minimum samples per reported percentile: {"p50": 10, "p90": 64, "p95": 130, "p99": 662}.
MIN_SAMPLES: dict[str, int] = {
    name: min_samples_for(q)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99))
}


def percentile(samples: np.ndarray, q: float) -> float:
    """Nearest-rank percentile ``q`` in [0, 100] of ``samples`` (a real sample, never mixed)."""
    return float(np.percentile(samples, q, method="inverted_cdf"))


def latency_stats(samples_ms: np.ndarray, *, extra_flags: tuple[str, ...] = ()) -> LatencyStats:
    """Summarise per-call latencies (ms): percentiles, mean, CV, reliability guard, flags."""
    samples = np.asarray(samples_ms, dtype=np.float64)
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"samples_ms must be a non-empty 1-D array. Got shape {samples.shape}.")
    n = int(samples.size)
    mean = float(samples.mean())
    std = float(samples.std(ddof=1)) if n > 1 else 0.0
    cv = std / mean if mean > 0 else 0.0
    unreliable = tuple(name for name, need in MIN_SAMPLES.items() if n < need)
    flags = tuple(extra_flags)
    if cv > CV_FLAG_THRESHOLD:
        flags = (*flags, "cv>10%")
    return LatencyStats(
        p50_ms=percentile(samples, 50),
        p90_ms=percentile(samples, 90),
        p95_ms=percentile(samples, 95),
        p99_ms=percentile(samples, 99),
        mean_ms=mean,
        cv=cv,
        n=n,
        unreliable=unreliable,
        flags=flags,
    )


def samples_summary(samples_ms: np.ndarray) -> dict[str, object]:
    """What the record keeps of the raw samples: enough to re-derive any percentile.

    ``quantiles_ms[k]`` is the nearest-rank k-th percentile, k = 0..100.
    """
    samples = np.asarray(samples_ms, dtype=np.float64)
    return {
        "n": int(samples.size),
        "sum_ms": float(samples.sum()),
        "min_ms": float(samples.min()),
        "max_ms": float(samples.max()),
        "std_ms": float(samples.std(ddof=1)) if samples.size > 1 else 0.0,
        "quantiles_ms": [
            float(v) for v in np.percentile(samples, np.arange(101), method="inverted_cdf")
        ],
    }


@dataclass(frozen=True)
class StopRule:
    """Keep timing until *both* ``min_calls`` and ``min_seconds`` are met (or the cap hits)."""

    min_calls: int
    min_seconds: float
    max_seconds: float | None = None

    def reason(self, calls: int, seconds: float) -> str | None:
        """Why timing may stop now ("both_rules_met" / "max_seconds"), or None to go on."""
        if calls >= self.min_calls and seconds >= self.min_seconds:
            return "both_rules_met"
        if self.max_seconds is not None and seconds >= self.max_seconds:
            return "max_seconds"
        return None


def expanded_tail(level: float, n: int) -> float:
    """Lower quantile of the *expanded* percentile bootstrap (Hesterberg, 2015): with few
    blocks the plain percentile interval is too narrow, so the tail is taken at
    Φ(√(n/(n−1)) · t_{(1−level)/2, n−1}) instead of (1 − level)/2 — about the bootstrap's
    extremes for 4 blocks, nearly unchanged beyond 50."""
    tail = (1.0 - level) / 2.0
    return float(norm.cdf(math.sqrt(n / (n - 1)) * student_t.ppf(tail, n - 1)))


def ratio_interval(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    paired: bool = True,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """mean(numerator) / mean(denominator) of per-block values, with an (expanded,
    :func:`expanded_tail`) percentile-bootstrap interval over the blocks; ``tie`` when the
    interval holds 1 (no difference shown).

    ``paired``: block k of both series ran in the same interleaved round, so the rounds
    both have are resampled together (a drift of the machine moves both alike) and the
    blocks only the longer series has are resampled among themselves. Unpaired: each
    series is resampled on its own. ``reduction`` is 1 − ratio (its bounds swap).
    """
    x, y = np.asarray(numerator, dtype=float), np.asarray(denominator, dtype=float)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"need >= 2 blocks on each side; got {len(x)} and {len(y)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1). Got {level!r} instead.")
    rng = np.random.default_rng(seed)
    rounds = min(len(x), len(y)) if paired else 0
    shared = rng.integers(0, rounds, size=(resamples, rounds)) if rounds else None
    sums = []
    for series in (x, y):
        total = series[shared].sum(axis=1) if shared is not None else np.zeros(resamples)
        rest = series[rounds:]
        if len(rest):
            total = total + rest[rng.integers(0, len(rest), size=(resamples, len(rest)))].sum(1)
        sums.append(total / len(series))
    tail = expanded_tail(level, min(len(x), len(y)))
    low, high = (float(v) for v in np.quantile(sums[0] / sums[1], [tail, 1.0 - tail]))
    ratio = float(x.mean() / y.mean())
    return {
        "ratio": ratio, "low": low, "high": high, "level": level, "resamples": resamples,
        "blocks": [len(x), len(y)], "rounds": rounds, "paired": bool(rounds),
        "reduction": 1.0 - ratio, "reduction_low": 1.0 - high, "reduction_high": 1.0 - low,
        "tie": bool(low <= 1.0 <= high),
    }  # fmt: skip


def scale_interval(interval: dict[str, Any], factor: float) -> dict[str, Any]:
    """``interval`` of a ratio multiplied by a known constant ``factor`` (> 0): the ratio
    and its bounds scale, the reduction and the tie are recomputed."""
    ratio, low, high = (interval[k] * factor for k in ("ratio", "low", "high"))
    return {**interval, "ratio": ratio, "low": low, "high": high, "reduction": 1.0 - ratio,
            "reduction_low": 1.0 - high, "reduction_high": 1.0 - low,
            "tie": bool(low <= 1.0 <= high)}  # fmt: skip


def _bounded(
    name: str, estimate: Mapping[str, float | None], strict: bool
) -> tuple[float, float, float] | None:
    v, lo, hi = (estimate.get(k) for k in ("value", "low", "high"))
    if v is None or lo is None or hi is None:
        return None
    if not lo <= v <= hi:
        if not strict:
            return None
        raise ValueError(
            f"The {name} estimate must satisfy low <= value <= high. Got low={lo}, "
            f"value={v}, high={hi} instead."
        )
    return float(v), float(lo), float(hi)


def difference_interval(
    first: Mapping[str, float | None], second: Mapping[str, float | None], *, strict: bool = True
) -> tuple[float, float] | None:
    """Interval of ``second - first`` for two independent estimates, each given as
    ``{value, low, high}`` at the same level (a record's ``cost_reduction`` or
    ``retention``): MOVER (Zou & Donner 2008), each side's distances to the bounds combined
    in quadrature, so it keeps asymmetric intervals asymmetric. It is how two runs' figures
    are compared: the difference is real when the interval leaves out 0. None when either
    estimate has no interval. An estimate whose value lies outside its own bounds (a
    percentile bootstrap can give one) raises ``ValueError``, or with ``strict=False``
    gives None: no interval can be built from it."""
    a, b = _bounded("first", first, strict), _bounded("second", second, strict)
    if a is None or b is None:
        return None
    (av, a_low, a_high), (bv, b_low, b_high) = a, b
    down = math.hypot(bv - b_low, a_high - av)
    up = math.hypot(b_high - bv, av - a_low)
    return (bv - av - down, bv - av + up)
