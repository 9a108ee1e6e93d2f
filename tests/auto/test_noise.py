"""Costs under noise: a ratio of paired rounds with a bootstrap interval; inside it, a tie."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.auto.noise import ratio_interval


def test_a_clear_saving_is_not_a_tie_and_the_interval_holds_the_ratio() -> None:
    rng = np.random.default_rng(1)
    b = 10 + rng.normal(0, 0.5, 20)
    a = 5 + rng.normal(0, 0.5, 20)
    out = ratio_interval(a, b)
    assert out["low"] <= out["ratio"] <= out["high"] < 1
    assert not out["tie"] and out["reduction_low"] > 0.4


def test_equal_costs_under_noise_are_a_tie() -> None:
    rng = np.random.default_rng(2)
    a, b = 10 + rng.normal(0, 1, 12), 10 + rng.normal(0, 1, 12)
    assert ratio_interval(a, b)["tie"]


def test_unpaired_series_are_refused() -> None:
    with pytest.raises(ValueError, match="equal series"):
        ratio_interval([1.0, 2.0], [1.0])
