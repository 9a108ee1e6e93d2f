"""One failure as a record's ``reason`` and ``error`` (type, message, traceback tail).

Kept apart from :mod:`potstill.study.failures` so that the modules writing records can
turn an exception into a failed record without importing the study's planning modules.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from potstill.errors import PotstillError

__all__ = ["TRACEBACK_FRAMES", "error_info", "failure_reason", "log_failure"]

log = logging.getLogger("potstill.study.failures")

#: Frames of the traceback kept in a record (the innermost ones: where it broke).
TRACEBACK_FRAMES = 8
_MAX_MESSAGE = 2000


def failure_reason(exc: BaseException) -> str:
    """One line for the record's ``reason``: potstill's own message as it is, any other
    exception prefixed with its type (``RuntimeError: mat1 and mat2 shapes ...``)."""
    message = " ".join(str(exc).split())[:_MAX_MESSAGE]
    if isinstance(exc, PotstillError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def error_info(exc: BaseException) -> dict[str, Any]:
    """The record's ``error``: type, message and the last frames of the traceback (text)."""
    frames = traceback.extract_tb(exc.__traceback__)[-TRACEBACK_FRAMES:]
    text = "".join(traceback.format_list(frames))
    text += "".join(traceback.format_exception_only(type(exc), exc))
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": str(exc)[:_MAX_MESSAGE],
        "traceback": text,
    }


def log_failure(where: str, exc: BaseException) -> None:
    """One warning line (no traceback on screen: it is in the record)."""
    log.warning("%s failed: %s (traceback kept in its record)", where, failure_reason(exc))
