"""Pareto fronts, successive-halving promotion and hypervolume on hand-made points."""

from __future__ import annotations

import math

import pytest

from potstill.auto import Point, hypervolume, non_dominated, promote, ranks


def test_dominance_front_and_ranks() -> None:
    pts = [
        Point(0, 0.99, 4.0),  # front
        Point(1, 0.95, 1.0),  # front (cheapest)
        Point(2, 0.94, 2.0),  # dominated by 1
        Point(3, 1.00, 9.0),  # front (best retention)
        Point(4, 1.00, 0.5, feasible=False),  # would dominate all, but misses the SLO
        Point(5, math.nan, 0.1),  # undefined retention
    ]
    assert sorted(p.key for p in non_dominated(pts)) == [0, 1, 3]
    r = ranks(pts)
    assert r[0] == r[1] == r[3] == 0
    assert r[2] == 1
    assert r[4] > r[2] and r[5] > r[2]  # after every feasible front


def test_promote_keeps_the_front_plus_margin_and_never_more_than_n() -> None:
    pts = [Point(i, 0.90 + 0.01 * i, 1.0 + i) for i in range(6)]  # all on the front
    assert sorted(promote(pts, eta=3, margin=0)) == list(range(6))  # the whole front goes on
    dominated = [Point(i, 0.9 - 0.01 * i, 1.0 + i) for i in range(9)]  # a chain: 0 dominates
    kept = promote(dominated, eta=3, margin=1)
    assert kept == [0, 1, 2, 3]  # ceil(9 / 3) + 1, best fronts first
    assert promote([], eta=3, margin=1) == []


def test_hypervolume_is_the_dominated_area() -> None:
    # Two points: (ret 0.98, $1) and (ret 1.0, $2), reference (0.9, $4):
    # [1, 2) × 0.08 + [2, 4) × 0.10 = 0.08 + 0.20
    pts = [Point(0, 0.98, 1.0), Point(1, 1.0, 2.0), Point(2, 0.95, 3.0)]
    assert hypervolume(pts, 0.9, 4.0) == pytest.approx(0.28)
    assert hypervolume([Point(0, 0.85, 1.0)], 0.9, 4.0) == 0.0  # below the retention floor
    assert hypervolume(pts[:1], 0.9, 4.0) < hypervolume(pts, 0.9, 4.0)
