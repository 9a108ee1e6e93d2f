"""ECE of a known binning, reliability bins and temperature scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from potstill.evaluate.calibration import (
    apply_temperature,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)


def binary(confidences: list[float], predicted: list[int]) -> np.ndarray:
    c = np.asarray(confidences)
    p1 = np.where(np.asarray(predicted) == 1, c, 1 - c)
    return np.stack([1 - p1, p1], axis=1)


# 4 rows at confidence 0.9 (3 right) and 4 rows at 0.6 (2 right), with 4 bins:
# bin (0.75, 1]: |0.75 - 0.9| = 0.15; bin (0.5, 0.75]: |0.5 - 0.6| = 0.1; ECE = (0.15 + 0.1)/2
PROBA = binary([0.9] * 4 + [0.6] * 4, [0, 0, 0, 0, 1, 1, 1, 1])
Y = np.array([0, 0, 0, 1, 1, 1, 0, 0])


def test_ece_of_a_known_binning() -> None:
    assert expected_calibration_error(Y, PROBA, n_bins=4) == pytest.approx(0.125)


def test_reliability_bins_of_the_same_case() -> None:
    bins = reliability_bins(Y, PROBA, n_bins=4)
    assert bins["count"] == [0, 0, 4, 4]
    assert bins["confidence"][:2] == [None, None]
    assert bins["confidence"][2:] == pytest.approx([0.6, 0.9])
    assert bins["accuracy"][2:] == pytest.approx([0.5, 0.75])


def test_bins_are_right_closed() -> None:
    # confidence exactly 0.75 belongs to (0.5, 0.75], as sklearn's calibration_curve bins it
    bins = reliability_bins(np.array([0]), binary([0.75], [0]), n_bins=4)
    assert bins["count"] == [0, 0, 1, 0]


def test_perfectly_calibrated_has_zero_ece() -> None:
    proba = binary([0.75] * 4, [0] * 4)
    assert expected_calibration_error(np.array([0, 0, 0, 1]), proba, n_bins=15) == 0.0


def test_fit_temperature_hand_computed() -> None:
    # every row says 0.9 but only 3 of 4 are right: the NLL optimum has
    # sigmoid(ln 9 / T) = 0.75, i.e. T = ln 9 / ln 3 = 2
    proba = binary([0.9] * 4, [0] * 4)
    assert fit_temperature(np.array([0, 0, 0, 1]), proba) == pytest.approx(2.0, abs=1e-4)


def test_apply_temperature() -> None:
    # softmax(log(0.9, 0.1) / 2) = (3, 1) / 4
    np.testing.assert_allclose(apply_temperature(np.array([[0.9, 0.1]]), 2.0), [[0.75, 0.25]])
    np.testing.assert_allclose(apply_temperature(PROBA, 1.0), PROBA)


def test_summary_layout_and_scaling_helps() -> None:
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, size=n)
    # over-confident student: 75% right but always 0.99 sure
    right = rng.random(n) < 0.75
    pred = np.where(right, y, 1 - y)
    student = binary([0.99] * n, list(pred))
    teacher = binary([0.75] * n, list(pred))
    summary = calibration_summary(
        y[:200], teacher[:200], student[:200], n_bins=15, val=(y[200:], student[200:])
    )
    assert set(summary) == {
        "n_bins",
        "teacher_ece",
        "student_ece",
        "teacher_bins",
        "student_bins",
        "temperature",
        "student_ece_scaled",
    }
    assert summary["n_bins"] == 15 and len(summary["student_bins"]["count"]) == 15
    assert summary["student_ece"] > 0.15
    assert summary["temperature"] > 1.5
    assert summary["student_ece_scaled"] < 0.05
    without = calibration_summary(y, teacher, student, n_bins=15)
    assert without["temperature"] is None and without["student_ece_scaled"] is None
    assert math.isclose(sum(without["teacher_bins"]["count"]), n)
