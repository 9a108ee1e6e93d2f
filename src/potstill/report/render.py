"""render_report: the study directory in, report files out, nothing typed in between.

The report is a pure function of three things in the study directory: the records
(``records/*.json`` through :class:`ResultStore`), ``config.yaml`` and
``environment.json``. Rendering the same directory twice writes the same bytes. Every
file is written atomically (temp file + rename), charts first and report.html last, so an
interrupted render never leaves a half-written file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from potstill._io import atomic_write_bytes
from potstill.errors import StoreError
from potstill.report.capacity import Capacity, capacity
from potstill.report.capacity_section import capacity_charts, capacity_counts, capacity_section
from potstill.report.charts import Chart, create_charts
from potstill.report.claims import PAPER_TITLE
from potstill.report.html import markdown_to_html
from potstill.report.llm_section import llm_students_section
from potstill.report.methodology import (
    datasets_section,
    methodology_section,
    pipeline_section,
    references_section,
)
from potstill.report.records import HEADLINE_COLUMNS, record_rows
from potstill.report.sections import (
    claims_section,
    comparison_section,
    excluded_section,
    results_section,
    summary_section,
)
from potstill.report.selection import selection_section
from potstill.report.system_table import per_system_section
from potstill.report.validation import gates_section, validation_section, waterfall_section
from potstill.results.aggregate import StudySummary, summarise
from potstill.results.store import ResultStore

__all__ = ["ReportPaths", "build_markdown", "read_config", "read_environment", "render_report"]


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`render_report` wrote each file."""

    directory: Path
    markdown: Path  # report.md
    html: Path  # report.html, self-contained
    csv: Path  # results.csv, one row per record
    summary_csv: Path  # summary.csv, the aggregate's rows
    charts: tuple[Path, ...]  # charts/*.png


def read_config(directory: Path) -> tuple[str | None, Mapping[str, Any]]:
    """``config.yaml`` as text and parsed (``(None, {})`` when the file is absent)."""
    path = directory / "config.yaml"
    if not path.is_file():
        return None, {}
    text = path.read_text(encoding="utf-8")
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StoreError(
            f"The study configuration {path} is not valid YAML: {exc}. "
            "Rerun the study to rewrite it."
        ) from exc
    if parsed is not None and not isinstance(parsed, Mapping):
        raise StoreError(
            f"The study configuration {path} must be a YAML mapping. "
            f"Got {type(parsed).__name__} instead. Rerun the study to rewrite it."
        )
    return text, parsed or {}


def read_environment(directory: Path) -> Mapping[str, Any] | None:
    """``environment.json`` as a mapping (``None`` when the file is absent)."""
    path = directory / "environment.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise StoreError(
            f"The environment file {path} is not valid JSON (line {exc.lineno}): {exc.msg}. "
            "Rerun the study to rewrite it."
        ) from exc
    if not isinstance(data, Mapping):
        raise StoreError(
            f"The environment file {path} must hold a JSON object. "
            f"Got {type(data).__name__} instead. Rerun the study to rewrite it."
        )
    return data


def _title(config: Mapping[str, Any], directory: Path) -> str:
    study = config.get("study")
    name = study.get("name") if isinstance(study, Mapping) else config.get("name")
    return f"Distillation study report: {name or directory.resolve().name}"


def build_markdown(
    records: Sequence[Mapping[str, Any]],
    summary: StudySummary,
    charts: Sequence[Chart],
    title: str,
    config_text: str | None,
    environment: Mapping[str, Any] | None,
    cap: Capacity | None = None,
) -> str:
    """The whole report.md, section by section; ``cap``: sizes and seeds, when expanded."""
    cap = cap or Capacity((), (), {}, {})
    fleet_charts = "\n\n".join(f"![{c.title}](charts/{c.file})" for c in charts if c.system is None)
    sections = [
        f"# {title}",
        f"Reproducing the study design of *{PAPER_TITLE}* on this study's own measurements.",
        summary_section(records, summary),
        capacity_counts(cap),
        claims_section(summary),
        results_section(summary),
        f"### Charts\n\n{fleet_charts}" if fleet_charts else "",
        comparison_section(summary),
        capacity_section(cap, charts),
        per_system_section(records),
        llm_students_section(records),
        selection_section(records),
        excluded_section(summary),
        waterfall_section(records, charts),
        validation_section(records, charts),
        gates_section(summary),
        datasets_section(records),
        methodology_section(records, config_text, environment),
        pipeline_section(records),
        references_section(records),
    ]
    return "\n\n".join(s for s in sections if s) + "\n"


def _csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    names = list(columns) if columns else list(dict.fromkeys(k for row in rows for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise StoreError(
            f"Cannot write the report file {path}: {exc.strerror}. "
            "Check that the study directory is writable."
        ) from exc


def render_report(directory: Path) -> ReportPaths:
    """Write report.md, report.html, results.csv, summary.csv and charts/*.png under
    ``directory`` from its records, config.yaml and environment.json."""
    directory = Path(directory)
    if not directory.is_dir():
        raise StoreError(
            f"The study directory '{directory}' does not exist. "
            "Run 'potstill study FLEET.yaml --out DIR' or 'potstill demo' first."
        )
    store = ResultStore(directory)
    records = store.load_all()
    if not records:
        raise StoreError(
            f"No records found: '{store.records_dir}' holds no *.json record. "
            "Run 'potstill study FLEET.yaml --out DIR' or 'potstill demo' first."
        )
    summary = summarise(records)
    config_text, config = read_config(directory)
    environment = read_environment(directory)
    cap = capacity(directory, records, config)
    charts = [*create_charts(records, summary), *capacity_charts(cap)]
    title = _title(config, directory)
    markdown = build_markdown(records, summary, charts, title, config_text, environment, cap)
    html = markdown_to_html(markdown, {f"charts/{c.file}": c.png for c in charts}, title)

    paths = ReportPaths(
        directory=directory,
        markdown=directory / "report.md",
        html=directory / "report.html",
        csv=directory / "results.csv",
        summary_csv=directory / "summary.csv",
        charts=tuple(directory / "charts" / c.file for c in charts),
    )
    for chart, path in zip(charts, paths.charts, strict=True):
        _write(path, chart.png)
    _write(paths.csv, _csv(record_rows(records), HEADLINE_COLUMNS).encode("utf-8"))
    _write(paths.summary_csv, _csv(summary.to_rows()).encode("utf-8"))
    _write(paths.markdown, markdown.encode("utf-8"))
    _write(paths.html, html.encode("utf-8"))
    return paths
