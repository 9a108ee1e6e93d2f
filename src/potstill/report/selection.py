"""The report's cost-aware selection: per searched system, the Pareto front of its search
(every trial, the front, the choice, the default student) beside the teacher and the
teacher's own INT8 export, and a table of what the choice kept and cost.

Everything is read from the ``auto`` records (``student.search``, written by
``potstill select``): the trials' figures are validation retention and the quick
harness's $ per 1M; the teacher's, its INT8 export's and the chosen student's record
figures come from the study's own test split and full harness, and are labelled so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from potstill.report.charts import Chart, _figure, _png, register_chart
from potstill.report.format import pct, usd
from potstill.report.records import slug
from potstill.results.aggregate import StudySummary

__all__ = ["searched_records", "selection_section", "student_size"]

Records = Sequence[Mapping[str, Any]]


def searched_records(records: Records) -> list[Mapping[str, Any]]:
    """The records of chosen students that carry their search."""
    return [r for r in records if (r.get("student") or {}).get("search")]


def _trial(search: Mapping[str, Any], number: Any) -> Mapping[str, Any] | None:
    return next((t for t in search["trials"] if t["number"] == number), None)


def _reference_points(record: Mapping[str, Any]) -> list[tuple[str, float, float, str]]:
    """(label, $ per 1M, retention, marker) of the teacher, its INT8 export and the choice
    as the study measured them (test split, full harness)."""
    costs = record.get("costs") or {}
    out = []
    if costs.get("teacher_usd_per_million"):
        out.append(("teacher (test, full harness)", costs["teacher_usd_per_million"], 1.0, "D"))
    int8 = (costs.get("extra") or {}).get("quantized_teacher") or {}
    if int8.get("usd_per_million") and int8.get("retention") is not None:
        out.append(("teacher INT8 (test, full harness)", int8["usd_per_million"],
                    int8["retention"], "v"))  # fmt: skip
    retention = ((record.get("quality") or {}).get("retention") or {}).get("value")
    if costs.get("usd_per_million") and retention is not None:
        out.append(("choice (test, full harness)", costs["usd_per_million"], retention, "P"))
    return out


def _pareto_chart(record: Mapping[str, Any]) -> Chart:
    search, system = record["student"]["search"], str(record["system"])
    fig, ax = _figure()
    trials = search["trials"]
    ax.scatter([t["usd_per_million"] for t in trials], [t["retention"] for t in trials],
               c=["#bbbbbb" if t["feasible"] else "#f4a6a6" for t in trials], s=18,
               label="trials (validation, quick harness; red: infeasible)")  # fmt: skip
    front = sorted((t for t in trials if t["number"] in search["front"]),
                   key=lambda t: t["usd_per_million"])  # fmt: skip
    ax.plot([t["usd_per_million"] for t in front], [t["retention"] for t in front], "-o",
            color="#d62728", ms=4, label="Pareto front")  # fmt: skip
    for key, marker, label in (("choice", "*", "choice"), ("default", "s", "default student")):
        t = _trial(search, search.get(key))
        if t is not None:
            ax.scatter([t["usd_per_million"]], [t["retention"]], marker=marker, s=140,
                       edgecolors="black", zorder=5, label=f"{label} (validation)")  # fmt: skip
    for label, cost, retention, marker in _reference_points(record):
        ax.scatter([cost], [retention], marker=marker, s=60, zorder=4, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("$ per 1M predictions (log)")
    ax.set_ylabel("retention of the teacher's metric")
    ax.set_title(f"{system}: cost-aware search ({len(trials)} trials)")
    ax.legend(fontsize=6, loc="lower right")
    return Chart("pareto", f"pareto_{slug(system)}.png", f"Pareto front, {system}", _png(fig),
                 system)  # fmt: skip


@register_chart("pareto")
def pareto_charts(records: Records, summary: StudySummary) -> list[Chart]:
    """One Pareto chart per searched system."""
    return [_pareto_chart(r) for r in searched_records(records)]


def student_size(params: Mapping[str, Any]) -> str:
    """A searched student's size as the search drew it: ``L3 w0.5`` (a transformer's
    layers and width) or ``w0.52 d0.29`` (width and depth fractions)."""
    width = params.get("width")
    head = f"L{params['layers']} " if "layers" in params else ""
    depth = f" d{params['depth']:.2g}" if "depth" in params else ""
    return f"{head}w{width:.2g}{depth}" if width is not None else "—"


def _row(record: Mapping[str, Any]) -> str:
    search = record["student"]["search"]
    choice, default = _trial(search, search.get("choice")), _trial(search, search.get("default"))
    versus = search.get("versus_default") or {}
    ratio = (
        f"{versus['ratio']:.2f} [{versus['low']:.2f}, {versus['high']:.2f}]"
        + (" (tie)" if versus.get("tie") else "")
        if versus
        else "—"
    )
    retention = ((record.get("quality") or {}).get("retention") or {}).get("value")
    params = (choice or {}).get("params", {})
    deployed = (
        f"{student_size(params)} {params.get('method', '—')}, {params.get('runtime', '—')}, "
        f"{params.get('threads', '—')} thr"
    )
    return (
        f"| {record['system']} | {len(search['trials'])} | {deployed} | "
        f"{pct((choice or {}).get('retention'))} | {pct((default or {}).get('retention'))} | "
        f"{usd((choice or {}).get('usd_per_million'))} | {usd((default or {}).get('usd_per_million'))} | "
        f"{ratio} | {pct(retention)} | {'yes' if search.get('passed') else 'no'} |"
    )


def selection_section(records: Records) -> str:
    """The section (empty when no record carries a search)."""
    searched = searched_records(records)
    if not searched:
        return ""
    head = (
        "| system | trials | choice | val retention (choice) | val retention (default) | "
        "$/1M (choice, quick) | $/1M (default, quick) | cost ratio choice/default [95% CI] | "
        "test retention (record) | passed on validation |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    charts = "\n\n".join(
        f"![Pareto front, {r['system']}](charts/pareto_{slug(str(r['system']))}.png)"
        for r in searched
    )
    return (
        "## Cost-aware selection\n\n"
        "`potstill select` searched each system below for the cheapest student that passes "
        "every gate on the **validation** split (Optuna, successive halving over epochs); "
        "the choice was then evaluated once on the test split as the record `auto`. The "
        "cost ratio re-measures the choice against the default student in alternating "
        "rounds (bootstrap interval; one holding 1 is a tie).\n\n"
        f"{head}\n" + "\n".join(_row(r) for r in searched) + f"\n\n{charts}"
    )
