"""The words and numbers every front end shows: durations, progress, a system's outcome.

Pure functions of events, shared by the live view, the plain log lines and the summary
table, so the three say the same thing the same way.
"""

from __future__ import annotations

import re
from datetime import datetime

from potstill.events import StageFinished, StageProgress, SystemFinished, SystemOutcome

__all__ = [
    "clean",
    "clock",
    "duration",
    "finished_text",
    "outcome_text",
    "percent",
    "progress_text",
    "retention_text",
    "stage_label",
    "stamp",
]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def clean(text: str) -> str:
    """``text`` on one line, without control characters (escape codes, newlines, tabs)."""
    return _CONTROL.sub(" ", text).strip()


def stamp(at: float) -> str:
    """Local wall-clock time of an event, to the second: ``2025-05-01T12:00:03``."""
    return datetime.fromtimestamp(at).isoformat(timespec="seconds")


def clock(seconds: float) -> str:
    """``0:42``, ``12:03``, ``1:02:03``."""
    total = max(round(seconds), 0)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3:05`` (minutes from one minute on)."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    return f"{seconds:.0f} s" if seconds < 60 else clock(seconds)


def percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{100 * value:.{digits}f}%"


def stage_label(stage: str, item: str) -> str:
    """``train kd``, ``bench``."""
    return f"{stage} {item}".strip()


def progress_text(event: StageProgress) -> str:
    """``epoch 4/12 · loss 0.412 · val accuracy 0.871`` or ``calls 120/400 · teacher/onnx``."""
    parts = []
    if event.unit:
        of = f"/{event.total}" if event.total is not None else ""
        parts.append(f"{event.unit} {event.done}{of}")
    if event.item and event.stage == "teacher":  # an ensemble member
        parts.insert(0, event.item)
    parts += [f"{name.replace('_', ' ')} {value:.4g}" for name, value in event.values.items()]
    if event.detail:
        parts.append(event.detail)
    return clean(" · ".join(parts))


def retention_text(outcome: SystemOutcome) -> str:
    """``99.2% [97.9, 100.4]`` (the interval when there is one)."""
    text = percent(outcome.retention)
    if outcome.retention_low is not None and outcome.retention_high is not None:
        text += f" [{100 * outcome.retention_low:.1f}, {100 * outcome.retention_high:.1f}]"
    return text


def outcome_text(event: SystemFinished) -> str:
    """One line for a finished system: best student, retention, cost reduction, gates."""
    if event.status == "failed":
        return clean(f"failed after {duration(event.seconds)}: {event.note}")
    o = event.outcome
    head = f"finished in {duration(event.seconds)}"
    if event.note:
        head += f" ({event.note})"
    if o is None or o.best is None:
        why = o.note if o is not None else "no outcome"
        return clean(f"{head}: {why}")
    cost = percent(o.cost_reduction)
    return clean(
        f"{head}: best {o.best} · retention {retention_text(o)} · cost reduction {cost} · "
        f"{o.verdict} · gates {o.gates}"
    )


def finished_text(event: StageFinished) -> str:
    """``done in 3.1 s: 12 epochs …``, ``skipped: …``, ``failed after 0.2 s: …``."""
    if event.status == "skipped":
        return clean(f"skipped: {event.note}")
    verb = "done in" if event.status == "ok" else "failed after"
    tail = f": {event.note}" if event.note else ""
    return clean(f"{verb} {duration(event.seconds)}{tail}")
