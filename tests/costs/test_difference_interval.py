"""``difference_interval``: the MOVER interval of the difference of two runs' estimates,
pinned against normal theory and against its coverage on simulated reruns."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from potstill.costs import difference_interval


def _normal(value: float, se: float, z: float) -> dict[str, float]:
    return {"value": value, "low": value - z * se, "high": value + z * se}


def test_symmetric_intervals_give_the_normal_theory_interval_of_a_difference() -> None:
    z = float(norm.ppf(0.975))
    a, b = _normal(0.90, 0.010, z), _normal(0.93, 0.020, z)
    low, high = difference_interval(a, b) or (math.nan, math.nan)
    se = math.sqrt(0.010**2 + 0.020**2)  # independent estimates: variances add
    assert low == pytest.approx(0.03 - z * se, rel=1e-12)
    assert high == pytest.approx(0.03 + z * se, rel=1e-12)


def test_asymmetric_intervals_stay_asymmetric() -> None:
    a = {"value": 0.5, "low": 0.4, "high": 0.9}
    b = {"value": 0.7, "low": 0.6, "high": 0.75}
    low, high = difference_interval(a, b) or (math.nan, math.nan)
    assert low == pytest.approx(0.2 - math.hypot(0.1, 0.4))  # b's lower side, a's upper
    assert high == pytest.approx(0.2 + math.hypot(0.05, 0.1))  # b's upper side, a's lower


def test_a_missing_bound_gives_none() -> None:
    assert difference_interval({"value": 1.0, "low": None, "high": None}, _normal(1, 1, 2)) is None


def test_a_value_outside_its_own_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match=r"second estimate must satisfy low <= value <= high"):
        difference_interval(_normal(1, 1, 2), {"value": 5.0, "low": 0.0, "high": 1.0})
    outside = {"value": -1.0, "low": 0.0, "high": 1.0}
    assert difference_interval(outside, _normal(1, 1, 2), strict=False) is None


def test_reruns_with_nothing_changed_are_covered_about_95_percent_of_the_time() -> None:
    """Two runs of the same measurement (normal noise, known SE): the difference interval
    covers 0 in about 95 % of pairs, while one run's point falls inside the other's 95 %
    interval only about 83 % of the time (why the difference is the check to use)."""
    rng = np.random.default_rng(0)
    z, se, pairs = float(norm.ppf(0.975)), 0.01, 4000
    runs = rng.normal(0.9, se, size=(pairs, 2))
    covered = inside = 0
    for first, second in runs:
        a, b = _normal(float(first), se, z), _normal(float(second), se, z)
        low, high = difference_interval(a, b) or (math.nan, math.nan)
        covered += low <= 0.0 <= high
        inside += a["low"] <= b["value"] <= a["high"]
    assert covered / pairs == pytest.approx(0.95, abs=0.015)
    assert inside / pairs == pytest.approx(2 * norm.cdf(z / math.sqrt(2)) - 1, abs=0.015)
