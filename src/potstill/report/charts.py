"""The report's charts: one registered function per kind of chart, PNG bytes out.

Charts are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas directly,
so no pyplot global state (current figure, backend switch) is touched and two reports can
render side by side. Each chart function reads only the records and the aggregate;
charts whose data are absent (no waterfall, no calibration bins) are simply not drawn.
New kinds register with ``@register_chart("name")``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from potstill.errors import ConfigError
from potstill.registry import Registry
from potstill.report.claims import PAPER_CLAIMS
from potstill.report.format import metric, usd
from potstill.report.records import (
    by_system,
    failed_steps,
    reference_step,
    slug,
    waterfall_record,
    waterfall_steps,
)
from potstill.results.aggregate import BENCHMARK, GroupStat, StudySummary, dig

__all__ = [
    "FAMILY_COLOURS",
    "Chart",
    "available_charts",
    "create_charts",
    "register_chart",
]

Records = Sequence[Mapping[str, Any]]
ChartFn = Callable[[Records, StudySummary], list["Chart"]]

FAMILY_COLOURS = {
    "baseline": "#7f7f7f",
    "response": "#1f77b4",
    "feature": "#ff7f0e",
    "relation": "#2ca02c",
    "combined": "#9467bd",
}
_OTHER_COLOURS = ("#8c564b", "#e377c2", "#bcbd22", "#17becf", "#d62728")


@dataclass(frozen=True)
class Chart:
    """One rendered chart: ``file`` is its name under ``DIR/charts/``."""

    kind: str
    file: str
    title: str
    png: bytes
    system: str | None = None


_CHARTS: Registry[ChartFn] = Registry("chart kind", plural="kinds")


def register_chart(name: str) -> Callable[[ChartFn], ChartFn]:
    """Register a chart function ``(records, summary) -> list[Chart]`` under ``name``."""

    def add(fn: ChartFn) -> ChartFn:
        _CHARTS.register(name, fn)
        return fn

    return add


def available_charts() -> list[str]:
    """Names of the registered chart kinds."""
    return _CHARTS.names()


def create_charts(
    records: Records, summary: StudySummary, names: Sequence[str] | None = None
) -> list[Chart]:
    """Render the named chart kinds (all registered ones by default), in that order."""
    chosen = list(_CHARTS) if names is None else list(names)
    unknown = [n for n in chosen if n not in _CHARTS]
    if unknown:
        raise ConfigError(
            f"Unknown chart kind(s) {unknown}. Valid kinds are: {', '.join(available_charts())}."
        )
    charts, used = [], set()
    for chart in (c for name in chosen for c in _CHARTS[name](records, summary)):
        stem, n = chart.file.removesuffix(".png"), 1
        while chart.file in used:  # two system names with the same file-safe slug
            n += 1
            chart = replace(chart, file=f"{stem}-{n}.png")
        used.add(chart.file)
        charts.append(chart)
    return charts


def _ordered(families: Iterable[str]) -> list[str]:
    known = [f for f in FAMILY_COLOURS if f in families]
    return known + sorted(set(families) - set(known))


def _colour(family: str) -> str:
    if family in FAMILY_COLOURS:
        return FAMILY_COLOURS[family]
    return _OTHER_COLOURS[sum(map(ord, family)) % len(_OTHER_COLOURS)]


def _figure(width: float = 6.4, height: float = 3.8) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _pct(x: float | None) -> float:
    return 100.0 * x if x is not None else float("nan")


def _axis_floor(values: Iterable[float]) -> float:
    """0, or below the lowest value with a margin: an axis never hides a negative value."""
    finite = [v for v in values if v == v]
    lowest = min(finite, default=0.0)
    return 0.0 if lowest >= 0 else lowest - 0.1 * max(abs(lowest), 10.0)


def _paper_claims(ax: Axes, stats: list[GroupStat], claims: dict[str, Any]) -> None:
    """The paper's claim beside each measured bar: a grey bar (mean ± sd) or a range."""
    paper_done = range_done = False
    for x, s in enumerate(stats):
        claim = claims.get(s.group)
        if claim is not None and claim.value is not None:
            ax.bar(
                x + 0.2,
                _pct(claim.value),
                0.4,
                yerr=_pct(claim.sd),
                capsize=4,
                color="#c7c7c7",
                label="_nolegend_" if paper_done else "paper's claim (mean ± sd)",
            )
            paper_done = True
        elif claim is not None and claim.low is not None and claim.high is not None:
            ax.vlines(
                x + 0.2,
                _pct(claim.low),
                _pct(claim.high),
                colors="#7f7f7f",
                linewidth=8,
                label="_nolegend_" if range_done else "paper's claimed range",
            )
            range_done = True


@register_chart("sector_reduction")
def sector_reduction(records: Records, summary: StudySummary) -> list[Chart]:
    """Mean cost reduction per sector with sd error bars, beside the paper's claims."""
    stats: list[GroupStat] = [*summary.cost_by_sector, summary.cost_overall]
    if summary.cost_benchmark is not None:
        stats.append(summary.cost_benchmark)
    stats = [s for s in stats if s.n > 0]
    if not stats:
        return []
    claims = {c.group: c for c in PAPER_CLAIMS if c.kind == "cost"}
    fig, ax = _figure()
    xs = range(len(stats))
    means = [_pct(s.mean) for s in stats]
    sds = [_pct(s.sd) if s.sd is not None else 0.0 for s in stats]
    hatches = ["//" if s.group == BENCHMARK else "" for s in stats]
    ax.bar(
        [x - 0.2 if s.group in claims else x for x, s in zip(xs, stats, strict=True)],
        means,
        0.4,
        yerr=sds,
        capsize=4,
        color="#1f77b4",
        hatch=hatches,
        label="measured (mean ± sd)",
    )
    _paper_claims(ax, stats, claims)
    ax.set_xticks(list(xs), [f"{s.group}\n(n={s.n})" for s in stats], fontsize=8)
    ax.set_ylabel("cost reduction per 1M predictions (%)")
    low = _axis_floor([m - sd for m, sd in zip(means, sds, strict=True)] + [
        _pct(s.minimum) for s in stats])  # fmt: skip
    ax.set_ylim(low, 125)  # a student dearer than its teacher is a negative reduction
    ax.set_yticks(range(int(low) // 20 * 20 if low < 0 else 0, 101, 20))
    if low < 0:
        ax.axhline(0, color="black", linewidth=0.8)
    ax.set_title("Cost reduction by sector (benchmark hatched, not in overall)")
    ax.legend(loc="upper left", fontsize=7, ncol=3)
    return [
        Chart("sector_reduction", "sector_reduction.png", "Cost reduction by sector", _png(fig))
    ]


#: Marker and legend note per kind of point: regression retention is an error ratio, shown
#: with its own marker and never read as accuracy retention.
_MARKERS = {
    "classification": ("o", ""),
    "regression": ("s", " (regression)"),
    "embedding": ("D", " (embedding)"),
    "benchmark": ("^", " (benchmark)"),
}


@register_chart("retention_vs_reduction")
def retention_vs_reduction(records: Records, summary: StudySummary) -> list[Chart]:
    """One point per (system, method): cost reduction vs retention, coloured by family."""
    points: dict[str, list[tuple[float, float, str]]] = {}
    for r in records:
        red, ret = dig(r, "costs", "reduction"), dig(r, "quality", "retention", "value")
        if r["status"] == "ok" and isinstance(red, (int, float)) and isinstance(ret, (int, float)):
            kind = "benchmark" if r["sector"] == BENCHMARK else str(r.get("problem", ""))
            points.setdefault(r["family"], []).append((red, ret, kind))
    if not points:
        return []
    fig, ax = _figure()
    for family in _ordered(points):
        for kind, (marker, note) in _MARKERS.items():
            sel = [(x, y) for x, y, k in points[family] if k == kind or (
                kind == "classification" and k not in _MARKERS)]  # fmt: skip
            if sel:
                ax.scatter(
                    [_pct(x) for x, _ in sel],
                    [_pct(y) for _, y in sel],
                    marker=marker,
                    color=_colour(family),
                    label=family + note,
                    edgecolors="black",
                    linewidths=0.4,
                )
    ax.axvline(0, color="black", linewidth=0.6)  # left of it: the student costs more
    ax.set_xlabel("cost reduction (%)")
    ax.set_ylabel("retention (%); regression (squares): error ratio")
    ax.set_title("Retention vs cost reduction, one point per system × method")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return [
        Chart(
            "retention_vs_reduction",
            "retention_vs_reduction.png",
            "Retention vs cost reduction",
            _png(fig),
        )
    ]


@register_chart("waterfall")
def waterfall(records: Records, summary: StudySummary) -> list[Chart]:
    """Per system: $ per 1M predictions after each step of ``costs.extra["waterfall"]``."""
    charts = []
    for system, recs in by_system(records).items():
        record = waterfall_record(recs)
        if record is None:
            continue
        steps = waterfall_steps(record)
        fig, ax = _figure()
        labels = [label for label, _ in steps]
        for i, (_, value) in enumerate(steps):
            base = 0.0 if i == 0 else min(value, steps[i - 1][1])
            height = value if i == 0 else abs(value - steps[i - 1][1])
            colour = "#7f7f7f" if i == 0 else "#2ca02c" if value <= steps[i - 1][1] else "#d62728"
            ax.bar(i, height, 0.6, bottom=base, color=colour)
            ax.annotate(usd(value), (i, value), ha="center", va="bottom", fontsize=8)
        for step in failed_steps(record):  # measured, failed its quality check: not a saving
            value, x = float(step["usd_per_million"]), len(labels)
            ax.bar(x, value, 0.6, color="white", edgecolor="#d62728", hatch="xx")
            ax.annotate(f"{usd(value)}\nfailed: metric {metric(step.get('metric'))}", (x, value),
                        ha="center", va="bottom", fontsize=7, color="#d62728")  # fmt: skip
            labels.append(f"{step.get('label') or step.get('step')}\n(failed, not counted)")
        ref = reference_step(record)
        if ref is not None:  # another model beside the levers, not a step: hatched, from 0
            value = float(ref["usd_per_million"])
            ax.bar(len(labels), value, 0.6, color="white", edgecolor="#1f77b4", hatch="//")
            ax.annotate(usd(value), (len(labels), value), ha="center", va="bottom", fontsize=8)
            labels.append("reference:\n" + str(ref["name"]).split(" (")[0])
        ax.set_xticks(range(len(labels)), labels, rotation=15, fontsize=8)
        ax.set_ylabel("$ per 1M predictions")
        ax.set_title(f"Cost waterfall: {system} ({record['method']})")
        title = f"Cost waterfall, {system} ({record['method']})"
        charts.append(Chart("waterfall", f"waterfall_{slug(system)}.png", title, _png(fig), system))
    return charts


def _bins(bins: Any) -> tuple[list[float], list[float]]:
    conf, acc = dig(bins, "confidence", default=[]), dig(bins, "accuracy", default=[])
    counts = dig(bins, "count", default=[1] * len(conf))
    kept = [
        (c, a)
        for c, a, n in zip(conf, acc, counts, strict=False)
        if n and c is not None and a is not None
    ]
    return [c for c, _ in kept], [a for _, a in kept]


def _ece(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"


@register_chart("reliability")
def reliability(records: Records, summary: StudySummary) -> list[Chart]:
    """Per system: reliability diagram of the teacher and each student (non-empty bins)."""
    charts = []
    for system, recs in by_system(records).items():
        calibrated = [r for r in recs if r["status"] == "ok" and dig(r, "quality", "calibration")]
        if not calibrated:
            continue
        fig, ax = _figure(5.0, 4.2)
        ax.plot([0, 1], [0, 1], linestyle=":", color="black", label="perfect calibration")
        teacher = dig(calibrated[0], "quality", "calibration")
        ax.plot(
            *_bins(teacher.get("teacher_bins")),
            marker="s",
            color="black",
            label=f"teacher (ECE {_ece(teacher.get('teacher_ece'))})",
        )
        for r in calibrated:
            cal = dig(r, "quality", "calibration")
            ax.plot(
                *_bins(cal.get("student_bins")),
                marker="o",
                color=_colour(r["family"]),
                label=f"{r['method']} (ECE {_ece(cal.get('student_ece'))})",
            )
        ax.set_xlabel("confidence")
        ax.set_ylabel("accuracy")
        ax.set_title(f"Reliability: {system}")
        ax.legend(fontsize=7)
        file = f"reliability_{slug(system)}.png"
        charts.append(Chart("reliability", file, f"Reliability, {system}", _png(fig), system))
    return charts


@register_chart("robustness")
def robustness(records: Records, summary: StudySummary) -> list[Chart]:
    """Per system: metric vs perturbation severity, teacher and each student."""
    charts = []
    for system, recs in by_system(records).items():
        robust = [r for r in recs if r["status"] == "ok" and dig(r, "quality", "robustness")]
        perturbations = sorted(
            {
                p
                for r in robust
                for p in dig(r, "quality", "robustness", "perturbations", default={})
            }
        )
        if not perturbations:
            continue
        fig = Figure(figsize=(3.2 * min(len(perturbations), 3) + 0.6, 3.4), dpi=100)
        FigureCanvasAgg(fig)
        axes = fig.subplots(1, len(perturbations), squeeze=False)[0]
        metric = dig(robust[0], "quality", "robustness", "metric") or dig(
            robust[0], "quality", "metric", default="metric"
        )
        for ax, name in zip(axes, perturbations, strict=True):
            teacher_done = False
            for r in robust:
                curve = dig(r, "quality", "robustness", "perturbations", name)
                if not curve:
                    continue
                sev = curve.get("severity", [])
                if not teacher_done:
                    ax.plot(
                        sev, curve.get("teacher", []), marker="s", color="black", label="teacher"
                    )
                    teacher_done = True
                ax.plot(
                    sev,
                    curve.get("student", []),
                    marker="o",
                    color=_colour(r["family"]),
                    label=r["method"],
                )
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("severity")
            ax.set_ylabel(metric)
            ax.legend(fontsize=7)
        fig.suptitle(f"Robustness: {system}", fontsize=10)
        file = f"robustness_{slug(system)}.png"
        charts.append(Chart("robustness", file, f"Robustness, {system}", _png(fig), system))
    return charts
