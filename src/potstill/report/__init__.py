"""potstill.report: the study report, a pure function of the study directory.

``render_report(DIR)`` reads ``DIR/records/*.json``, ``DIR/config.yaml`` and
``DIR/environment.json`` and writes ``report.md``, a self-contained ``report.html``,
``results.csv`` (one row per record), ``summary.csv`` (the fleet aggregate) and
``charts/*.png``. No number in them is typed in: each is a record field or a statistic of
:mod:`potstill.results.aggregate`; the paper's figures appear only as quoted claims.
"""

from __future__ import annotations

from potstill.report.charts import Chart, available_charts, create_charts, register_chart
from potstill.report.render import ReportPaths, render_report

__all__ = [
    "Chart",
    "ReportPaths",
    "available_charts",
    "create_charts",
    "register_chart",
    "render_report",
]
