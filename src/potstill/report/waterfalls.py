"""The cost-waterfall section: per system, the best student that passes the gates, from
its teacher to its cheapest runtime, every step named by the runtime it was measured on.

A runtime that failed its quality check (an INT8 export re-scored at chance, say) is a row
with its cost and its metric, marked failed and never counted as a saving. The headline
compares the teacher's cheapest measured deployment with the student's cheapest; where the
teacher could not be measured on a comparable runtime, the section says so instead of
printing a reduction. The student's size against its teacher is stated, with a warning
when the student is the larger (``student.allow_larger``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from potstill.evaluate import gate_status
from potstill.report.charts import Chart
from potstill.report.format import MISSING, count, esc, interval, md_table, metric, pct, usd
from potstill.report.records import (
    by_system,
    failed_steps,
    reference_step,
    unmeasured_steps,
    waterfall_record,
    waterfall_steps,
)
from potstill.results.aggregate import best_student, dig, estimate

__all__ = ["size_warnings", "waterfall_section"]

Records = Sequence[Mapping[str, Any]]


def _rows(record: Mapping[str, Any]) -> list[list[str]]:
    """Counted steps with their change; failed steps in place, with their metric."""
    counted = dict(waterfall_steps(record))
    failed = {id(s) for s in failed_steps(record)}
    steps = dig(record, "costs", "extra", "waterfall", default=[])
    first = next(iter(counted.values()), None)
    rows, previous = [], None
    for step in steps:
        label = str(dig(step, "label") or dig(step, "step") or "?")
        value = dig(step, "usd_per_million")
        if id(step) in failed:
            why = f"failed, not counted: metric {metric(step.get('metric'))}; {step.get('reason')}"
            rows.append([esc(label), usd(value), esc(why), MISSING])
        elif label in counted:
            change = usd(value - previous) if previous is not None else MISSING
            rows.append(
                [esc(label), usd(value), change, pct(1 - value / first) if first else MISSING]
            )
            previous = value
    return rows


def _failed_gates(record: Mapping[str, Any]) -> str:
    """ "min_retention, max_ece": the gates a record failed (or "" when it failed none)."""
    gates = dig(record, "gates", default=[]) or []
    names = [
        str(g.get("name")) for g in gates if isinstance(g, Mapping) and gate_status(g) == "fail"
    ]
    return ", ".join(names)


def _headline(record: Mapping[str, Any], passed: bool) -> str:
    """The cost headline; when no student passes the gates it says so first and names the
    best failing student as such, so its saving never reads as a deployable result."""
    text = _reduction(record)
    if passed or not text:
        return text
    failed = _failed_gates(record)
    return (
        f"\n\nHeadline: **no student passes the gates**, so this system has no deployable "
        f"cost reduction. For the best failing student, {esc(record['method'])}"
        f"{f' (fails {esc(failed)})' if failed else ''}, for information only:"
        + text.removeprefix("\n\nHeadline:").replace(
            "the student's cheapest that keeps its quality", "its cheapest runtime"
        )
    )


def _reduction(record: Mapping[str, Any]) -> str:
    head = dig(record, "costs", "extra", "headline")
    if not isinstance(head, Mapping):
        return ""
    teacher, student = dig(head, "teacher", "label"), dig(head, "student", "label")
    t_usd, s_usd = (
        dig(record, "costs", "teacher_usd_per_million"),
        dig(record, "costs", "usd_per_million"),
    )
    note = f" {esc(head['note'])}" if head.get("note") else ""
    if not head.get("comparable"):
        return (
            "\n\nNo cost reduction is given: the teacher could not be measured on a runtime "
            f"comparable with the student's.{note}"
        )
    return (
        f"\n\nHeadline: the teacher's cheapest measured deployment, {esc(teacher)} "
        f"({usd(t_usd)} per 1M), against the student's cheapest that keeps its quality, "
        f"{esc(student)} ({usd(s_usd)}): {pct(dig(record, 'costs', 'reduction'))} less.{note}"
    )


def _teacher(record: Mapping[str, Any]) -> str:
    deps = dig(record, "costs", "extra", "teacher_deployments", default=[])
    if not isinstance(deps, Sequence) or len(deps) < 2:
        return ""
    parts = []
    for d in deps:
        text = f"{esc(d.get('label'))} {usd(d.get('usd_per_million'))}"
        if d.get("metric") is not None:
            text += f" (retention {pct(d.get('retention'))} of its native runtime)"
        if not d.get("counted"):
            text += f" — failed, not a deployment: {esc(d.get('reason', ''))}"
        parts.append(text)
    return (
        "\n\nThe teacher, timed in the same session per 1M predictions: " + "; ".join(parts) + "."
    )


def _sizing(record: Mapping[str, Any]) -> str:
    sizing = dig(record, "student", "sizing")
    if not isinstance(sizing, Mapping):
        return ""
    teacher = sizing.get("teacher") or {}
    size = (
        f"{count(teacher.get('count'))} {teacher.get('unit')}"
        if teacher.get("count") is not None
        else f"unknown ({teacher.get('source', '')})"
    )
    text = (
        f"\n\nStudent: {count(sizing.get('params'))} parameters ({esc(sizing.get('rule', ''))}); "
        f"teacher: {esc(size)}."
    )
    if sizing.get("warning"):
        text += f"\n\n**Warning: {esc(sizing['warning'])}**"
    return text


def _choice(recs: Records, record: Mapping[str, Any]) -> str:
    _, passed = best_student(recs)
    kept = interval(estimate(dig(record, "quality", "retention")))
    if passed:
        return (
            f"The best student that passes the gates: {esc(record['method'])} (retention {kept})."
        )
    return (
        f"**No student passes the gates**; the best by test metric is shown: "
        f"{esc(record['method'])} (retention {kept}). Its savings are not a deployable result."
    )


def _notes(record: Mapping[str, Any]) -> str:
    skipped = unmeasured_steps(record)
    note = f"\n\nNot measured (runtime skipped): {esc(', '.join(skipped))}." if skipped else ""
    quantized = dig(record, "costs", "extra", "quantized_teacher")
    if isinstance(quantized, Mapping):
        reduction: Any = quantized.get("reduction")
        more = isinstance(reduction, (int, float)) and reduction < 0
        shown = -reduction if more else reduction
        note += (
            "\n\nQuantisation alone, timed in the same session: the teacher's own INT8 "
            f"export costs {usd(quantized.get('usd_per_million'))} per 1M "
            f"({pct(shown)} {'more' if more else 'less'} than "
            f"the teacher) and scores {metric(quantized.get('metric_value'))} "
            f"(retention {pct(quantized.get('retention'))})"
            + (
                f"; it failed its check, so it is no deployment: {esc(quantized['reason'])}."
                if quantized.get("counted") is False
                else "."
            )
        )
    ref = reference_step(record)
    if ref is not None:
        note += (
            f"\n\nReference, timed in the same session: {esc(ref.get('note', ''))}. "
            f"Its {esc(ref.get('metric', 'metric'))} on the same test rows: "
            f"{metric(ref.get('value'))} (retention {pct(ref.get('retention'))})."
        )
    return note


def waterfall_section(records: Records, charts: Sequence[Chart]) -> str:
    """Per system with ``costs.extra["waterfall"]``: the steps from teacher to student."""
    parts = ["## Cost waterfalls"]
    for system, recs in by_system(records).items():
        record = waterfall_record(recs)
        if record is None:
            continue
        rows = _rows(record)
        first = waterfall_steps(record)[0][1]
        ref = reference_step(record)
        if ref is not None:
            value = float(ref["usd_per_million"])
            rows.append([f"reference: {esc(ref['name'])} (not a step)", usd(value), MISSING,
                         pct(1 - value / first) if first else MISSING])  # fmt: skip
        table = md_table(["Step", "$ per 1M", "Change", "Reduction vs first step"], rows, 1)
        chart = next((c for c in charts if c.kind == "waterfall" and c.system == system), None)
        parts.append(
            f"### {esc(system)} ({esc(record['method'])})\n\n"
            + _choice(recs, record)
            + "\n\n"
            + (f"![{chart.title}](charts/{chart.file})\n\n" if chart else "")
            + table
            + _headline(record, best_student(recs)[1])
            + _teacher(record)
            + _sizing(record)
            + _notes(record)
        )
    if len(parts) == 1:
        parts.append("No record carries a cost waterfall (`costs.extra.waterfall`).")
    return "\n\n".join(parts)


def size_warnings(records: Records) -> list[str]:
    """``system: warning`` for every system whose student is larger than its teacher."""
    seen: dict[str, str] = {}
    for r in records:
        warning = dig(r, "student", "sizing", "warning")
        if isinstance(warning, str):
            seen.setdefault(str(r["system"]), warning)
    return [f"{system}: {warning}" for system, warning in sorted(seen.items())]
