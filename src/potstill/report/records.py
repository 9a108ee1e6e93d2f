"""The headline numbers of one record, as raw values: the source of results.csv and of the
report's per-system table, so both always show the same figures.

A record holds several cost profiles (teacher and student, every runtime and batch size
measured). The headline uses, for each model, the ``eager`` profile (the one the record's
``costs`` compare) at its smallest batch size; a black-box model without one falls back
to ``native``, then to its first profile. :func:`profile_label` says which was used.

Gates: ``gates_passed``/``gates_failed``/``gates_not_measured`` of ``gates_total``, and one
column per gate (``gate_min_retention``, …) holding ``pass``, ``fail`` or ``not measured``
(empty: the gate was not set, or the record has no gates), so a gate that could not be
measured never reads as a failed one, nor as a bare False.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from potstill.costs.extras import (
    ReferenceCosts,
    WaterfallStep,
    reference_from,
    waterfall_from,
)
from potstill.evaluate import GATE_NAMES, gate_status
from potstill.results.aggregate import best_student, dig

__all__ = [
    "HEADLINE_COLUMNS",
    "by_system",
    "failed_steps",
    "headline",
    "headline_profile",
    "profile_label",
    "record_rows",
    "reference_step",
    "slug",
    "unmeasured_steps",
    "waterfall_record",
    "waterfall_steps",
]

Role = Literal["teacher", "student"]
#: Runtimes the headline prefers, in order: eager torch, then a black box's own predict.
_PREFERRED = ("eager", "native")

#: Columns of results.csv, in order.
HEADLINE_COLUMNS = (
    "system",
    "sector",
    "kind",
    "problem",
    "method",
    "family",
    "status",
    "reason",
    "metric",
    "higher_is_better",
    "teacher_metric",
    "teacher_metric_low",
    "teacher_metric_high",
    "student_metric",
    "student_metric_low",
    "student_metric_high",
    "retention",
    "retention_low",
    "retention_high",
    "gain_vs_scratch",
    "gain_vs_scratch_low",
    "gain_vs_scratch_high",
    "verdict_vs_scratch",
    "agreement",
    "pearson",
    "teacher_runtime",
    "student_runtime",
    "latency_batch_size",
    "teacher_p50_ms",
    "student_p50_ms",
    "teacher_p99_ms",
    "student_p99_ms",
    "teacher_throughput",
    "student_throughput",
    "teacher_params",
    "student_params",
    "teacher_usd_per_million",
    "student_usd_per_million",
    "teacher_cost_runtime",
    "student_cost_runtime",
    "cost_reduction",
    "cost_reduction_low",
    "cost_reduction_high",
    "cost_tie",
    "latency_reduction",
    "memory_reduction",
    "gates_passed",
    "gates_failed",
    "gates_not_measured",
    "gates_total",
    *(f"gate_{name}" for name in GATE_NAMES),
    "seed",
    "config_hash",
    "git_revision",
)


def _role(profile: Mapping[str, Any]) -> Role:
    return "teacher" if str(profile.get("model", "")).startswith("teacher") else "student"


def headline_profile(record: Mapping[str, Any], role: Role) -> Mapping[str, Any] | None:
    """The profile the headline reports for ``role`` (eager first, smallest batch)."""
    profiles = [p for p in record.get("profiles") or () if isinstance(p, Mapping)]
    mine = [p for p in profiles if _role(p) == role]
    if not mine:
        return None
    rank = {runtime: i for i, runtime in enumerate(_PREFERRED)}
    return min(
        mine, key=lambda p: (rank.get(str(p.get("runtime")), len(rank)), p.get("batch_size") or 0)
    )


def profile_label(profile: Mapping[str, Any] | None) -> str:
    """``"eager, batch 1"``: which measurement a headline latency comes from."""
    if profile is None:
        return ""
    return f"{profile.get('runtime', '?')}, batch {profile.get('batch_size', '?')}"


def _params(record: Mapping[str, Any], role: Role, profile: Mapping[str, Any] | None) -> Any:
    return dig(profile or {}, "params") or dig(record, role, "params")


def _gate_columns(gates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Counts of each gate status and each gate's own status (see the module docstring)."""
    statuses = {str(g.get("name")): gate_status(g) for g in gates}
    counts = list(statuses.values())
    return {
        "gates_passed": counts.count("pass") if gates else None,
        "gates_failed": counts.count("fail") if gates else None,
        "gates_not_measured": counts.count("not measured") if gates else None,
        "gates_total": len(gates) if gates else None,
        **{f"gate_{name}": statuses.get(name) for name in GATE_NAMES},
    }


def headline(record: Mapping[str, Any]) -> dict[str, Any]:
    """The raw headline values of one record, keyed by :data:`HEADLINE_COLUMNS`."""
    teacher = headline_profile(record, "teacher")
    student = headline_profile(record, "student")
    gates = [g for g in record.get("gates") or () if isinstance(g, Mapping)]
    row: dict[str, Any] = {
        key: record.get(key)
        for key in ("system", "sector", "kind", "problem", "method", "family", "status")
    }
    row.update(
        reason=record.get("reason") or "",
        metric=dig(record, "quality", "metric"),
        higher_is_better=dig(record, "quality", "higher_is_better"),
        agreement=dig(record, "quality", "fidelity", "agreement", "value"),
        pearson=dig(record, "quality", "fidelity", "pearson", "value"),
        teacher_runtime=dig(teacher or {}, "runtime"),
        student_runtime=dig(student or {}, "runtime"),
        latency_batch_size=dig(student or teacher or {}, "batch_size"),
        teacher_p50_ms=dig(teacher or {}, "latency", "p50_ms"),
        student_p50_ms=dig(student or {}, "latency", "p50_ms"),
        teacher_p99_ms=dig(teacher or {}, "latency", "p99_ms"),
        student_p99_ms=dig(student or {}, "latency", "p99_ms"),
        teacher_throughput=dig(teacher or {}, "throughput"),
        student_throughput=dig(student or {}, "throughput"),
        teacher_params=_params(record, "teacher", teacher),
        student_params=_params(record, "student", student),
        teacher_usd_per_million=dig(record, "costs", "teacher_usd_per_million"),
        student_usd_per_million=dig(record, "costs", "usd_per_million"),
        teacher_cost_runtime=dig(record, "costs", "extra", "teacher", "runtime"),
        student_cost_runtime=dig(record, "costs", "extra", "student", "runtime"),
        cost_reduction=dig(record, "costs", "reduction"),
        cost_reduction_low=dig(record, "costs", "cost_reduction", "low"),
        cost_reduction_high=dig(record, "costs", "cost_reduction", "high"),
        cost_tie=dig(record, "costs", "cost_reduction", "tie"),
        latency_reduction=dig(record, "costs", "latency_reduction"),
        memory_reduction=dig(record, "costs", "memory_reduction"),
        **_gate_columns(gates),
        seed=record.get("seed"),
        config_hash=record.get("config_hash"),
        git_revision=record.get("git_revision"),
    )
    for name, key in (("teacher_metric", "teacher"), ("student_metric", "student")):
        row[name] = dig(record, "quality", key, "value")
        row[f"{name}_low"] = dig(record, "quality", key, "low")
        row[f"{name}_high"] = dig(record, "quality", key, "high")
    for suffix in ("", "_low", "_high"):
        row[f"retention{suffix}"] = dig(record, "quality", "retention", suffix[1:] or "value")
        row[f"gain_vs_scratch{suffix}"] = dig(
            record, "quality", "versus_scratch", suffix[1:] or "value"
        )
    row["verdict_vs_scratch"] = dig(record, "quality", "versus_scratch", "verdict")
    return {key: row.get(key) for key in HEADLINE_COLUMNS}


def record_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One headline row per record, every status included (results.csv)."""
    return [headline(r) for r in records]


def by_system(records: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Records grouped by system, systems sorted by name, records in their given order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        groups.setdefault(str(r["system"]), []).append(r)
    return {name: groups[name] for name in sorted(groups)}


def slug(name: str) -> str:
    """A file-name-safe form of a system name (for chart files)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "system"


def _steps(record: Mapping[str, Any]) -> list[WaterfallStep]:
    return waterfall_from(record.get("costs"))


def waterfall_steps(record: Mapping[str, Any]) -> list[tuple[str, float]]:
    """``(label, usd_per_million)`` of the counted steps of ``costs.extra["waterfall"]``.

    Steps without a finite ``usd_per_million`` (a skipped runtime: ``measured: false``)
    are named by :func:`unmeasured_steps`, and steps that failed their quality check
    (``counted: false``) by :func:`failed_steps`: neither is a saving.
    """
    return [
        (step.label, step.usd) for step in _steps(record) if step.usd is not None and step.counted
    ]


def failed_steps(record: Mapping[str, Any]) -> list[WaterfallStep]:
    """The waterfall steps that were measured but failed their quality check."""
    return [step for step in _steps(record) if step.failed]


def unmeasured_steps(record: Mapping[str, Any]) -> list[str]:
    """Labels of the waterfall steps that carry no dollar figure."""
    return [step.label for step in _steps(record) if step.usd is None]


def waterfall_record(records: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The record whose waterfall a system shows: its best student that passes the gates
    (:func:`~potstill.results.aggregate.best_student`), when its waterfall has a baseline and
    another measured step (counted or failed)."""
    record, _ = best_student(records)
    if record is None or not waterfall_steps(record):
        return None
    return record if len(waterfall_steps(record)) + len(failed_steps(record)) >= 2 else None


def reference_step(record: Mapping[str, Any]) -> ReferenceCosts | None:
    """The measured outside reference of ``costs.extra["reference"]`` (e.g. the INT8 MiniLM
    of the text systems), or None. It is set beside the waterfall, not inside it: it is
    another model, not a further lever on the student."""
    ref = reference_from(record.get("costs"))
    if ref is None or not ref.measured or not _finite(ref.usd_per_million):
        return None
    return ref


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
