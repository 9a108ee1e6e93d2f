"""The ``serve``, ``monitor`` and ``replay`` commands (registered on the main Typer app).

Option help and defaults come from the fields of :mod:`potstill.serve.config`: every
option defaults to None here, meaning "the config's default", which the help shows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from potstill import api
from potstill.serve.config import MonitorConfig, ReplayConfig, ServeConfig

__all__ = ["register"]


def _h(model: type[BaseModel], name: str) -> str:
    field = model.model_fields[name]
    default = field.get_default()
    shown = "" if default is None or field.is_required() else f" (default: {default})"
    return f"{field.description}{shown}"


def _opt(model: type[BaseModel], name: str, *flags: str) -> Any:
    return typer.Option(*flags, help=_h(model, name), show_default=False)


S, M, R = ServeConfig, MonitorConfig, ReplayConfig


def serve(
    student: Annotated[Path, typer.Argument(help=_h(S, "student"))],
    teacher: Annotated[Path | None, _opt(S, "teacher")] = None,
    trust_pickle: Annotated[bool, _opt(S, "trust_pickle", "--trust-pickle")] = False,
    shadow_rate: Annotated[float | None, _opt(S, "shadow_rate")] = None,
    shadow_queue: Annotated[int | None, _opt(S, "shadow_queue")] = None,
    store: Annotated[str | None, _opt(S, "store")] = None,
    host: Annotated[str | None, _opt(S, "host")] = None,
    port: Annotated[int | None, _opt(S, "port")] = None,
    port_file: Annotated[Path | None, _opt(S, "port_file")] = None,
    retention_rows: Annotated[int | None, _opt(S, "retention_rows")] = None,
    max_rows: Annotated[int | None, _opt(S, "max_rows")] = None,
    metrics_window: Annotated[int | None, _opt(S, "metrics_window")] = None,
    threads: Annotated[int | None, _opt(S, "threads")] = None,
    seed: Annotated[int | None, _opt(S, "seed")] = None,
    shadow_cpus: Annotated[str | None, _opt(S, "shadow_cpus")] = None,
    breaker_windows: Annotated[int | None, _opt(S, "breaker_windows")] = None,
    breaker_close_windows: Annotated[int | None, _opt(S, "breaker_close_windows")] = None,
    breaker_window_rows: Annotated[int | None, _opt(S, "breaker_window_rows")] = None,
    breaker_interval: Annotated[float | None, _opt(S, "breaker_interval")] = None,
) -> None:
    """Serve a studied student over HTTP (ONNX Runtime), shadowed by its teacher."""
    options = dict(locals())
    api.serve(options.pop("student"), **options)


def monitor(
    store: Annotated[
        str, typer.Argument(help="The serving store: a SQLAlchemy URL or a SQLite file.")
    ],
    window: Annotated[str | None, _opt(M, "window")] = None,
    windows: Annotated[int | None, _opt(M, "windows")] = None,
    alpha: Annotated[float | None, _opt(M, "alpha")] = None,
    resamples: Annotated[int | None, _opt(M, "resamples")] = None,
    min_accuracy: Annotated[float | None, _opt(M, "min_accuracy")] = None,
    report: Annotated[Path | None, _opt(M, "report")] = None,
) -> None:
    """Judge live traffic window by window; a table, then one JSON line; exit 1 when the
    latest window breaks a threshold (drift, agreement or accuracy)."""
    from potstill.serve.monitor_report import render_monitor

    options = dict(locals())
    options.pop("render_monitor", None)
    result = api.monitor(options.pop("store"), **options)
    sys.stdout.write(render_monitor(result))
    if result.broken:
        raise typer.Exit(1)


def replay(
    student: Annotated[Path, typer.Argument(help=_h(S, "student"))],
    data: Annotated[Path, typer.Option(help="CSV or Parquet file with the student's features.")],
    url: Annotated[str, typer.Option(help=_h(R, "url"))],
    rows: Annotated[int | None, _opt(R, "rows")] = None,
    batch: Annotated[int | None, _opt(R, "batch")] = None,
    drift: Annotated[str | None, _opt(R, "drift")] = None,
    feedback: Annotated[float | None, _opt(R, "feedback")] = None,
    seed: Annotated[int | None, _opt(R, "seed")] = None,
) -> None:
    """Send a file's rows to a server on this machine (optionally shifted); one JSON line.
    Exits 1 when a request failed."""
    options = dict(locals())
    summary = api.replay(options.pop("student"), options.pop("data"), **options)
    sys.stdout.write(json.dumps(summary) + "\n")
    if summary["errors"] or summary["feedback_errors"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.command()(serve)
    app.command()(monitor)
    app.command()(replay)
