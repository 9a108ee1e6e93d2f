"""The validation sections: cost waterfalls, per-system quality (intervals, calibration,
fairness, robustness, gates) and the fleet's gate summary by family.

The paper notes that distilled models must keep the fairness and robustness of their
teachers; these sections show, per system, what the records measured about that, and
only what they measured: a system whose records carry no calibration block gets no
calibration table, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from potstill.report.charts import Chart
from potstill.report.format import MISSING, esc, interval, md_table, metric, pct
from potstill.report.records import by_system
from potstill.report.waterfalls import waterfall_section
from potstill.study.aggregate import StudySummary, dig, estimate

__all__ = [
    "gates_section",
    "validation_section",
    "waterfall_section",  # re-exported from potstill.report.waterfalls
]

Records = Sequence[Mapping[str, Any]]


def _image(chart: Chart | None) -> str:
    return f"![{chart.title}](charts/{chart.file})\n\n" if chart else ""


def _chart_for(charts: Sequence[Chart], kind: str, system: str) -> Chart | None:
    return next((c for c in charts if c.kind == kind and c.system == system), None)


def _ok(recs: Records) -> list[Mapping[str, Any]]:
    return [r for r in recs if r["status"] == "ok" and isinstance(r.get("quality"), Mapping)]


def _intervals(recs: Records) -> str:
    rows = []
    for r in recs:
        q = r["quality"]
        rows.append([
            esc(r["method"]), esc(q.get("metric", MISSING)),
            interval(estimate(q.get("teacher")), metric),
            interval(estimate(q.get("student")), metric),
            interval(estimate(q.get("difference")), metric),
            interval(estimate(q.get("retention"))),
            str(q.get("n_test", MISSING)),
        ])  # fmt: skip
    head = ["Method", "Metric", "Teacher [CI]", "Student [CI]", "Difference [CI]",
            "Retention [CI]", "n test"]  # fmt: skip
    return "**Test metric with confidence intervals**\n\n" + md_table(head, rows) + _others(recs)


def _others(recs: Records) -> str:
    """Secondary metrics and fidelity to the teacher, when the records carry them."""
    secondary = [
        [esc(r["method"]), esc(name), metric(dig(v, "teacher")), metric(dig(v, "student"))]
        for r in recs for name, v in (dig(r, "quality", "secondary", default={}) or {}).items()
    ]  # fmt: skip
    names = list(dict.fromkeys(n for r in recs for n in dig(r, "quality", "fidelity", default={})))
    fidelity = [
        [esc(r["method"])]
        + [interval(estimate(dig(r, "quality", "fidelity", n)), metric) for n in names]
        for r in recs
    ]
    out = ""
    if secondary:
        table = md_table(["Method", "Secondary metric", "Teacher", "Student"], secondary)
        out += f"\n\n**Secondary metrics**\n\n{table}"
    if names:
        table = md_table(["Method", *(f"{esc(n)} [CI]" for n in names)], fidelity)
        out += f"\n\n**Fidelity to the teacher**\n\n{table}"
    return out


def _calibration(recs: Records, charts: Sequence[Chart], system: str) -> str:
    rows = []
    for r in recs:
        cal = dig(r, "quality", "calibration")
        if isinstance(cal, Mapping):
            rows.append([
                esc(r["method"]), str(cal.get("n_bins", MISSING)), metric(cal.get("teacher_ece")),
                metric(cal.get("student_ece")), metric(cal.get("temperature")),
                metric(cal.get("student_ece_scaled")),
            ])  # fmt: skip
    if not rows:
        return "*No calibration measured (regression or embedding system, or not recorded).*"
    head = ["Method", "Bins", "Teacher ECE", "Student ECE", "Temperature", "Student ECE scaled"]
    return (
        "**Calibration** (expected calibration error; lower is better)\n\n"
        + _image(_chart_for(charts, "reliability", system))
        + md_table(head, rows)
    )


def _fairness(recs: Records) -> str:
    rows, groups = [], []
    for r in recs:
        fair = dig(r, "quality", "fairness")
        if not isinstance(fair, Mapping):
            continue
        gap = fair.get("gap_increase")
        rows.append([
            esc(r["method"]), esc(fair.get("attribute", MISSING)), esc(fair.get("metric", MISSING)),
            esc(fair.get("gap_basis", "dp/eo")),
            metric(fair.get("teacher_dp_diff")), metric(fair.get("student_dp_diff")),
            metric(fair.get("teacher_eo_diff")), metric(fair.get("student_eo_diff")),
            metric(fair.get("teacher_metric_gap")), metric(fair.get("student_metric_gap")),
            metric(gap) if not isinstance(gap, (int, float)) or gap <= 0 else "+" + metric(gap),
        ])  # fmt: skip
        for name, g in (fair.get("groups") or {}).items():
            groups.append([esc(r["method"]), esc(name), str(dig(g, "n", default=MISSING)),
                           metric(dig(g, "teacher")), metric(dig(g, "student"))])  # fmt: skip
    if not rows:
        return "*No fairness measured (no sensitive attribute declared).*"
    head = ["Method", "Attribute", "Metric", "Gap basis", "Teacher DP diff", "Student DP diff",
            "Teacher EO diff", "Student EO diff", "Teacher metric gap", "Student metric gap",
            "Gap increase"]  # fmt: skip
    group_table = md_table(["Method", "Group", "n", "Teacher", "Student"], groups)
    return (
        "**Fairness gaps** (demographic parity / equalized odds differences for binary "
        "classification, else the metric's max − min spread across groups, as the gap basis "
        "says; gap increase = student gap − teacher gap, in the basis' units)\n\n"
        f"{md_table(head, rows)}\n\n{group_table}"
    )


def _robustness(recs: Records, charts: Sequence[Chart], system: str) -> str:
    rows = []
    for r in recs:
        rob = dig(r, "quality", "robustness")
        if isinstance(rob, Mapping):
            names = ", ".join(esc(n) for n in rob.get("perturbations") or {}) or MISSING
            rows.append([esc(r["method"]), names, pct(rob.get("robust_retention"))])
    if not rows:
        return "*No robustness measured.*"
    return (
        "**Robustness** (robust retention = student ÷ teacher metric over every perturbed "
        "point)\n\n"
        + _image(_chart_for(charts, "robustness", system))
        + md_table(["Method", "Perturbations", "Robust retention"], rows)
    )


def _gates(recs: Records) -> str:
    rows = [
        [esc(r["method"]), esc(g.get("name")), metric(g.get("threshold")), metric(g.get("value")),
         "pass" if g.get("passed") else "FAIL", esc(g.get("reason", ""))]
        for r in recs for g in r.get("gates") or () if isinstance(g, Mapping)
    ]  # fmt: skip
    if not rows:
        return "*No deployment gates evaluated.*"
    head = ["Method", "Gate", "Threshold", "Value", "Result", "Reason"]
    return "**Deployment gates**\n\n" + md_table(head, rows)


def validation_section(records: Records, charts: Sequence[Chart]) -> str:
    """Per system: intervals, calibration, fairness, robustness and gates, when recorded."""
    parts = ["## Validation per system"]
    for system, recs in by_system(records).items():
        ok = _ok(recs)
        head = f"### {esc(system)} ({esc(recs[0]['sector'])})"
        if not ok:
            parts.append(f"{head}\n\n*No ok run with quality measurements.*")
            continue
        blocks = [
            _intervals(ok),
            _calibration(ok, charts, system),
            _fairness(ok),
            _robustness(ok, charts, system),
            _gates(ok),
        ]
        parts.append(head + "\n\n" + "\n\n".join(blocks))
    return "\n\n".join(parts)


def gates_section(summary: StudySummary) -> str:
    """Fleet-level gate pass counts by family (``all`` = passed every gate)."""
    rows = [
        [esc(g.family), esc(g.gate), str(g.passed), str(g.total),
         pct(g.passed / g.total) if g.total else MISSING,
         str(g.not_measured) if g.gate != "all" else MISSING]
        for g in summary.gates
    ]  # fmt: skip
    body = (
        md_table(
            ["Family", "Gate", "Passed", "Total", "Pass rate", "Of which not measured"],
            rows,
            right=2,
        )
        if rows
        else "No record evaluated deployment gates."
    )
    return (
        "## Deployment gates by family\n\n"
        "Counts over every record that evaluated gates (benchmark included); "
        "`all` counts the runs that passed every one of their gates. A gate whose quantity "
        "was not measured for a run passes it and is counted in the last column.\n\n" + body
    )
