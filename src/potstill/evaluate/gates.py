"""Deployment gates: turn a :class:`~potstill.types.Quality` into pass/fail with reasons.

A team puts ``potstill check`` in CI; a gate must therefore never pass by accident and
never fail for a reason nobody can read. Rules:

- A gate compares the point estimate with its threshold (``>=`` for ``min_*``, ``<=`` for
  ``max_*``); the reason states value, threshold and, for retention, the interval.
- A gate whose measure was **not measured** (no sensitive attribute declared, a regression
  task has no calibration, robustness switched off) has status ``"not measured"``,
  ``passed=False``, ``value=None`` and a reason starting with ``"not measured: "``: it does
  not pass, and it fails under ``strict`` (``gates.strict`` / ``potstill check --strict``).
  Without ``strict`` it does not fail either: absence of a measure is not evidence against
  the student, and the status keeps it visible.
- A gate whose measure was taken but is undefined (NaN, e.g. a teacher metric of 0 makes
  retention undefined) **fails**: something is wrong and a human must look.
- A retention outside :data:`~potstill.evaluate.sanity.SUSPECT_RETENTION` (flagged
  ``retention_suspect`` in the record) **fails** ``min_retention`` whatever the threshold:
  266 % retention means the teacher is scored wrongly (class order, target) or is too weak
  to compare against, never that the student is good enough.
- The fairness gap of a regression (the spread of an error in target units, e.g. RMSE
  across groups) is compared **relative to the teacher's metric**: gap increase ÷ the
  teacher's RMSE, so one threshold means the same for every target scale. The reason says
  so, with both numbers.

``max_ece`` reads the student's ECE *before* temperature scaling, since the exported
student does not carry the fitted temperature. ``max_fairness_gap_increase`` reads
``fairness["gap_increase"]`` (see :mod:`potstill.evaluate.fairness`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from potstill.errors import StoreError
from potstill.evaluate.config import GatesConfig
from potstill.evaluate.metrics import METRICS
from potstill.evaluate.sanity import SUSPECT_RETENTION
from potstill.types import GATE_STATUSES, Estimate, GateResult, Quality

__all__ = ["GATE_NAMES", "apply_gates", "gate_status", "quality_from_dict", "relative_gap"]

NOT_MEASURED = "not measured: "

# measure(quality) -> (value, None) when measured, (None, why) when not measured
Measure = Callable[[Quality], tuple[float | None, str | None]]


def _retention(q: Quality) -> tuple[float | None, str | None]:
    return q.retention.value, None


def relative_gap(q: Quality) -> bool:
    """Whether the fairness gap of ``q`` is in target units (a regression error spread),
    so that the gate compares it relative to the teacher's metric."""
    if q.fairness is None or q.fairness.get("gap_basis", "metric") != "metric":
        return False
    spec = METRICS.get(str(q.fairness.get("metric") or q.metric))
    return spec is not None and spec.problem == "regression" and not spec.higher_is_better


def _gap(q: Quality) -> tuple[float | None, str | None]:
    if q.fairness is None:
        return None, "no sensitive attribute declared for this task (or fairness off)"
    gap = q.fairness.get("gap_increase")
    if gap is None or not relative_gap(q):
        return gap, None
    teacher = abs(q.teacher.value)
    return (gap / teacher if teacher > 0 else float("nan")), None


def _ece(q: Quality) -> tuple[float | None, str | None]:
    if q.calibration is None:
        return None, "no calibration measured (regression task)"
    return q.calibration.get("student_ece"), None


def _robust(q: Quality) -> tuple[float | None, str | None]:
    if q.robustness is None:
        return None, "robustness was not evaluated"
    if not q.robustness.get("perturbations"):
        return None, "no perturbation applies to this kind of data"
    return q.robustness.get("robust_retention"), None


#: gate name -> (label of the measure, True if the threshold is a minimum, measure)
_GATES: dict[str, tuple[str, bool, Measure]] = {
    "min_retention": ("retention", True, _retention),
    "max_fairness_gap_increase": ("fairness gap increase", False, _gap),
    "max_ece": ("student ECE", False, _ece),
    "min_robust_retention": ("robust retention", True, _robust),
}

#: The gates in the order they are reported (GatesConfig's field order).
GATE_NAMES: tuple[str, ...] = tuple(_GATES)


def _interval(estimate: Estimate) -> str:
    if estimate.low is None or estimate.high is None:
        return ""
    level = f"{estimate.level:.0%} " if estimate.level is not None else ""
    return f" ({level}CI {estimate.low:.4g}–{estimate.high:.4g}, n={estimate.n})"


def _not_measured(name: str, threshold: float, why: str, strict: bool) -> GateResult:
    if strict:
        reason = f"{NOT_MEASURED}{why} (fails: gates.strict is on)"
        return GateResult(name, threshold, None, False, reason, "fail")
    return GateResult(name, threshold, None, False, NOT_MEASURED + why, "not measured")


def _label(name: str, label: str, quality: Quality) -> str:
    """The measure's name in the reason; a regression's fairness gap says it is relative."""
    if name != "max_fairness_gap_increase" or not relative_gap(quality):
        return label
    increase = (quality.fairness or {}).get("gap_increase")
    if increase is None:
        return f"{label} relative to the teacher's {quality.metric}"
    return (
        f"{label} relative to the teacher's {quality.metric} (increase {increase:.4g} "
        f"÷ teacher {quality.metric} {quality.teacher.value:.4g})"
    )


def _suspect(retention: float) -> bool:
    low, high = SUSPECT_RETENTION
    return not low <= retention <= high


def _suspect_result(threshold: float, value: float, quality: Quality) -> GateResult:
    """A suspect retention fails the gate, saying why (it never passes, even above 1)."""
    low, high = SUSPECT_RETENTION
    reason = (
        f"retention {value:.4g} is suspect (outside [{low:g}, {high:g}]; teacher "
        f"{quality.metric} {quality.teacher.value:.4g}, student {quality.student.value:.4g}): "
        "check the teacher's class order and target; a suspect retention never passes"
    )
    return GateResult("min_retention", threshold, float(value), False, reason)


def apply_gates(quality: Quality, gates: GatesConfig) -> list[GateResult]:
    """One :class:`GateResult` per gate with a threshold in ``gates``, in GATE_NAMES order."""
    results = []
    for name in GATE_NAMES:
        threshold = getattr(gates, name)
        if threshold is None:
            continue
        label, is_min, measure = _GATES[name]
        value, why = measure(quality)
        if why is not None:
            results.append(_not_measured(name, threshold, why, gates.strict))
            continue
        label = _label(name, label, quality)
        if value is None or not math.isfinite(value):
            reason = f"{label} is undefined (NaN) for this student"
            results.append(GateResult(name, threshold, None, False, reason))
            continue
        if name == "min_retention" and _suspect(value):
            results.append(_suspect_result(threshold, value, quality))
            continue
        passed = value >= threshold if is_min else value <= threshold
        symbol = (">=" if passed else "<") if is_min else ("<=" if passed else ">")
        extra = _interval(quality.retention) if name == "min_retention" else ""
        reason = f"{label} {value:.4g} {symbol} {threshold:g}{extra}"
        results.append(GateResult(name, threshold, float(value), bool(passed), reason))
    return results


def gate_status(gate: Mapping[str, Any]) -> str:
    """``"pass"``, ``"fail"`` or ``"not measured"`` of a gate as a record stores it.

    Records written before gates had a status stored a not-measured gate as passed with a
    ``"not measured: "`` reason; those read as ``"not measured"``.
    """
    status = gate.get("status")
    if status == "pass" and not gate.get("passed", True):
        return "fail"  # contradictory fields never read as a pass
    if status in GATE_STATUSES:
        return str(status)
    if gate.get("value") is None and str(gate.get("reason", "")).startswith(NOT_MEASURED):
        return "not measured"
    return "pass" if gate.get("passed") else "fail"


def _estimate(data: Any, where: str) -> Estimate:
    if not isinstance(data, Mapping) or "value" not in data:
        raise StoreError(f"{where} must be an estimate object with a 'value'. Got {data!r}.")
    value = data["value"]
    return Estimate(
        value=float("nan") if value is None else float(value),
        low=data.get("low"),
        high=data.get("high"),
        n=data.get("n"),
        level=data.get("level"),
    )


def quality_from_dict(data: Mapping[str, Any], *, where: str = "quality") -> Quality:
    """Rebuild a :class:`Quality` from its JSON form (as the result store keeps it).

    Raises ``StoreError`` naming ``where`` and the missing field when the JSON is malformed.
    """
    required = (
        "metric",
        "higher_is_better",
        "teacher",
        "student",
        "retention",
        "difference",
        "n_test",
    )
    missing = [key for key in required if key not in data]
    if missing:
        raise StoreError(
            f"{where} lacks the field(s) {', '.join(missing)}. Rerun the study to recompute it."
        )
    return Quality(
        metric=str(data["metric"]),
        higher_is_better=bool(data["higher_is_better"]),
        teacher=_estimate(data["teacher"], f"{where}.teacher"),
        student=_estimate(data["student"], f"{where}.student"),
        retention=_estimate(data["retention"], f"{where}.retention"),
        difference=_estimate(data["difference"], f"{where}.difference"),
        n_test=int(data["n_test"]),
        secondary=data.get("secondary") or {},
        fidelity={
            k: _estimate(v, f"{where}.fidelity.{k}")
            for k, v in (data.get("fidelity") or {}).items()
        },
        calibration=data.get("calibration"),
        fairness=data.get("fairness"),
        robustness=data.get("robustness"),
        versus_scratch=data.get("versus_scratch"),
    )
