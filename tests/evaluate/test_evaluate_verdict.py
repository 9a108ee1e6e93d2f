"""The paired bootstrap of distilled − scratch and its verdict, against references
written independently here with numpy."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.errors import DataError
from potstill.evaluate import estimate, get_metric, paired_bootstrap
from potstill.evaluate.verdict import (
    HELPED,
    HURT,
    NO_DIFFERENCE,
    NOT_MEASURED,
    PairedScores,
    best_of_k,
    holm,
    paired_gain,
    verdict,
)

ACCURACY, RMSE = get_metric("accuracy"), get_metric("rmse")


def _probs(correct: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary probabilities that put 0.9 on y where ``correct`` and on 1 - y elsewhere."""
    predicted = np.where(correct, y, 1 - y)
    p1 = np.where(predicted == 1, 0.9, 0.1)
    return np.stack([1 - p1, p1], axis=1)


def _reference(
    correct_s: list[np.ndarray], correct_d: list[np.ndarray], b: int, seed: int, level: float
) -> tuple[float, np.ndarray, float, float]:
    """Stratified paired bootstrap of the accuracy difference, written from scratch."""
    point = np.mean([d.mean() - s.mean() for s, d in zip(correct_s, correct_d, strict=True)])
    total = np.zeros(b)
    for i, (s, d) in enumerate(zip(correct_s, correct_d, strict=True)):
        rng = np.random.default_rng(seed + i)
        idx = np.stack([rng.integers(0, len(s), size=len(s)) for _ in range(b)])
        total += d[idx].mean(axis=1) - s[idx].mean(axis=1)
    samples = total / len(correct_s)
    low, high = np.percentile(samples, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(point), samples, float(low), float(high)


@pytest.mark.parametrize("n_seeds", [1, 3])
def test_paired_gain_matches_an_independent_numpy_reference(n_seeds: int) -> None:
    rng = np.random.default_rng(7)
    pairs, correct_s, correct_d = [], [], []
    for n in (150, 90, 120)[:n_seeds]:
        y = rng.integers(0, 2, size=n)
        s, d = rng.random(n) < 0.75, rng.random(n) < 0.8
        pairs.append(PairedScores(y=y, scratch=_probs(s, y), distilled=_probs(d, y)))
        correct_s.append(s.astype(float))
        correct_d.append(d.astype(float))
    gain = paired_gain(pairs, ACCURACY, n_resamples=300, seed=11, level=0.9)
    point, samples, low, high = _reference(correct_s, correct_d, 300, 11, 0.9)
    assert gain.value == pytest.approx(point)
    assert (gain.low, gain.high) == pytest.approx((low, high))
    assert gain.share_above_zero == pytest.approx(np.mean(samples > 0))
    assert gain.p_helped == pytest.approx((1 + np.sum(samples <= 0)) / 301)
    assert gain.p_hurt == pytest.approx((1 + np.sum(samples >= 0)) / 301)
    assert (gain.n_seeds, gain.n_resamples, gain.n_test) == (n_seeds, 300, sum(map(len, correct_s)))


def test_paired_ci_above_zero_where_the_unpaired_cis_overlap() -> None:
    n = 400
    y = np.tile([0, 1], n // 2)
    scratch = np.arange(n) % 5 != 0  # 80% right
    distilled = scratch | (np.arange(n) % 20 == 0)  # also right on 20 more rows: 85%
    pair = PairedScores(y=y, scratch=_probs(scratch, y), distilled=_probs(distilled, y))
    # each student's own interval, from the evaluate box's bootstrap
    boot = paired_bootstrap(
        lambda rows: [ACCURACY.fn(y[rows], pair.scratch[rows])], n, n_resamples=500, seed=0
    )
    own_s = estimate(0.80, boot[:, 0], n=n, level=0.95)
    boot = paired_bootstrap(
        lambda rows: [ACCURACY.fn(y[rows], pair.distilled[rows])], n, n_resamples=500, seed=1
    )
    own_d = estimate(0.85, boot[:, 0], n=n, level=0.95)
    assert own_s.high is not None and own_d.low is not None
    assert own_d.low < own_s.high  # the unpaired intervals overlap
    gain = paired_gain([pair], ACCURACY, n_resamples=500, seed=0, level=0.95)
    assert gain.value == pytest.approx(0.05)
    assert gain.low is not None and gain.low > 0
    assert gain.to_record()["verdict"] == HELPED
    assert gain.share_above_zero == 1.0


def test_no_difference_and_hurt() -> None:
    n = 300
    y = np.tile([0, 1, 1], n // 3)
    base = np.arange(n) % 4 != 0
    swapped = base.copy()
    swapped[[0, 4, 8, 12, 16]] = True  # five rows the distilled student gets right
    swapped[[1, 2, 3, 5, 6]] = False  # and five it now gets wrong
    even = PairedScores(y=y, scratch=_probs(base, y), distilled=_probs(swapped, y))
    gain = paired_gain([even], ACCURACY, n_resamples=400, seed=3, level=0.95)
    assert gain.value == 0.0 and gain.to_record()["verdict"] == NO_DIFFERENCE
    same = PairedScores(y=y, scratch=_probs(base, y), distilled=_probs(base, y))
    assert paired_gain([same], ACCURACY, n_resamples=50, seed=0, level=0.95).low == 0.0
    worse = PairedScores(y=y, scratch=_probs(base, y), distilled=_probs(base & (y == 0), y))
    assert paired_gain([worse], ACCURACY, n_resamples=200, seed=0, level=0.95).high < 0


def test_regression_gain_is_signed_so_that_lower_error_helps() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=500)
    scratch, distilled = y + rng.normal(0, 1.0, 500), y + rng.normal(0, 0.5, 500)
    gain = paired_gain([PairedScores(y, scratch, distilled)], RMSE, n_resamples=200, seed=0,
                       level=0.95)  # fmt: skip
    rmse = lambda p: np.sqrt(np.mean((p - y) ** 2))  # noqa: E731
    assert gain.value == pytest.approx(rmse(scratch) - rmse(distilled))
    assert gain.value > 0 and gain.to_record()["verdict"] == HELPED
    assert gain.higher_is_better is False


def test_verdict_without_resamples_is_not_measured() -> None:
    y = np.array([0, 1, 0, 1])
    pair = PairedScores(y, _probs(np.ones(4, bool), y), _probs(np.ones(4, bool), y))
    gain = paired_gain([pair], ACCURACY, n_resamples=0, seed=0, level=0.95)
    assert gain.low is None and gain.p_helped is None
    assert gain.to_record()["verdict"] == NOT_MEASURED == verdict(None, 0.1)
    with pytest.raises(DataError, match="same test rows"):
        paired_gain([PairedScores(y, pair.scratch[:3], pair.distilled)], ACCURACY,
                    n_resamples=5, seed=0, level=0.95)  # fmt: skip


def test_holm_against_hand_computation() -> None:
    # sorted: .005×4 = .02, .01×3 = .03, .03×2 = .06, .04×1 = .04 → monotone .06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([0.2]) == [0.2] and holm([]) == []
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        holm([0.1, 1.5])


def _g(value: float, low: float, high: float, p: float) -> dict[str, float]:
    return {"value": value, "low": low, "high": high, "p_helped": p, "level": 0.95}


def test_best_of_k_is_corrected_by_holm() -> None:
    alone = {"kd": _g(0.02, 0.005, 0.035, 0.01)}
    assert best_of_k(alone) == ("kd", pytest.approx(0.01), HELPED)
    # the same best among three: Holm multiplies its p by 3 → 0.03 ≥ 0.025
    three = {**alone, "fitnet": _g(0.01, -0.01, 0.03, 0.2), "rkd": _g(0.0, -0.02, 0.02, 0.5)}
    assert best_of_k(three) == ("kd", pytest.approx(0.03), NO_DIFFERENCE)
    assert best_of_k(three, "fitnet")[2] == NO_DIFFERENCE
    hurt = {"kd": _g(-0.02, -0.03, -0.01, 0.99), "rkd": _g(-0.03, -0.05, -0.01, 0.99)}
    assert best_of_k(hurt) == ("kd", pytest.approx(1.0), HURT)
    assert best_of_k({}) == (None, None, NOT_MEASURED)
