"""Log messages during a watched run: to the right place, at their level, said once.

Every front end gets one handler on the ``potstill`` logger for the run: the live view
prints through its console (above the live lines), plain mode writes timestamped lines to
stderr, JSON mode writes ``message`` events. A :class:`RepeatFilter` lets the first of a
repeated message through (the same message template from the same logger, e.g. the same
warning for each system) and counts the rest; :func:`routed_logs` says each repeated one
once more at the end, with its count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["CallbackHandler", "RepeatFilter", "routed_logs"]

LOGGER = "potstill"


class RepeatFilter(logging.Filter):
    """Pass the first record of each (logger, level, message template); count the others."""

    def __init__(self) -> None:
        super().__init__()
        self.first: dict[tuple[str, int, str], logging.LogRecord] = {}
        self.counts: dict[tuple[str, int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.levelno, str(record.msg))
        self.counts[key] = self.counts.get(key, 0) + 1
        if key in self.first:
            return False
        self.first[key] = record
        return True

    def repeats(self) -> list[tuple[logging.LogRecord, int]]:
        """(first record, times said) of every message said more than once."""
        return [(self.first[k], n) for k, n in self.counts.items() if n > 1]


class CallbackHandler(logging.Handler):
    """Hands each record to ``write(record)`` (a front end's own way of showing it)."""

    def __init__(self, write: Callable[[logging.LogRecord], None]) -> None:
        super().__init__()
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(record)
        except Exception:  # a broken front end must not hide the message: logging reports it
            self.handleError(record)


@contextmanager
def routed_logs(handler: logging.Handler, level: int) -> Iterator[RepeatFilter]:
    """Send the ``potstill`` logger's records at ``level`` and above to ``handler`` alone
    (repeats counted) for the block; then say each repeated message once with its count."""
    logger = logging.getLogger(LOGGER)
    repeats = RepeatFilter()
    handler.addFilter(repeats)
    handler.setLevel(level)
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(min(level, logging.WARNING))
    logger.propagate = False
    try:
        yield repeats
    finally:
        handler.removeFilter(repeats)
        for record, count in repeats.repeats():
            summary = logging.makeLogRecord(record.__dict__)
            summary.msg, summary.args = f"said {count} times in all: {record.getMessage()}", None
            summary.count = count  # JSON logs carry it as a field
            handler.handle(summary)
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
