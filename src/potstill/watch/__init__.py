"""Watching a run: the command line's front ends over :mod:`potstill.events`.

``watching(console, err, LogFormat.auto)`` picks the front end — the rich live view when
the console is a terminal, plain timestamped lines when it is not (CI, pipes, ``nohup``),
or one JSON object per event (``--log-format json``) — routes the run's log messages to
it, and yields a :class:`Watch` whose ``emit`` is the run's event sink. ``quiet`` keeps
only errors and the final summary. Nothing here runs anything: the same events reach a
library user's ``on_event`` callback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from enum import Enum
from typing import Any

from rich.console import Console
from rich.text import Text

from potstill.errors import PotstillError
from potstill.events import Event, EventSink, StudyFinished, ignore
from potstill.watch.lines import JsonLines, PlainLines, pipe_safe, stdout_to_devnull
from potstill.watch.live import LiveView
from potstill.watch.logs import CallbackHandler, routed_logs
from potstill.watch.summary import EXIT_MEANINGS, print_summary
from potstill.watch.text import clean, stamp

__all__ = ["EXIT_MEANINGS", "LogFormat", "Watch", "stdout_to_devnull", "watching"]

_STYLE = {"WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold red"}


class LogFormat(str, Enum):
    """How a run is shown: ``auto`` (live view in a terminal, plain lines otherwise)."""

    auto = "auto"
    rich = "rich"
    plain = "plain"
    json = "json"


class Watch:
    """One run's front end: ``emit`` takes its events; ``summary`` prints the end table."""

    def __init__(self, console: Console, mode: str, quiet: bool, emit: EventSink) -> None:
        self.console, self.mode, self.quiet = console, mode, quiet
        self.emit = emit

    def summary(self, result: Any, exit_code: int = 0) -> None:
        """The summary table, the report's path and the exit code's meaning (not in JSON)."""
        if self.mode == "json":
            return
        print_summary(
            self.console,
            result.outcomes,
            report=result.report,
            out=result.out,
            new_records=result.new_records,
            exit_code=exit_code,
            plain=self.mode != "rich",
        )


def _mode(fmt: LogFormat, console: Console) -> str:
    if fmt is LogFormat.auto:
        return "rich" if console.is_terminal else "plain"
    return fmt.value


def _quiet_json(lines: JsonLines) -> EventSink:
    def emit(event: Event) -> None:
        if isinstance(event, StudyFinished):
            lines(event)

    return emit


def _handler(mode: str, console: Console, err: Console, json_lines: JsonLines) -> logging.Handler:
    def to_console(record: logging.LogRecord) -> None:
        style = _STYLE.get(record.levelname, "")
        console.print(Text(f"{record.levelname.lower()}: {record.getMessage()}", style=style))

    def to_lines(record: logging.LogRecord) -> None:
        err.file.write(
            f"{stamp(record.created)} {record.levelname} {record.name}: "
            f"{clean(record.getMessage())}\n"
        )
        err.file.flush()

    def to_json(record: logging.LogRecord) -> None:
        count = int(getattr(record, "count", 1))
        json_lines.message(record.levelname, record.getMessage(), record.name, count)

    write = {"rich": to_console, "plain": to_lines, "json": to_json}[mode]
    return CallbackHandler(write)


@contextmanager
def watching(
    console: Console, err: Console, fmt: LogFormat = LogFormat.auto, quiet: bool = False
) -> Iterator[Watch]:
    """The front end of one run (see the module docstring), live for the ``with`` block."""
    mode = _mode(fmt, console)
    json_lines = JsonLines(console.file)
    with ExitStack() as stack:
        emit: EventSink
        if mode == "json":
            emit = _quiet_json(json_lines) if quiet else json_lines
        elif quiet:
            emit = ignore
        elif mode == "rich":
            emit = stack.enter_context(LiveView(console))
        else:
            emit = PlainLines(console.file)
        level = logging.ERROR if quiet else logging.WARNING
        stack.enter_context(routed_logs(_handler(mode, console, err, json_lines), level))
        try:
            yield Watch(console, mode, quiet, pipe_safe(emit))
        except PotstillError as exc:  # machines read the error from the same stream
            if mode == "json":
                json_lines.message("ERROR", str(exc), "potstill")
            raise
