"""Paired bootstrap: determinism under a seed, pairing, percentile intervals."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.evaluate.bootstrap import (
    estimate,
    paired_bootstrap,
    percentile_interval,
    resample_indices,
)


def test_same_seed_same_resamples_other_seed_differs() -> None:
    a = [r.copy() for r in resample_indices(50, 5, seed=3)]
    b = list(resample_indices(50, 5, seed=3))
    c = list(resample_indices(50, 5, seed=4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(r.min() >= 0 and r.max() < 50 and len(r) == 50 for r in a)


def test_statistic_sees_the_same_rows_for_both_models() -> None:
    values = np.arange(30, dtype=float)
    samples = paired_bootstrap(
        lambda rows: [values[rows].mean(), values[rows].mean() + 1.0], 30, n_resamples=40, seed=0
    )
    assert samples.shape == (40, 2)
    # paired: the difference is exactly 1 on every resample, so its interval has width 0
    np.testing.assert_allclose(samples[:, 1] - samples[:, 0], 1.0)


def test_percentile_interval_hand_computed() -> None:
    # np.quantile's linear rule on 1..100: 1 + 0.05 * 99 = 5.95 and 1 + 0.95 * 99 = 95.05
    low, high = percentile_interval(np.arange(1, 101, dtype=float), level=0.90)
    assert low == pytest.approx(5.95)
    assert high == pytest.approx(95.05)


def test_undefined_resamples_are_dropped_then_interval_unknown() -> None:
    some_nan = np.array([1.0, 2.0, 3.0, np.nan])
    assert percentile_interval(some_nan, 0.5) == pytest.approx((1.5, 2.5))
    mostly_nan = np.array([1.0, np.nan, np.nan, np.nan])
    assert percentile_interval(mostly_nan, 0.95) == (None, None)


def test_estimate_with_and_without_samples() -> None:
    est = estimate(0.5, np.array([0.4, 0.5, 0.6]), n=10, level=0.5)
    assert (est.value, est.n, est.level) == (0.5, 10, 0.5)
    assert est.low == pytest.approx(0.45) and est.high == pytest.approx(0.55)
    bare = estimate(0.5, None, n=10, level=0.95)
    assert bare.low is None and bare.high is None and bare.level is None


def test_bootstrap_mean_interval_matches_normal_theory() -> None:
    # 400 coin flips with p = 0.5: the 95% interval of the mean is about ±1.96 * 0.025
    rng = np.random.default_rng(0)
    flips = (rng.random(400) < 0.5).astype(float)
    samples = paired_bootstrap(lambda rows: [flips[rows].mean()], 400, n_resamples=500, seed=1)
    low, high = percentile_interval(samples[:, 0], 0.95)
    assert low is not None and high is not None
    assert low < flips.mean() < high
    assert high - low == pytest.approx(2 * 1.96 * 0.025, rel=0.15)
