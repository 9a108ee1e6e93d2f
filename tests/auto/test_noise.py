"""Costs under noise: a ratio of paired rounds with a bootstrap interval; inside it, a tie."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.auto.noise import pick_among_ties
from potstill.costs.stats import ratio_interval


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


def test_too_few_rounds_are_refused() -> None:
    with pytest.raises(ValueError, match=">= 2 blocks"):
        ratio_interval([1.0, 2.0], [1.0])


def test_a_tie_on_cost_goes_to_the_candidate_that_retains_most() -> None:
    rng = np.random.default_rng(3)
    usd = {
        1: list(10.0 + rng.normal(0, 1.0, 10)),  # cheapest by mean, or tied with 2
        2: list(10.2 + rng.normal(0, 1.0, 10)),
        3: list(20.0 + rng.normal(0, 0.5, 10)),  # clearly dearer
    }
    retention = {1: 0.90, 2: 0.97, 3: 0.99}
    choice, tied = pick_among_ties(usd, retention)
    assert tied == [1, 2] and choice == 2
    clear = {1: [5.0, 5.1, 4.9, 5.0], 2: [10.0, 10.1, 9.9, 10.0]}
    assert pick_among_ties(clear, {1: 0.90, 2: 0.97}) == (1, [1])
