"""Drift statistics and their bootstrap-calibrated thresholds, against independent references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from potstill.evaluate.drift import (
    categorical_reference,
    chi2_statistic,
    ks_statistic,
    numeric_reference,
    psi,
    reference_from_dict,
    wilson_interval,
)
from potstill.evaluate.drift_calibration import _numeric_boot, calibrate, live_statistics


def _refs(X: np.ndarray) -> list:
    return [numeric_reference("x0", X[:, 0]), numeric_reference("x1", X[:, 1]),
            categorical_reference("c", X[:, 2])]  # fmt: skip


def _draw(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    X = np.column_stack([rng.normal(shift, 1, n), np.exp(rng.normal(0, 1, n)),
                         rng.integers(0, 3, n).astype(float)])  # fmt: skip
    return X


def test_psi_matches_its_definition() -> None:
    ref, live = np.array([0.5, 0.3, 0.2]), np.array([0.4, 0.4, 0.2])
    expected = (0.4 - 0.5) * np.log(0.4 / 0.5) + (0.4 - 0.3) * np.log(0.4 / 0.3)
    assert psi(ref, live) == pytest.approx(expected)
    assert psi(ref, ref) == 0.0


def test_chi2_and_ks_match_scipy() -> None:
    shares, counts = np.array([0.2, 0.5, 0.3]), np.array([30.0, 40.0, 30.0])
    assert chi2_statistic(shares, counts) == pytest.approx(
        stats.chisquare(counts, shares * counts.sum()).statistic
    )
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=300), rng.normal(0.3, 1, 120)
    assert ks_statistic(a, b) == pytest.approx(stats.ks_2samp(b, a).statistic)


def test_vectorised_bootstrap_ks_equals_scipy_on_the_same_resample() -> None:
    ref = numeric_reference("x", np.random.default_rng(1).normal(size=400))
    seed_rng = np.random.default_rng(7)
    boot = _numeric_boot(ref, window=50, n_boot=3, rng=seed_rng)
    replay = np.random.default_rng(7)
    s = ref.sample  # one chunk: it draws (3, n) reference rows, then (3, window) window rows
    ri, wi = replay.integers(0, len(s), size=(3, len(s))), replay.integers(0, len(s), size=(3, 50))
    for b in range(3):
        assert boot["ks"][b] == pytest.approx(stats.ks_2samp(s[wi[b]], s[ri[b]]).statistic)


def test_reference_round_trips_through_json() -> None:
    rng = np.random.default_rng(0)
    X = _draw(rng, 500)
    for ref in _refs(X):
        again = reference_from_dict(ref.name, ref.to_dict())
        assert again.to_dict() == ref.to_dict()


def test_categorical_reference_counts_unseen_categories_apart() -> None:
    ref = categorical_reference("c", np.array([0, 0, 1, 2, 2, 2]))
    assert ref.categories == (0, 1, 2)
    assert ref.codes([2, 7, 0]).tolist() == [2, 3, 0]


def test_wilson_interval_known_value() -> None:
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_interval(0, 0) == (None, None)


def test_thresholds_shrink_as_the_window_grows() -> None:
    refs = _refs(_draw(np.random.default_rng(0), 3000))
    small = calibrate(refs, 50, n_resamples=300)
    large = calibrate(refs, 2000, n_resamples=300)
    for key, value in small.values.items():
        if key[1] != "chi2":  # chi-squared grows with counts; PSI and KS shrink
            assert large.values[key] < value


def test_clean_windows_raise_no_alarm_and_a_shift_is_flagged() -> None:
    rng = np.random.default_rng(3)
    refs = _refs(_draw(rng, 3000))
    th = calibrate(refs, 300)

    def alarms(X: np.ndarray) -> list:
        return [(r.name, k) for j, r in enumerate(refs)
                for k, v in live_statistics(r, X[:, j]).items() if v > th.values[(r.name, k)]]  # fmt: skip

    clean = [alarms(_draw(rng, 300)) for _ in range(20)]
    assert sum(bool(a) for a in clean) == 0, clean
    assert ("x0", "psi") in alarms(_draw(rng, 300, shift=0.8))
    assert ("c", "chi2") in alarms(np.column_stack([_draw(rng, 300)[:, :2], np.full(300, 2.0)]))


def test_calibration_refuses_a_window_of_one_row() -> None:
    from potstill.errors import ConfigError

    with pytest.raises(ConfigError, match="window"):
        calibrate(_refs(_draw(np.random.default_rng(0), 100)), 1)


def test_rare_categories_are_pooled_for_the_chi_squared() -> None:
    from potstill.evaluate.drift_calibration import category_groups

    values = np.array([0] * 500 + [1] * 490 + [2] * 6 + [3] * 4)
    ref = categorical_reference("c", values)
    assert category_groups(ref, 100).tolist() == [0, 1, 2, 2, 2]  # 2, 3 and unseen pooled
    assert category_groups(ref, 1000).tolist() == [0, 1, 2, 3, 3]  # 3: 4 expected
    one_rare = live_statistics(ref, np.array([0] * 50 + [1] * 49 + [3]))["chi2"]
    assert one_rare < 5  # one rare value in 100 rows is not an alarm-sized surprise
