"""The settings of ``potstill serve``, ``monitor`` and ``replay`` (pydantic, with their help).

The CLI's option help is each field's ``description``, so the two cannot drift. Only
pydantic is imported here: the CLI reads these models without the ``[serve]`` extra.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["MonitorConfig", "ReplayConfig", "ServeConfig", "store_url"]


def store_url(store: str | Path) -> str:
    """A SQLAlchemy URL from a URL or a plain path (a path means a SQLite file)."""
    text = str(store)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServeConfig(_Model):
    """How ``potstill serve`` runs a studied student."""

    student: Path = Field(
        description="Student folder written by a study: students/<system>/<label> (it holds "
        "serving/schema.json, reference.json and the measured ONNX file)."
    )
    teacher: Path | None = Field(
        None, description="Teacher file to shadow the student with (any format 'distill' takes)."
    )
    trust_pickle: bool = Field(
        False, description="Allow a pickled teacher (executes code on load)."
    )
    shadow_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of requests also sent to the teacher, in [0, 1]."
    )
    shadow_queue: int = Field(
        1024, ge=1, description="Requests waiting for the teacher; when full, new ones are dropped."
    )
    store: str | None = Field(
        None,
        description="Where requests, outputs and feedback are kept: a SQLAlchemy URL "
        "(sqlite:///live.db, postgresql+psycopg://user@/db?host=/run/postgresql) or a SQLite "
        "file path. Default: serving/live.db in the student folder.",
    )
    host: str = Field("127.0.0.1", description="Address to listen on (default: loopback only).")
    port: int = Field(8000, ge=0, le=65535, description="Port to listen on (0: any free port).")
    port_file: Path | None = Field(
        None, description="Write the bound port to this file once listening (for scripts)."
    )
    retention_rows: int = Field(
        1_000_000, ge=100, description="Predictions kept in the store; older ones are deleted."
    )
    max_rows: int = Field(1000, ge=1, description="Most rows accepted in one request.")
    metrics_window: int = Field(
        1000, ge=10, description="Recent rows behind the live PSI and agreement gauges."
    )
    threads: int = Field(1, ge=1, description="ONNX Runtime intra-op threads of the student.")
    seed: int = Field(0, ge=0, description="Seed of the shadow sampling.")
    shadow_cpus: str = Field(
        "last",
        description="CPUs the shadow teacher's process may run on (it also runs at the lowest "
        "CPU priority): 'last' (the last CPU this server may use, when it may use several), "
        "'all', or CPU numbers such as '3' or '2-3'.",
    )
    breaker_windows: int | None = Field(
        None,
        ge=1,
        description="Circuit breaker (off unless given; needs --teacher): after this many "
        "consecutive bad windows (drift above its threshold, agreement below the study's "
        "interval, live accuracy below the gate) the teacher answers the requests.",
    )
    breaker_close_windows: int = Field(
        3, ge=1, description="Consecutive good windows after which an open breaker closes."
    )
    breaker_window_rows: int = Field(
        500, ge=20, description="Predictions per window judged by the circuit breaker."
    )
    breaker_interval: float = Field(
        5.0, gt=0.0, description="Seconds between the circuit breaker's checks of the store."
    )


class MonitorConfig(_Model):
    """How ``potstill monitor`` judges the live traffic in a store."""

    window: str = Field(
        "500",
        description="Window: a number of predictions (e.g. 500) or a duration (30m, 1h, 1d).",
    )
    windows: int = Field(20, ge=1, description="How many recent windows to judge and show.")
    alpha: float = Field(
        0.002,
        gt=0.0,
        lt=1.0,
        description="Share of drift-free windows allowed to raise a drift alarm (family-wise "
        "over every input); thresholds are calibrated by bootstrap for the window's size.",
    )
    resamples: int = Field(2000, ge=100, description="Bootstrap resamples of the calibration.")
    min_accuracy: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Live-accuracy gate (default: the low end of the student's held-out "
        "accuracy interval from the study).",
    )
    report: Path | None = Field(None, description="Also write an HTML page with the time series.")


class ReplayConfig(_Model):
    """How ``potstill replay`` sends a file's rows to a running server."""

    url: str = Field(description="Server address, loopback only (e.g. http://127.0.0.1:8000).")
    rows: int | None = Field(None, ge=1, description="Send at most this many rows (default: all).")
    batch: int = Field(1, ge=1, description="Rows per request.")
    drift: str | None = Field(
        None,
        description="Shift the rows: 'noise=2.0' adds Gaussian noise of 2 reference standard "
        "deviations to every numeric input; 'shift=1.0' adds one standard deviation.",
    )
    feedback: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of requests whose true label (the file's target column) is sent "
        "to /v1/feedback afterwards.",
    )
    seed: int = Field(0, ge=0, description="Seed of the row order, the drift and the feedback.")
    shuffle: bool = Field(True, description="Send the rows in a seeded random order.")
