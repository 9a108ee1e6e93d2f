"""The shadow teacher: a sampled share of requests scored by the teacher, off the request path.

The request thread only draws a random number and, for a sampled request, puts it on a
bounded queue without waiting (:meth:`ShadowTeacher.offer`); a full queue drops the
request and counts it. A dispatcher thread takes what is queued in batches and sends each
batch to a separate *process* that holds the teacher (:mod:`potstill.serve.teacher_proc`:
spawned, one thread, at the lowest CPU priority and pinned to CPUs of its own), so the
teacher's compute neither holds the server's GIL nor competes with the student. A teacher
that fails to load, raises or dies is counted; a request is never delayed or failed by it.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from potstill.serve.teacher_proc import TeacherFailed, TeacherProcess

__all__ = ["ShadowItem", "ShadowTeacher"]

log = logging.getLogger(__name__)

_BATCH = 256
#: How long the dispatcher gathers requests into one teacher call: one call per batch
#: instead of one per request costs the teacher (and the machine) far less.
_BATCH_WAIT_S = 0.5
_PREDICT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class ShadowItem:
    """One sampled request: its id, rows and the student's classes."""

    request_id: str
    X: np.ndarray
    student_classes: np.ndarray


#: Called with the items of a batch, the teacher's probabilities and its ms per row.
OnResult = Callable[[list[ShadowItem], np.ndarray, float], None]
#: Called with the number of requests the teacher could not score and why.
OnError = Callable[[int, str], None]


class ShadowTeacher:
    """Bounded queue + dispatcher thread + teacher process (see the module doc)."""

    def __init__(
        self,
        teacher: Path,
        *,
        trust_pickle: bool,
        rate: float,
        queue_size: int,
        on_result: OnResult,
        on_error: OnError,
        on_drop: Callable[[], None],
        seed: int = 0,
        cpus: set[int] | None = None,
    ) -> None:
        self.rate = rate
        self.dropped = 0
        self._on_result, self._on_error, self._on_drop = on_result, on_error, on_drop
        self._rng = random.Random(seed)
        self._queue: queue.Queue[ShadowItem] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._teacher = TeacherProcess(
            teacher, trust_pickle=trust_pickle, lowest_priority=True, cpus=cpus,
            name="potstill-shadow-teacher",
        )  # fmt: skip
        self._thread = threading.Thread(target=self._run, name="potstill-shadow", daemon=True)
        self._thread.start()

    @property
    def state(self) -> str:
        return self._teacher.state

    @property
    def pid(self) -> int | None:
        return self._teacher.pid

    def offer(self, request_id: str, X: np.ndarray, student_classes: np.ndarray) -> bool:
        """Sample the request; queue it without waiting. True when it was queued."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return False
        try:
            self._queue.put_nowait(ShadowItem(request_id, X, student_classes))
        except queue.Full:
            self.dropped += 1
            self._on_drop()
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._teacher.close(timeout)

    def _take(self) -> list[ShadowItem]:
        try:
            items = [self._queue.get(timeout=0.5)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + _BATCH_WAIT_S
        while len(items) < _BATCH and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                items.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return items

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._teacher.state == "starting":  # nothing is taken before the teacher loads
                self._stop.wait(0.2)
                continue
            items = self._take()
            if items:
                self._score(items)

    def _score(self, items: list[ShadowItem]) -> None:
        X = np.concatenate([item.X for item in items])
        try:
            probs, seconds = self._teacher.predict(X, timeout=_PREDICT_TIMEOUT_S)
        except TeacherFailed as exc:
            self._on_error(len(items), str(exc))
            return
        self._on_result(items, probs, 1000.0 * seconds / max(len(X), 1))
