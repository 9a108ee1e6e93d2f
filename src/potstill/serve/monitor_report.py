"""How ``potstill monitor`` shows its result: a terminal table, one JSON line, an HTML page."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from potstill._io import atomic_write_text
from potstill.serve.monitor import MonitorResult

__all__ = ["render_monitor", "write_monitor_html"]


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _ci(p: dict[str, Any]) -> str:
    if not p["n"]:
        return "-"
    return f"{p['value']:.3f} [{p['low']:.3f}, {p['high']:.3f}] n={p['n']}"


def _worst(w: dict[str, Any]) -> str:
    if not w["drift"]:
        return "-"
    d = max(w["drift"], key=lambda d: d["ratio"])
    return f"{d['input']} {d['statistic']} {d['value']:.3g}/{d['threshold']:.3g}"


def render_monitor(result: MonitorResult) -> str:
    """The windows as a table, then the summary as one JSON line (the last line)."""
    table = Table(
        "window", "rows", "end (UTC)", "worst drift (value/threshold)", "agreement", "accuracy",
        "alarms", title=f"potstill monitor: {result.store} (window {result.window})",
    )  # fmt: skip
    for w in result.windows:
        alarms = (
            "; ".join(w["alarms"]) if w["alarms"] else ("ok" if w["judged"] else "too few rows")
        )
        table.add_row(
            str(w["index"]), str(w["rows"]), _stamp(w["end"]), _worst(w),
            _ci(w["agreement"]), _ci(w["accuracy"]), alarms,
        )  # fmt: skip
    buffer = io.StringIO()
    Console(file=buffer, width=200, no_color=True).print(table)
    return buffer.getvalue() + json.dumps(result.summary(), default=str) + "\n"


def _series_chart(result: MonitorResult) -> str:
    ws = [w for w in result.windows if w["judged"]]
    x = [w["index"] for w in ws]
    fig = Figure(figsize=(9, 7.5))
    axes = fig.subplots(3, 1, sharex=True)
    axes[0].plot(x, [max((d["ratio"] for d in w["drift"]), default=0) for w in ws], marker="o")
    axes[0].axhline(1.0, color="red", linestyle="--", label="calibrated threshold")
    axes[0].set_ylabel("worst drift\n(statistic / threshold)")
    axes[0].legend(loc="upper left")
    for ax, key, band in ((axes[1], "agreement", result.study.get("teacher_agreement")),
                          (axes[2], "accuracy", None)):  # fmt: skip
        pts = [(w["index"], w[key]) for w in ws if w[key]["n"]]
        if pts:
            ax.errorbar(
                [i for i, _ in pts], [p["value"] for _, p in pts],
                yerr=[[p["value"] - p["low"] for _, p in pts], [p["high"] - p["value"] for _, p in pts]],
                marker="o", capsize=3, label=f"live {key} (95% CI)",
            )  # fmt: skip
        if band and band.get("low") is not None:
            ax.axhspan(band["low"], band["high"], color="green", alpha=0.15, label="study's CI")
        if key == "accuracy" and result.gate is not None:
            ax.axhline(result.gate, color="red", linestyle="--", label="gate")
        ax.set_ylabel(key)
        ax.legend(loc="lower left")
    axes[2].set_xlabel("window")
    fig.tight_layout()
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def write_monitor_html(result: MonitorResult, path: Path) -> Path:
    """A self-contained page: the time series chart and the windows' table."""
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in (
            w["index"], w["rows"], _stamp(w["end"]), _worst(w), _ci(w["agreement"]),
            _ci(w["accuracy"]), "; ".join(w["alarms"]) or ("ok" if w["judged"] else "too few rows"),
        )) + "</tr>"
        for w in result.windows
    )  # fmt: skip
    verdict = "BROKEN" if result.broken else "ok"
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>potstill monitor</title><style>body{{font-family:sans-serif;margin:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px}}table{{border-collapse:collapse}}</style></head>
<body><h1>potstill monitor: {html.escape(result.store)}</h1>
<p>Window: {html.escape(result.window)}. Latest window: <b>{verdict}</b>. Drift thresholds are
calibrated by bootstrap on the reference profile for each window size.</p>
<img alt="time series" src="data:image/png;base64,{_series_chart(result)}">
<table><tr><th>window</th><th>rows</th><th>end (UTC)</th><th>worst drift</th>
<th>agreement</th><th>accuracy</th><th>alarms</th></tr>{rows}</table>
<pre>{html.escape(json.dumps(result.summary(), default=str, indent=1))}</pre></body></html>
"""
    atomic_write_text(Path(path), page)
    return Path(path)
