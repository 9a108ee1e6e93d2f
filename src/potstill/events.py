"""What a run reports while it works: one small event interface for every front end.

A study emits typed, frozen events to an :data:`EventSink` — any callable taking an
:class:`Event` — that the caller passes down explicitly (``run_study(..., on_event=f)``);
there is no global registry and no printing in the pipeline. The command line's live
view, its plain and JSON log lines, and a library user's callback all read the same
events. The default sink :func:`ignore` drops them.

The order of one study::

    StudyStarted
      SystemStarted                       (one per selected system)
        StageStarted / StageProgress* / StageFinished   (data, teacher, train <cell>, ...)
      SystemFinished                      (with the system's outcome, read from its records)
      StageStarted / StageFinished        (report; system None)
    StudyFinished                         (every system's outcome, the report's path)

Stages of a system, in order: ``data``, ``teacher``, ``train`` (one per grid cell, the
cell's label in ``item``), ``evaluate`` (one per trained cell), ``reference`` (text
systems), ``bench``; then the study's ``report``. Code deep in the pipeline (the training
loop, the benchmark harness, the bootstrap) receives a :class:`Stage` bound to its system
and stage and calls :meth:`Stage.update`; it never sees the sink's front end.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from potstill.types import to_jsonable

__all__ = [
    "STAGES",
    "Event",
    "EventSink",
    "Message",
    "Stage",
    "StageFinished",
    "StageProgress",
    "StageStarted",
    "StudyFinished",
    "StudyStarted",
    "SystemFinished",
    "SystemOutcome",
    "SystemStarted",
    "Ticker",
    "event_to_dict",
    "first_line",
    "ignore",
    "skipped_stage",
    "stage",
]

#: Stage names in the order a system runs them; ``report`` belongs to the study.
STAGES = ("data", "teacher", "train", "evaluate", "reference", "bench", "report")

StageStatus = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Event:
    """Base of every event: ``at`` is the wall-clock time (seconds since the epoch)."""

    at: float = field(default_factory=time.time, kw_only=True)

    @property
    def kind(self) -> str:
        """``stage_started`` for :class:`StageStarted`: the event's name in JSON logs."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", type(self).__name__).lower()


#: Where events go: any callable taking one event (a front end, a list's ``append``).
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The null sink: a run nobody watches (the library default)."""
    del event


@dataclass(frozen=True)
class SystemOutcome:
    """One system's result as a person reads it at the end of a run (from its records).

    ``best`` is the best distilled student that passes every measured gate (the best by
    test metric when none passes); its retention, interval and cost reduction follow.
    ``verdict`` compares it with the from-scratch student of the same system.
    """

    system: str
    teacher: str = ""
    metric: str = ""
    teacher_value: float | None = None
    best: str | None = None
    retention: float | None = None
    retention_low: float | None = None
    retention_high: float | None = None
    cost_reduction: float | None = None
    verdict: str = ""
    gates: str = ""  # "pass", "pass (1 not measured)", "fail: min_retention", "none"
    records: int = 0
    failed: int = 0
    not_applicable: int = 0
    note: str = ""


@dataclass(frozen=True)
class StudyStarted(Event):
    name: str
    out: str
    systems: tuple[str, ...]


@dataclass(frozen=True)
class SystemStarted(Event):
    system: str
    index: int  # 1-based position among the selected systems
    total: int


@dataclass(frozen=True)
class StageStarted(Event):
    system: str | None
    stage: str
    item: str = ""  # the grid cell of train/evaluate; empty otherwise


@dataclass(frozen=True)
class StageProgress(Event):
    """``done`` of ``total`` ``unit`` (epoch, call, resample, severity, member, build).

    ``values`` holds the figures of the moment (``loss``, ``val_accuracy``); ``detail``
    names the part at work (``student:kd/onnx``, ``gaussian_noise``) or says what is
    happening (``training: no cached teacher``).
    """

    system: str | None
    stage: str
    item: str = ""
    done: int = 0
    total: int | None = None
    unit: str = ""
    values: Mapping[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class StageFinished(Event):
    system: str | None
    stage: str
    item: str = ""
    seconds: float = 0.0
    status: StageStatus = "ok"
    note: str = ""  # what came of it: "cached", "12 epochs, best val accuracy 0.96", the error


@dataclass(frozen=True)
class SystemFinished(Event):
    system: str
    index: int
    total: int
    seconds: float
    new_records: int
    status: Literal["ok", "failed"] = "ok"
    outcome: SystemOutcome | None = None
    note: str = ""


@dataclass(frozen=True)
class StudyFinished(Event):
    out: str
    report: str | None
    new_records: int
    seconds: float
    outcomes: tuple[SystemOutcome, ...] = ()


@dataclass(frozen=True)
class Message(Event):
    """A log message worth a person's attention (warnings and errors), for JSON logs."""

    level: str
    text: str
    logger: str = ""
    count: int = 1  # > 1: the summary of a warning said several times


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def event_to_dict(event: Event) -> dict[str, Any]:
    """One JSON-ready object: ``event`` (the kind), ``time`` (ISO 8601, UTC), the fields."""
    body = {f.name: to_jsonable(getattr(event, f.name)) for f in dataclasses.fields(event)}
    stamp = datetime.fromtimestamp(event.at, tz=timezone.utc)
    return {"event": event.kind, "time": stamp.isoformat(timespec="milliseconds"), **body}


@dataclass
class Stage:
    """One stage of one system, bound to the sink: what long-running code reports to.

    Set ``outcome`` inside a :func:`stage` block to say what came of it; it becomes the
    ``note`` of the :class:`StageFinished` event.
    """

    sink: EventSink
    system: str | None
    name: str
    item: str = ""
    outcome: str = ""

    def update(
        self,
        done: int,
        total: int | None = None,
        *,
        unit: str = "",
        detail: str = "",
        values: Mapping[str, float] | None = None,
    ) -> None:
        """Emit a :class:`StageProgress` of this stage."""
        self.sink(
            StageProgress(
                system=self.system, stage=self.name, item=self.item, done=done,
                total=total, unit=unit, values=dict(values or {}), detail=detail,
            )
        )  # fmt: skip

    def ticker(self, total: int, unit: str, steps: int = 20) -> Ticker:
        """A :class:`Ticker` reporting ``total`` ``unit`` of this stage in ``steps`` steps."""
        return Ticker(self, total, unit, steps)


class Ticker:
    """Counts work done and reports it at most ``steps`` times (every 1/steps of ``total``),
    so a loop of a thousand resamples sends twenty events, not a thousand."""

    def __init__(self, stage: Stage | None, total: int, unit: str, steps: int = 20) -> None:
        self.stage, self.total, self.unit = stage, max(int(total), 0), unit
        self.every = max(1, self.total // max(steps, 1))
        self.done = 0
        self._next = self.every

    def __call__(self, n: int = 1, detail: str = "") -> None:
        """Count ``n`` more units done; report when a step is crossed or the work is done."""
        self.done += n
        if self.stage is None or (self.done < self._next and self.done != self.total):
            return
        while self._next <= self.done:
            self._next += self.every
        self.stage.update(self.done, self.total, unit=self.unit, detail=detail)


@contextmanager
def stage(sink: EventSink, system: str | None, name: str, item: str = "") -> Iterator[Stage]:
    """Emit :class:`StageStarted`, run the block, emit :class:`StageFinished` with its
    seconds and status (``failed`` with the error's first line when the block raises)."""
    bound = Stage(sink, system, name, item)
    sink(StageStarted(system=system, stage=name, item=item))
    start = time.perf_counter()
    try:
        yield bound
    except BaseException as exc:
        sink(StageFinished(system=system, stage=name, item=item, status="failed",
                           seconds=time.perf_counter() - start, note=first_line(exc)))  # fmt: skip
        raise
    sink(StageFinished(system=system, stage=name, item=item,
                       seconds=time.perf_counter() - start, note=bound.outcome))  # fmt: skip


def skipped_stage(sink: EventSink, system: str | None, name: str, item: str, why: str) -> None:
    """A stage that does not run (a method that does not apply): started and skipped."""
    sink(StageStarted(system=system, stage=name, item=item))
    sink(StageFinished(system=system, stage=name, item=item, status="skipped", note=why))
