"""Pareto fronts of (retention ↑, $ per 1M predictions ↓), successive-halving promotion,
and the hypervolume that compares two searches. Pure functions on plain numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Point", "dominates", "hypervolume", "non_dominated", "promote", "ranks"]


@dataclass(frozen=True)
class Point:
    """A measured candidate: its key, validation retention, $ per 1M, and whether it meets
    the constraints that training cannot change (the latency SLO)."""

    key: int
    retention: float
    usd: float
    feasible: bool = True


def dominates(a: Point, b: Point) -> bool:
    """``a`` keeps at least as much for at most the price, and is better in one of them."""
    no_worse = a.retention >= b.retention and a.usd <= b.usd
    return no_worse and (a.retention > b.retention or a.usd < b.usd)


def _finite(p: Point) -> bool:
    return math.isfinite(p.retention) and math.isfinite(p.usd)


def non_dominated(points: Sequence[Point]) -> list[Point]:
    """The feasible points with finite values that no other such point dominates."""
    pool = [p for p in points if p.feasible and _finite(p)]
    return [p for p in pool if not any(dominates(q, p) for q in pool if q is not p)]


def ranks(points: Sequence[Point]) -> dict[int, int]:
    """Non-dominated sorting: key → front number (0 best); infeasible or non-finite points
    come after every feasible front."""
    left = [p for p in points if p.feasible and _finite(p)]
    out: dict[int, int] = {}
    rank = 0
    while left:
        front = [p for p in left if not any(dominates(q, p) for q in left if q is not p)]
        out.update((p.key, rank) for p in front)
        left = [p for p in left if p.key not in out]
        rank += 1
    out.update((p.key, rank) for p in points if p.key not in out)
    return out


def promote(points: Sequence[Point], eta: float, margin: int) -> list[int]:
    """Keys that go on to the next rung: every non-dominated candidate, and the next best
    (by front, then price) until ``ceil(n / eta) + margin``; never more than ``n``."""
    if not points:
        return []
    by_rank = ranks(points)
    order = sorted(points, key=lambda p: (by_rank[p.key], p.usd, -p.retention, p.key))
    want = min(len(points), math.ceil(len(points) / eta) + margin)
    best = [p.key for p in order if by_rank[p.key] == 0 and p.feasible and _finite(p)]
    rest = [p.key for p in order if p.key not in best]
    return best + rest[: max(0, want - len(best))]


def hypervolume(points: Sequence[Point], ref_retention: float, ref_usd: float) -> float:
    """Area dominated by the feasible points and bounded by the reference point (a
    retention floor and a price ceiling); 0 when no point beats the reference."""
    front = sorted(
        (p for p in non_dominated(points) if p.retention > ref_retention and p.usd < ref_usd),
        key=lambda p: p.usd,
    )
    area, best = 0.0, ref_retention
    # Walk from the cheapest: each point adds the retention it gains over the cheaper ones.
    for i, p in enumerate(front):
        next_usd = front[i + 1].usd if i + 1 < len(front) else ref_usd
        best = max(best, p.retention)
        area += (best - ref_retention) * (next_usd - p.usd)
    return area
