"""Percentiles, the reliability guard, the CV flag and the stopping rule."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.costs.stats import (
    MIN_SAMPLES,
    StopRule,
    latency_stats,
    min_samples_for,
    percentile,
    samples_summary,
)


def test_min_samples_reproduce_mlperf_and_derive_the_others() -> None:
    # MLPerf's published minimums are 64 (p90) and 662 (p99); 10 and 130 follow the rule.
    assert MIN_SAMPLES == {"p50": 10, "p90": 64, "p95": 130, "p99": 662}
    assert min_samples_for(0.999) == 6643  # ceil(6.64539 / 0.00100050) = ceil(6642.07)
    with pytest.raises(ValueError, match="quantile must be in"):
        min_samples_for(1.0)


def test_nearest_rank_percentiles_by_hand() -> None:
    samples = np.arange(1.0, 101.0)  # 1..100
    assert percentile(samples, 50) == 50.0
    assert percentile(samples, 90) == 90.0
    assert percentile(samples, 99) == 99.0
    assert percentile(np.array([3.0, 1.0, 2.0]), 50) == 2.0


def test_guard_marks_percentiles_with_too_few_samples() -> None:
    stats = latency_stats(np.ones(100))
    assert stats.unreliable == ("p95", "p99")
    assert latency_stats(np.ones(63)).unreliable == ("p90", "p95", "p99")
    assert latency_stats(np.ones(64)).unreliable == ("p95", "p99")
    assert latency_stats(np.ones(662)).unreliable == ()
    assert latency_stats(np.ones(9)).unreliable == ("p50", "p90", "p95", "p99")


def test_cv_and_its_flag_against_hand_values() -> None:
    steady = latency_stats(np.array([1.0, 1.0, 1.0, 1.1]))
    # mean 1.025, sample std 0.05 → CV 0.04878: not flagged
    assert steady.mean_ms == pytest.approx(1.025)
    assert steady.cv == pytest.approx(0.05 / 1.025)
    assert "cv>10%" not in steady.flags
    noisy = latency_stats(np.array([1.0, 2.0]))  # std 0.7071, mean 1.5 → CV 0.4714
    assert noisy.cv == pytest.approx(np.sqrt(0.5) / 1.5)
    assert noisy.flags == ("cv>10%",)
    assert latency_stats(np.ones(3), extra_flags=("max_seconds",)).flags == ("max_seconds",)


def test_latency_stats_refuses_empty_samples() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        latency_stats(np.array([]))


def test_samples_summary_rederives_percentiles() -> None:
    samples = np.arange(1.0, 101.0)
    summary = samples_summary(samples)
    assert summary["n"] == 100 and summary["sum_ms"] == 5050.0
    quantiles = summary["quantiles_ms"]
    assert isinstance(quantiles, list) and len(quantiles) == 101
    assert quantiles[50] == 50.0 and quantiles[99] == 99.0 and quantiles[100] == 100.0


def test_stop_rule_needs_both_rules_or_the_cap() -> None:
    rule = StopRule(min_calls=200, min_seconds=5.0, max_seconds=60.0)
    assert rule.reason(199, 100.0 - 41) is None  # duration met, count not, cap not hit
    assert rule.reason(10_000, 4.99) is None  # count met, duration not
    assert rule.reason(200, 5.0) == "both_rules_met"
    assert rule.reason(5, 60.0) == "max_seconds"
    assert StopRule(1, 0.0).reason(1, 0.0) == "both_rules_met"
