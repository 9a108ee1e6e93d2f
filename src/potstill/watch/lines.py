"""Front ends for runs nobody watches live: plain timestamped lines, and JSON lines.

``PlainLines`` writes one line per stage start and end, one per finished system, and the
study's start and end, each prefixed with the local time — no colour, no cursor moves, no
control characters — for CI logs, pipes and ``nohup``. ``JsonLines`` writes every event,
progress included, as one JSON object per line (:func:`potstill.events.event_to_dict`).
``pipe_safe`` keeps a run going when the reader of its output goes away.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO

from potstill.events import (
    Event,
    EventSink,
    Message,
    StageFinished,
    StageStarted,
    StudyFinished,
    StudyStarted,
    SystemFinished,
    SystemStarted,
    event_to_dict,
)
from potstill.watch.text import clean, finished_text, outcome_text, stage_label, stamp

__all__ = ["JsonLines", "PlainLines", "pipe_safe", "stdout_to_devnull"]


def stdout_to_devnull() -> None:
    """Point file descriptor 1 at /dev/null once its reader has gone (Python's documented
    answer to a broken pipe), so later writes and the flush at exit do not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # a captured stdout has no descriptor
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def pipe_safe(emit: EventSink) -> EventSink:
    """``emit`` that outlives the reader of stdout (``| head`` satisfied, or a Ctrl-C that
    stopped ``| cat`` first): the output ends, the run does not. Without this, the
    ``BrokenPipeError`` of the next line fails the system being run and hides a Ctrl-C."""

    def emit_safe(event: Event) -> None:
        try:
            emit(event)
        except BrokenPipeError:
            stdout_to_devnull()

    return emit_safe


class PlainLines:
    """Plain, timestamped lines: stage starts and ends, finished systems, the study."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.position: dict[str, str] = {}  # system -> "[2/5] name"

    def _who(self, system: str | None) -> str:
        return "study" if system is None else self.position.get(system, system)

    def _write(self, at: float, text: str) -> None:
        self.stream.write(f"{stamp(at)} {clean(text)}\n")
        self.stream.flush()

    def __call__(self, event: Event) -> None:
        """Write the line of ``event``, if it has one (progress events have none)."""
        text = self.line(event)
        if text is not None:
            self._write(event.at, text)

    def line(self, event: Event) -> str | None:
        """The text of ``event``'s line (without the time), or None."""
        if isinstance(event, StudyStarted):
            n = len(event.systems)
            return f"study {event.name}: {n} system{'s' * (n != 1)} into {event.out}"
        if isinstance(event, SystemStarted):
            self.position[event.system] = f"[{event.index}/{event.total}] {event.system}"
            return f"{self._who(event.system)} started"
        if isinstance(event, StageStarted):
            return f"{self._who(event.system)} · {stage_label(event.stage, event.item)} started"
        if isinstance(event, StageFinished):
            label = stage_label(event.stage, event.item)
            return f"{self._who(event.system)} · {label} {finished_text(event)}"
        if isinstance(event, SystemFinished):
            self.position.setdefault(event.system, f"[{event.index}/{event.total}] {event.system}")
            return f"{self._who(event.system)} {outcome_text(event)}"
        if isinstance(event, StudyFinished):
            return f"study finished in {event.seconds:.1f} s: {event.new_records} new records"
        return None


class JsonLines:
    """Every event as one JSON object per line; log messages as ``message`` events."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        self.stream.write(json.dumps(event_to_dict(event), allow_nan=False) + "\n")
        self.stream.flush()

    def message(self, level: str, text: str, logger: str, count: int = 1) -> None:
        """A log message as a :class:`~potstill.events.Message` event."""
        self(Message(level=level, text=text, logger=logger, count=count))
