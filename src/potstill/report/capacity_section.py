"""The report's capacity curves and seed-combined verdicts, as a chart and Markdown.

Every figure is a field of :class:`~potstill.report.capacity.Capacity`, which reads the
records and the test scores the study kept; nothing here computes a statistic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from potstill.report.capacity import Capacity, SizeRow, size_label
from potstill.report.charts import Chart, _colour, _png
from potstill.report.format import MISSING, count, esc, md_table, metric, plural, usd
from potstill.report.records import slug
from potstill.report.verdicts import VERDICT_ORDER, gain_text, p_text

__all__ = ["capacity_charts", "capacity_counts", "capacity_section", "largest_gain_sentence"]


def _series(rows: Sequence[SizeRow], method: str) -> list[SizeRow]:
    mine = [r for r in rows if r.method == method and r.params is not None]
    return sorted(mine, key=lambda r: float(r.params or 0.0))


def capacity_chart(cap: Capacity, system: str) -> Chart:
    """Test metric and $ per 1M against student parameters, scratch beside each method."""
    rows = [r for r in cap.rows if r.system == system]
    fig = Figure(figsize=(9.6, 3.8), dpi=100)
    FigureCanvasAgg(fig)
    left, right = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for method in dict.fromkeys(r.method for r in rows):
        series = _series(rows, method)
        scratch = bool(series) and series[0].family == "baseline"
        style: dict[str, Any] = {"color": "#7f7f7f" if scratch else _colour(series[0].family if series else ""),
                 "linestyle": "--" if scratch else "-", "marker": "s" if scratch else "o",
                 "label": method}  # fmt: skip
        x = [float(r.params or 0.0) for r in series]
        left.plot(x, [r.metric if r.metric is not None else float("nan") for r in series], **style)
        right.plot(x, [r.usd if r.usd is not None else float("nan") for r in series], **style)
    for r in (r for r in rows if r.family == "baseline" and r.params is not None):
        left.annotate(size_label(r.size), (float(r.params or 0.0), r.metric or 0.0),
                      fontsize=7, textcoords="offset points", xytext=(3, -10))  # fmt: skip
    direction = "" if cap.higher_is_better.get(system, True) else " (lower is better)"
    for ax, label in ((left, f"test {cap.metric.get(system, 'metric')}{direction}"),
                      (right, "$ per 1M predictions")):  # fmt: skip
        ax.set_xscale("log")
        ax.set_xlabel("student parameters (log; labels: size)")
        ax.set_ylabel(label)
    left.legend(fontsize=7)
    fig.suptitle(f"{system}: student size, scratch beside distillation (mean over seeds)")
    return Chart("capacity", f"capacity_{slug(system)}.png", f"Capacity curve, {system}",
                 _png(fig), system)  # fmt: skip


def capacity_charts(cap: Capacity) -> list[Chart]:
    """One capacity chart per fleet system run at several sizes."""
    return [capacity_chart(cap, s) for s in cap.systems()]


def largest_gain_sentence(cap: Capacity, system: str) -> str:
    """The size where distillation's paired gain over scratch is largest, and the verdict
    at every size."""
    measured = [r for r in cap.rows if r.system == system and r.gain and
                isinstance(r.gain.get("value"), (int, float))]  # fmt: skip
    if not measured:
        return f"{esc(system)}: no size has a paired comparison of distillation with scratch."
    top = max(measured, key=lambda r: float(r.gain["value"] if r.gain else 0.0))
    best = {b.size: b for b in cap.best if b.system == system}
    at = best.get(top.size)
    per_size = "; ".join(f"{size_label(b.size)}: {b.verdict} ({esc(b.method or MISSING)})"
                         for b in best.values())  # fmt: skip
    return (
        f"**{esc(system)}**: distillation's gain over scratch is largest at size "
        f"**{size_label(top.size)}** ({count(top.params)} student parameters): {esc(top.method)} "
        f"{gain_text(top.gain)}, {top.verdict}"
        + (f"; the best of k at that size (Holm): {at.verdict}" if at else "")
        + f". Best method per size (Holm): {per_size}."
    )


def capacity_counts(cap: Capacity) -> str:
    """The count of each verdict over (system, size) pairs, combined over seeds."""
    if not cap.best:
        return ""
    pairs = Counter(b.verdict for b in cap.best)
    runs = Counter(r.verdict for r in cap.rows if r.family != "baseline")
    seeds = max((r.n_seeds for r in cap.rows), default=1)

    def listing(counts: Counter[str]) -> str:
        return ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts[v]) or "none"

    return (
        f"Combined over seeds (up to {seeds}), over {plural(len(cap.best), '(system, size) pair')}"
        f" the best method's verdict (Holm): {listing(pairs)}. Per method and size "
        f"({sum(runs.values())}, uncorrected): {listing(runs)}."
    )


def _table(cap: Capacity, system: str) -> str:
    best = {b.size: b for b in cap.best if b.system == system}
    rows = [
        [size_label(r.size), count(r.params), esc(r.method), str(r.n_seeds), metric(r.metric),
         usd(r.usd), MISSING if r.family == "baseline" else gain_text(r.gain),
         MISSING if r.family == "baseline" else esc(r.verdict),
         p_text(best[r.size].p_holm) if best[r.size].method == r.method else ""]
        for r in cap.rows if r.system == system
    ]  # fmt: skip
    return md_table(["Size", "Student params", "Method", "Seeds", "Test metric", "$ per 1M",
                     "Gain over scratch [paired CI]", "Verdict", "Holm p (best of k)"], rows)  # fmt: skip


def capacity_section(cap: Capacity, charts: Sequence[Chart]) -> str:
    """Per fleet system with several sizes or seeds: its chart, sentence and table."""
    if not cap.rows:
        return ""
    files = {c.system: c for c in charts if c.kind == "capacity"}
    parts = [
        "## Capacity curves and seeds",
        "Each system of the fleet file ran once per student size (`student.sizes`: a "
        "fraction of the teacher sets `width`, a whole number sets `target_params`) and per "
        "seed (`seeds`). At each size, a method's gain over scratch is the paired bootstrap "
        "combined over the seeds (each seed's own test rows, per-seed gains averaged); the "
        "best method per size (by mean test metric) is corrected for being the best of k "
        "(Holm). Metric, $ and parameters are means over the seeds.",
        capacity_counts(cap),
    ]
    for system in dict.fromkeys(r.system for r in cap.rows):
        chart = files.get(system)
        parts.append(f"### {esc(system)}")
        if chart is not None:
            parts.append(f"![{chart.title}](charts/{chart.file})")
            parts.append(largest_gain_sentence(cap, system))
        parts.append(_table(cap, system))
    return "\n\n".join(p for p in parts if p)
