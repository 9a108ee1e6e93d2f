"""``potstill monitor STORE``: judge the live traffic of a served student, window by window.

The store holds the student's reference profile (written when the server started), so the
store is all the monitor needs. The most recent traffic is cut into windows — ``N``
predictions, or a duration (``30m``, ``1h``) — and every window is judged on:

- **drift** of every input and of the student's outputs (PSI and KS for numbers,
  chi-squared for categories and the predicted class), against thresholds calibrated by
  bootstrap on the reference for the window's size (:mod:`potstill.evaluate.drift_calibration`);
- **agreement** with the shadow teacher, with a 95 % Wilson interval: it breaks when even
  the upper bound of its one-sided ``alpha`` interval lies below the study's agreement
  interval (measured on the test split);
- **accuracy** from feedback labels, likewise against the gate (``--min-accuracy``, default
  the low end of the student's held-out accuracy interval from the study).

Every check of a window is at level ``alpha`` (the drift tests family-wise), so twenty
clean windows raise an alarm with probability of about 20 × 3 × ``alpha``.

The verdict is the latest window's: a broken threshold there makes ``potstill monitor``
exit 1.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from potstill.errors import ConfigError, StoreError, missing_dependency
from potstill.evaluate.drift import Reference, wilson_interval
from potstill.evaluate.drift_calibration import Thresholds, calibrate, live_statistics
from potstill.serve.bundle import references
from potstill.serve.config import MonitorConfig, store_url
from potstill.serve.store import feedback, open_store, predictions, read_meta, shadow

try:
    from sqlalchemy import Engine, and_, select
except ImportError as exc:  # the [serve] extra
    raise missing_dependency("sqlalchemy", extra="serve", purpose="potstill monitor") from exc

__all__ = [
    "MIN_WINDOW_ROWS",
    "LiveRows",
    "MonitorResult",
    "judge_window",
    "judging_context",
    "load_rows",
    "monitor",
    "parse_window",
]

#: A window with fewer rows is shown but not judged.
MIN_WINDOW_ROWS = 20
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_window(text: str) -> tuple[str, float]:
    """("rows", N) or ("seconds", S) from '500', '30m', '1h', '1d'."""
    value = str(text).strip().lower()
    if value.isdigit() and int(value) >= MIN_WINDOW_ROWS:
        return "rows", int(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", value)
    if match and float(match.group(1)) > 0:
        return "seconds", float(match.group(1)) * _UNITS[match.group(2)]
    raise ConfigError(
        f"The '--window' option must be a number of predictions (at least {MIN_WINDOW_ROWS}) "
        f"or a duration such as 30m, 1h or 1d. Got {text!r} instead."
    )


@dataclass
class LiveRows:
    """Stored predictions in order, with the teacher's class and the label (-1: none)."""

    seq: np.ndarray
    ts: np.ndarray
    X: np.ndarray
    student: np.ndarray
    score: np.ndarray
    teacher: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.seq)

    def take(self, mask: Any) -> LiveRows:
        return LiveRows(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def load_rows(
    engine: Engine, *, limit: int | None = None, since: float | None = None,
    after_seq: int | None = None,
) -> LiveRows:  # fmt: skip
    """The newest ``limit`` predictions (or those after ``since``), oldest first; with
    ``after_seq``, the oldest ``limit`` predictions after that sequence number."""
    join_s = and_(
        shadow.c.request_id == predictions.c.request_id, shadow.c.row == predictions.c.row
    )
    join_f = and_(
        feedback.c.request_id == predictions.c.request_id, feedback.c.row == predictions.c.row
    )
    query = (
        select(
            predictions.c.seq, predictions.c.ts, predictions.c.features,
            predictions.c.student_class, predictions.c.student_proba,
            shadow.c.teacher_class, feedback.c.label,
        )
        .select_from(predictions.outerjoin(shadow, join_s).outerjoin(feedback, join_f))
    )  # fmt: skip
    ascending = after_seq is not None
    query = query.order_by(predictions.c.seq.asc() if ascending else predictions.c.seq.desc())
    if after_seq is not None:
        query = query.where(predictions.c.seq > after_seq)
    if since is not None:
        query = query.where(predictions.c.ts >= since)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    if not ascending:
        rows = rows[::-1]
    probs = [json.loads(r.student_proba) for r in rows]
    score = [p[1] if len(p) == 2 else max(p) for p in probs]
    return LiveRows(
        seq=np.array([r.seq for r in rows], dtype=np.int64),
        ts=np.array([r.ts for r in rows], dtype=np.float64),
        X=np.array([json.loads(r.features) for r in rows], dtype=np.float64).reshape(len(rows), -1)
        if rows
        else np.empty((0, 0)),
        student=np.array([r.student_class for r in rows], dtype=np.int64),
        score=np.array(score, dtype=np.float64),
        teacher=np.array([-1 if r.teacher_class is None else r.teacher_class for r in rows]),
        label=np.array([-1 if r.label is None else r.label for r in rows]),
    )


def _windows(engine: Engine, kind: str, size: float, count: int) -> list[LiveRows]:
    if kind == "rows":
        n = int(size)
        rows = load_rows(engine, limit=n * count)
        full = len(rows) // n
        rows = rows.take(slice(len(rows) - full * n, None))
        return [rows.take(slice(i * n, (i + 1) * n)) for i in range(full)]
    newest = load_rows(engine, limit=1)
    if not len(newest):
        return []
    end = float(newest.ts[-1]) + 1e-6
    rows = load_rows(engine, since=end - size * count)
    out = [
        rows.take((rows.ts >= end - (k + 1) * size) & (rows.ts < end - k * size))
        for k in range(count)
    ]
    return [w for w in out[::-1] if len(w)]


def _calibration_size(n: int) -> int:
    """Window sizes share thresholds on a grid of powers of sqrt(2), rounded down (a
    smaller size gives wider thresholds: conservative)."""
    return max(MIN_WINDOW_ROWS, int(2 ** (math.floor(2 * math.log2(n)) / 2)))


@dataclass
class MonitorResult:
    """The judged windows (oldest first) and the verdict of the latest one."""

    store: str
    window: str
    windows: list[dict[str, Any]]
    thresholds: dict[str, Any]
    study: dict[str, Any]
    gate: float | None
    rows_total: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def latest(self) -> dict[str, Any] | None:
        judged = [w for w in self.windows if w["judged"]]
        return judged[-1] if judged else None

    @property
    def broken(self) -> bool:
        latest = self.latest
        return bool(latest and latest["alarms"])

    def summary(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "store": self.store, "window": self.window, "windows": len(self.windows),
            "broken": self.broken, "alarms": latest["alarms"] if latest else [],
            "latest": latest, "alarmed_windows": [w["index"] for w in self.windows if w["alarms"]],
            "study_agreement": self.study.get("teacher_agreement"), "accuracy_gate": self.gate,
            "notes": self.notes,
        }  # fmt: skip


def _proportion(k: int, n: int, alpha: float) -> dict[str, Any]:
    """The share with its 95 % Wilson interval (shown), and the upper bound of the
    one-sided ``alpha`` interval the alarm uses (as rare a false alarm as the drift tests)."""
    low, high = wilson_interval(k, n)
    _, alarm_high = wilson_interval(k, n, level=1.0 - 2.0 * alpha)
    return {"value": k / n if n else None, "low": low, "high": high, "n": n,
            "alarm_high": alarm_high}  # fmt: skip


def _judge_drift(
    w: LiveRows, refs: dict[str, Reference], names: list[str], th: Thresholds
) -> list[dict[str, Any]]:
    columns = {name: w.X[:, j] for j, name in enumerate(names)}
    columns["prediction:class"], columns["prediction:score"] = w.student, w.score
    out = []
    for name, values in columns.items():
        if name not in refs:
            continue
        for stat, value in live_statistics(refs[name], values).items():
            limit = th.values[(name, stat)]
            out.append({"input": name, "statistic": stat, "value": value, "threshold": limit,
                        "ratio": value / limit if limit > 0 else math.inf})  # fmt: skip
    return out


def judge_window(
    index: int, w: LiveRows, ctx: dict[str, Any], th: Thresholds | None
) -> dict[str, Any]:
    shadowed, labelled = w.teacher >= 0, w.label >= 0
    agree = int(np.sum(w.student[shadowed] == w.teacher[shadowed]))
    agreement = _proportion(agree, int(shadowed.sum()), ctx["alpha"])
    right = int(np.sum(w.student[labelled] == w.label[labelled]))
    accuracy = _proportion(right, int(labelled.sum()), ctx["alpha"])
    entry: dict[str, Any] = {"index": index, "rows": len(w), "first_seq": int(w.seq[0]), "last_seq": int(w.seq[-1]),
             "start": float(w.ts[0]), "end": float(w.ts[-1]), "judged": th is not None,
             "agreement": agreement, "accuracy": accuracy, "drift": [], "alarms": []}  # fmt: skip
    if th is None:
        return entry
    drift = entry["drift"] = _judge_drift(w, ctx["refs"], ctx["names"], th)
    alarms: list[str] = [f"drift {d['input']} {d['statistic']}={d['value']:.4g} > {d['threshold']:.4g}"
                         for d in drift if d["value"] > d["threshold"]]  # fmt: skip
    entry["alarms"] = alarms
    study_low = (ctx["study"].get("teacher_agreement") or {}).get("low")
    if agreement["n"] and study_low is not None and agreement["alarm_high"] < study_low:
        alarms.append(
            f"agreement {agreement['value']:.3f} (upper bound {agreement['alarm_high']:.3f}) "
            f"below the study's interval (low {study_low:.3f})"
        )
    if accuracy["n"] and ctx["gate"] is not None and accuracy["alarm_high"] < ctx["gate"]:
        alarms.append(
            f"accuracy {accuracy['value']:.3f} (upper bound {accuracy['alarm_high']:.3f}) below "
            f"the gate {ctx['gate']:.3f}"
        )
    return entry


def judging_context(
    study: dict[str, Any], names: list[str], alpha: float, min_accuracy: float | None
) -> dict[str, Any]:
    """What :func:`judge_window` compares a window with: the reference profile ``study``,
    the input ``names``, the level ``alpha`` and the accuracy gate (default: the low end
    of the student's held-out accuracy interval)."""
    gate = min_accuracy
    if gate is None:
        gate = (study.get("student_accuracy") or {}).get("low")
    return {"refs": {r.name: r for r in references(study)}, "names": names, "study": study,
            "gate": gate, "alpha": alpha}  # fmt: skip


def monitor(store: str, config: MonitorConfig) -> MonitorResult:
    """Judge the newest windows of ``store`` (a URL or a SQLite path)."""
    kind, size = parse_window(config.window)
    engine = open_store(store_url(store), create=False)
    meta = read_meta(engine)
    if "reference" not in meta or "schema" not in meta:
        raise StoreError(
            f"The store {store} has no student profile: start 'potstill serve' on it first."
        )
    study = meta["reference"]
    names = [f["name"] for f in meta["schema"]["features"]]
    ctx = judging_context(study, names, config.alpha, config.min_accuracy)
    gate = ctx["gate"]
    cache: dict[int, Thresholds] = {}
    judged = []
    for i, w in enumerate(_windows(engine, kind, size, config.windows)):
        th = None
        if len(w) >= MIN_WINDOW_ROWS:
            n = len(w) if kind == "rows" else _calibration_size(len(w))
            if n not in cache:
                cache[n] = calibrate(list(ctx["refs"].values()), n, alpha=config.alpha,
                                     n_resamples=config.resamples)  # fmt: skip
            th = cache[n]
        judged.append(judge_window(i, w, ctx, th))
    engine.dispose()
    notes = [] if judged else ["the store holds fewer predictions than one window"]
    return MonitorResult(
        store=str(store), window=config.window, windows=judged,
        thresholds={str(n): t.as_json() for n, t in cache.items()}, study=study, gate=gate,
        rows_total=sum(w["rows"] for w in judged), notes=notes,
    )  # fmt: skip
