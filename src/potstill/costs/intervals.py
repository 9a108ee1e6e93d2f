"""Costs under noise: a confidence interval for every cost reduction.

The harness times teacher and students in interleaved blocks (:mod:`.timing`) and keeps
each block's milliseconds per prediction. The ratio student / teacher of

- **$ per 1M predictions**: the blocks at each model's best offline batch (its sustainable
  throughput), times the known ratio of replicas per instance (teacher / student), and
- **latency**: the batch-1 blocks' mean milliseconds per call

gets a percentile-bootstrap interval over the blocks (:func:`~.stats.ratio_interval`:
paired by interleaved round where both ran in the same phase, expanded for few blocks). A reduction whose interval
holds 0 is a *tie*: the measurement cannot tell the two apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from potstill.costs.stats import ratio_interval, scale_interval
from potstill.types import CostProfile

__all__ = [
    "LEVEL",
    "MIN_BLOCKS",
    "RESAMPLES",
    "cost_reduction_interval",
    "reduction_view",
    "with_blocks",
]

#: Confidence level and bootstrap resamples of every cost interval.
LEVEL = 0.95
RESAMPLES = 2000
#: Fewest interleaved blocks the harness times per model × runtime and phase, so every
#: cost has blocks to resample (the stopping rules' ``min_calls`` is raised to this many
#: blocks where it asks for fewer).
MIN_BLOCKS = 4


def with_blocks(
    profile: CostProfile,
    latency_ms: list[float],
    offline_ms: dict[int, list[float]],
    contention: dict[str, Any],
) -> CostProfile:
    """``profile`` with what its intervals need — each interleaved block's ms per
    prediction at batch 1 (``latency_ms``) and at its best offline batch (from
    ``offline_ms``, by batch size) — and the ``contention`` its timing met; its latency is
    flagged 'load>cores' / 'contended' where that applies."""
    best = profile.throughput_batch
    extra = {
        **profile.extra,
        "blocks": {
            "latency_ms": latency_ms,
            "offline_batch": best,
            "offline_ms_per_prediction": offline_ms.get(best, []),
            "note": "block k of every model × runtime ran in round k of the same rotation",
        },
        "contention": contention,
    }
    flags = profile.latency.flags
    if contention["loaded"]:
        flags = (*flags, "load>cores")
    if contention["blocks_kept_contended"]:
        flags = (*flags, "contended")
    return replace(profile, extra=extra, latency=replace(profile.latency, flags=flags))


def reduction_view(interval: Mapping[str, Any]) -> dict[str, Any]:
    """A ratio interval as a reduction (1 − ratio) with its bounds, level and tie."""
    return {
        "value": interval["reduction"], "low": interval["reduction_low"],
        "high": interval["reduction_high"], "level": interval["level"], "tie": interval["tie"],
        "ratio": {k: interval[k] for k in ("ratio", "low", "high")},
        "blocks": interval["blocks"], "paired_rounds": interval["rounds"],
    }  # fmt: skip


def _blocks(profile: CostProfile) -> Mapping[str, Any] | None:
    blocks = profile.extra.get("blocks")
    if not isinstance(blocks, Mapping):
        return None
    enough = all(len(blocks.get(k) or []) >= 2 for k in ("latency_ms", "offline_ms_per_prediction"))
    return blocks if enough else None


def cost_reduction_interval(
    student: CostProfile, teacher: CostProfile, replica_ratio: float, *, seed: int = 0
) -> dict[str, Any] | None:
    """``cost_reduction`` of a record: 1 − student/teacher $ per 1M with its interval
    (``value``, ``low``, ``high``, ``level``, ``tie``), the latency's beside it, and the
    contention both measurements saw. ``replica_ratio``: teacher's replicas per instance
    over the student's. None when a profile has fewer than two blocks (an old record)."""
    s, t = _blocks(student), _blocks(teacher)
    if s is None or t is None:
        return None
    same_phase = s.get("offline_batch") == t.get("offline_batch")
    usd = ratio_interval(s["offline_ms_per_prediction"], t["offline_ms_per_prediction"],
                         paired=same_phase, level=LEVEL, resamples=RESAMPLES, seed=seed)  # fmt: skip
    latency = ratio_interval(s["latency_ms"], t["latency_ms"], paired=True, level=LEVEL,
                             resamples=RESAMPLES, seed=seed)  # fmt: skip
    return {
        **reduction_view(scale_interval(usd, replica_ratio)),
        "statistic": "1 - student/teacher $ per 1M predictions; bootstrap over interleaved "
        "blocks at each model's best offline batch",
        "latency": {
            **reduction_view(latency),
            "statistic": "1 - student/teacher mean "
            "batch-1 ms per call; bootstrap over interleaved blocks",
        },
        "contention": {
            "teacher": teacher.extra.get("contention"),
            "student": student.extra.get("contention"),
        },
    }
