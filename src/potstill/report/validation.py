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

from potstill.evaluate import gate_status
from potstill.report.charts import Chart
from potstill.report.format import MISSING, esc, interval, md_table, metric, pct
from potstill.report.records import by_system
from potstill.report.waterfalls import waterfall_section
from potstill.results.aggregate import GateCount, StudySummary, dig, estimate

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


_RESULT = {"pass": "pass", "fail": "FAIL", "not measured": "not measured"}


def _gates(recs: Records) -> str:
    rows = [
        [esc(r["method"]) + (" (baseline)" if r["family"] == "baseline" else ""),
         esc(g.get("name")), metric(g.get("threshold")), metric(g.get("value")),
         _RESULT[gate_status(g)], esc(g.get("reason", ""))]
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


def _gate_rows(counts: Sequence[GateCount]) -> list[list[str]]:
    return [
        [esc(g.family), esc(g.gate), str(g.passed), str(g.failed), str(g.not_measured),
         str(g.total), pct(g.passed / g.total) if g.total else MISSING]
        for g in counts
    ]  # fmt: skip


def gates_section(summary: StudySummary) -> str:
    """Fleet-level gate counts by family (``all`` = every gate of a run); the from-scratch
    baselines in their own table, never counted among the distilled students."""
    head = ["Family", "Gate", "Passed", "Failed", "Not measured", "Total", "Pass rate"]
    students = [g for g in summary.gates if g.family != "baseline"]
    baselines = [g for g in summary.gates if g.family == "baseline"]
    if not students and not baselines:
        body = "No record evaluated deployment gates."
    else:
        body = md_table(head, _gate_rows(students), right=2) if students else (
            "No distilled student evaluated deployment gates.")  # fmt: skip
        if baselines:
            body += (
                "\n\n**From-scratch baselines** (the control: the student architecture trained "
                "on labels only; reported apart, never counted among the students that "
                "passed)\n\n" + md_table(head, _gate_rows(baselines), right=2)
            )
    return (
        "## Deployment gates by family\n\n"
        "Counts over the distilled students that evaluated gates (benchmark included); "
        "`all` counts a run as passed when it passed every gate and as failed when it failed "
        "any. A gate whose quantity could not be measured for a run (no sensitive attribute, "
        "no calibration for a regression) is *not measured*: it neither passes nor fails, "
        "unless `gates.strict` is on, which counts it as failed. A regression's fairness gap "
        "is compared relative to the teacher's error (gap increase ÷ teacher RMSE).\n\n" + body
    )
