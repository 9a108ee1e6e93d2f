"""Fidelity measures against known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from potstill.evaluate.fidelity import (
    agreement,
    fidelity_statistic,
    js_divergence,
    kl_divergence,
    mean_abs_difference,
    pearson,
)

P = np.array([[0.5, 0.5]])
Q = np.array([[0.9, 0.1]])


def test_kl_of_known_distributions() -> None:
    # KL(P‖Q) = 0.5 ln(0.5/0.9) + 0.5 ln(0.5/0.1) = ln(5/3)
    assert kl_divergence(P, Q) == pytest.approx(math.log(5 / 3))
    # KL(Q‖P) = 0.9 ln 1.8 + 0.1 ln 0.2
    assert kl_divergence(Q, P) == pytest.approx(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert kl_divergence(P, P) == 0.0


def test_js_of_known_distributions() -> None:
    # m = (0.7, 0.3)
    expected = 0.5 * (0.5 * math.log(0.5 / 0.7) + 0.5 * math.log(0.5 / 0.3)) + 0.5 * (
        0.9 * math.log(0.9 / 0.7) + 0.1 * math.log(0.1 / 0.3)
    )
    assert js_divergence(P, Q) == pytest.approx(expected)
    # scipy's Jensen-Shannon *distance* is the square root of the divergence
    assert js_divergence(P, Q) == pytest.approx(jensenshannon(P[0], Q[0]) ** 2)
    # disjoint supports reach the bound ln 2
    assert js_divergence(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])) == pytest.approx(
        math.log(2)
    )


def test_kl_with_zero_student_probability_is_large_but_finite() -> None:
    value = kl_divergence(np.array([[0.5, 0.5]]), np.array([[1.0, 0.0]]))
    assert math.isfinite(value) and value > 10


def test_agreement_is_top1_match_rate() -> None:
    t = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    s = np.array([[0.6, 0.4], [0.4, 0.6], [0.4, 0.6], [0.8, 0.2]])
    assert agreement(t, s) == 0.5


def test_regression_fidelity() -> None:
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert pearson(t, 2 * t + 1) == pytest.approx(1.0)
    assert pearson(t, -t) == pytest.approx(-1.0)
    assert math.isnan(pearson(t, np.ones(4)))
    assert mean_abs_difference(t, np.array([1.5, 2.0, 2.0, 4.0])) == pytest.approx(0.375)


def test_statistic_on_all_rows_gives_point_values() -> None:
    t = np.vstack([P, Q])
    s = np.vstack([Q, Q])
    stat = fidelity_statistic("classification", t, s)
    agree, kl, js = stat(np.arange(2))
    assert agree == 1.0
    assert kl == pytest.approx(math.log(5 / 3) / 2)
    assert js == pytest.approx(js_divergence(P, Q) / 2)
    # a resample of row 1 twice: identical distributions
    assert stat(np.array([1, 1])) == pytest.approx([1.0, 0.0, 0.0])
