"""Gate logic: pass, fail, not measured, undefined; GatesConfig validation."""

from __future__ import annotations

import math
from typing import Any

import pytest

from potstill.errors import ConfigError, StoreError
from potstill.evaluate import GatesConfig, apply_gates, gate_status, quality_from_dict
from potstill.types import Estimate, Quality, to_jsonable


def quality(
    retention: float = 0.98,
    *,
    fairness: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    robustness: dict[str, Any] | None = None,
) -> Quality:
    return Quality(
        metric="accuracy",
        higher_is_better=True,
        teacher=Estimate(0.90, 0.87, 0.93, 300, 0.95),
        student=Estimate(0.90 * retention, n=300),
        retention=Estimate(retention, 0.95, 1.01, 300, 0.95),
        difference=Estimate(0.90 * retention - 0.90, n=300),
        n_test=300,
        fairness=fairness,
        calibration=calibration,
        robustness=robustness,
    )


ALL = GatesConfig(
    min_retention=0.97, max_fairness_gap_increase=0.02, max_ece=0.05, min_robust_retention=0.95
)
FULL: dict[str, dict[str, Any]] = dict(
    fairness={"gap_increase": 0.01},
    calibration={"student_ece": 0.04},
    robustness={"perturbations": {"gaussian_noise": {}}, "robust_retention": 0.96},
)


def test_all_pass_in_field_order_with_reasons() -> None:
    results = apply_gates(quality(0.98, **FULL), ALL)
    assert [r.name for r in results] == [
        "min_retention",
        "max_fairness_gap_increase",
        "max_ece",
        "min_robust_retention",
    ]
    assert all(r.passed for r in results)
    assert results[0].reason == "retention 0.98 >= 0.97 (95% CI 0.95–1.01, n=300)"
    assert results[2].reason == "student ECE 0.04 <= 0.05"
    assert [r.value for r in results] == [0.98, 0.01, 0.04, 0.96]


def test_failures() -> None:
    q = quality(
        0.96,
        fairness={"gap_increase": 0.05},
        calibration={"student_ece": 0.2},
        robustness={"perturbations": {"x": {}}, "robust_retention": 0.5},
    )
    results = apply_gates(q, ALL)
    assert not any(r.passed for r in results)
    assert results[0].reason.startswith("retention 0.96 < 0.97")
    assert results[1].reason == "fairness gap increase 0.05 > 0.02"


def test_boundary_is_inclusive() -> None:
    assert apply_gates(quality(0.97), GatesConfig(min_retention=0.97))[0].passed


def test_unmeasured_gates_are_not_measured_never_passed() -> None:
    results = apply_gates(quality(0.98), ALL)
    assert [r.status for r in results] == ["pass", "not measured", "not measured", "not measured"]
    assert [r.passed for r in results] == [True, False, False, False]
    assert [r.value for r in results[1:]] == [None, None, None]
    assert all(r.reason.startswith("not measured: ") for r in results[1:])
    assert "sensitive attribute" in results[1].reason


def test_strict_fails_the_unmeasured_gates() -> None:
    strict = ALL.model_copy(update={"strict": True})
    results = apply_gates(quality(0.98), strict)
    assert [r.status for r in results] == ["pass", "fail", "fail", "fail"]
    assert all("gates.strict" in r.reason for r in results[1:])


def test_gate_status_of_stored_records_old_and_new() -> None:
    old_not_measured = {"value": None, "passed": True, "reason": "not measured: no attribute"}
    assert gate_status(old_not_measured) == "not measured"
    assert gate_status({"value": 0.9, "passed": False, "reason": "x"}) == "fail"
    assert gate_status(to_jsonable(apply_gates(quality(0.98), ALL)[2])) == "not measured"


def regression_quality(teacher_rmse: float, gap_increase: float) -> Quality:
    return Quality(
        metric="rmse",
        higher_is_better=False,
        teacher=Estimate(teacher_rmse),
        student=Estimate(teacher_rmse * 1.05),
        retention=Estimate(1 / 1.05),
        difference=Estimate(teacher_rmse * 0.05),
        n_test=100,
        fairness={"metric": "rmse", "gap_basis": "metric", "gap_increase": gap_increase},
    )


def test_regression_fairness_gap_is_relative_to_the_teacher_metric() -> None:
    gate = GatesConfig(max_fairness_gap_increase=0.02)
    # 2.36 RMSE of gap increase on a target whose teacher RMSE is 118: 2 % of it.
    (small,) = apply_gates(regression_quality(118.0, 2.36), gate)
    assert small.status == "pass" and small.value == pytest.approx(0.02)
    assert "relative to the teacher's rmse" in small.reason
    assert "2.36" in small.reason and "118" in small.reason
    (large,) = apply_gates(regression_quality(10.0, 2.36), gate)
    assert large.status == "fail" and large.value == pytest.approx(0.236)
    # a classification metric spread stays absolute (it is already a fraction)
    q = quality(0.98, fairness={"metric": "accuracy", "gap_basis": "metric", "gap_increase": 0.03})
    (absolute,) = apply_gates(q, gate)
    assert absolute.value == 0.03 and "relative" not in absolute.reason


def test_undefined_measure_fails() -> None:
    results = apply_gates(quality(float("nan"), fairness={"gap_increase": None}), ALL)
    assert not results[0].passed and "undefined" in results[0].reason
    assert not results[1].passed


def test_only_configured_gates_are_reported() -> None:
    assert apply_gates(quality(), GatesConfig()) == []
    assert [r.name for r in apply_gates(quality(), GatesConfig(max_ece=0.1))] == ["max_ece"]


def test_gates_config_validation() -> None:
    with pytest.raises(
        ConfigError,
        match=r"The 'min_retention' parameter of GatesConfig "
        r"must be > 0. Got -1.0 instead.",
    ):
        GatesConfig(min_retention=-1)
    with pytest.raises(ConfigError, match="'max_ece' parameter of GatesConfig must be <= 1"):
        GatesConfig(max_ece=2)
    merged = GatesConfig(min_retention=0.9, max_ece=0.1).merged(GatesConfig(min_retention=0.99))
    assert (merged.min_retention, merged.max_ece) == (0.99, 0.1)
    assert GatesConfig().is_empty() and not merged.is_empty()
    assert GatesConfig(strict=True).is_empty()  # strict alone sets no threshold
    assert GatesConfig(strict=True).merged(GatesConfig(max_ece=0.1)).strict  # not reset


def test_quality_round_trips_through_json() -> None:
    q = quality(0.98, **FULL)
    back = quality_from_dict(to_jsonable(q))
    assert back == q
    nan = quality_from_dict(to_jsonable(quality(float("nan"))))
    assert math.isnan(nan.retention.value)
    with pytest.raises(StoreError, match=r"rec lacks the field\(s\) retention"):
        quality_from_dict(
            {k: v for k, v in to_jsonable(q).items() if k != "retention"}, where="rec"
        )


@pytest.mark.parametrize("retention", [2.667, 1.51, 0.49])
def test_suspect_retention_fails_the_retention_gate(retention: float) -> None:
    """A forced weak teacher made 266.7 % retention pass `check`; outside [0.5, 1.5] it fails."""
    (result,) = apply_gates(quality(retention), GatesConfig(min_retention=0.97))
    assert result.status == "fail" and not result.passed
    assert "suspect" in result.reason and "never passes" in result.reason


def test_retention_just_inside_the_suspect_range_is_judged_normally() -> None:
    (result,) = apply_gates(quality(1.5), GatesConfig(min_retention=0.97))
    assert result.status == "pass"
