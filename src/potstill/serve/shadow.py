"""The shadow teacher: a sampled share of requests scored by the teacher, off the request path.

The request thread only draws a random number and, for a sampled request, puts it on a
bounded queue without waiting (:meth:`ShadowTeacher.offer`); a full queue drops the
request and counts it. A dispatcher thread takes what is queued in batches and sends each
batch to a separate *process* that holds the teacher (spawned, lowered in priority with
``nice`` 19, one thread), so the teacher's compute neither holds the server's GIL nor
competes with the student at equal priority. A teacher that fails to load, raises or dies
is counted; a request is never delayed or failed by it.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ShadowItem", "ShadowTeacher"]

log = logging.getLogger(__name__)

_BATCH = 256
#: How long the dispatcher gathers requests into one teacher call: one call per batch
#: instead of one per request costs the teacher (and the machine) far less.
_BATCH_WAIT_S = 0.25
_LOAD_TIMEOUT_S = 300.0
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


def _worker_main(conn: Connection, path: str, trust_pickle: bool, niceness: int) -> None:
    """The teacher's process: load it, then score batches until told to stop or orphaned."""
    parent = os.getppid()
    try:
        os.nice(niceness)
    except OSError as exc:
        log.warning("the shadow teacher keeps normal priority: %s", exc)
    try:
        # Imported here, in the child only: the server process never loads torch models.
        from threadpoolctl import threadpool_limits

        from potstill.models.teacher_load import load_teacher

        threadpool_limits(1)
        teacher = load_teacher(Path(path), problem="classification", trust_pickle=trust_pickle)
        conn.send(("ready", teacher.backend))
    except Exception as exc:  # reported to the server, which counts and shows it
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        return
    _serve_batches(conn, teacher, parent)


def _serve_batches(conn: Connection, teacher: Any, parent: int) -> None:
    while True:
        if not conn.poll(1.0):
            if os.getppid() != parent:  # the server died (e.g. kill -9): do not linger
                return
            continue
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        start = time.perf_counter()
        try:
            probs = np.asarray(teacher.predict_scores(message), dtype=np.float64)
            conn.send(("ok", probs, time.perf_counter() - start))
        except Exception as exc:  # a teacher error is counted by the server, not fatal
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


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
        niceness: int = 19,
    ) -> None:
        self.rate = rate
        self.state = "starting"
        self.dropped = 0
        self._on_result, self._on_error, self._on_drop = on_result, on_error, on_drop
        self._rng = random.Random(seed)
        self._queue: queue.Queue[ShadowItem] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_worker_main,
            args=(child, str(teacher), trust_pickle, niceness),
            name="potstill-shadow-teacher",
            daemon=True,
        )
        self._proc.start()
        child.close()
        self._thread = threading.Thread(target=self._run, name="potstill-shadow", daemon=True)
        self._thread.start()

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
        try:
            self._conn.send(None)
        except (OSError, ValueError, BrokenPipeError):
            log.info("the shadow teacher had already stopped")
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _LOAD_TIMEOUT_S
        while not self._stop.is_set() and time.monotonic() < deadline:
            if self._conn.poll(0.2):
                kind, detail = self._conn.recv()
                self.state = "ready" if kind == "ready" else f"failed: {detail}"
                return
            if not self._proc.is_alive():
                self.state = f"failed: the teacher process exited ({self._proc.exitcode})"
                return
        if not self._stop.is_set():
            self.state = f"failed: the teacher did not load within {_LOAD_TIMEOUT_S:.0f} s"

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
        try:
            self._wait_ready()
        except (EOFError, OSError) as exc:
            self.state = f"failed: {exc}"
        if self.state != "ready":
            log.error("shadow teacher: %s", self.state)
        while not self._stop.is_set():
            items = self._take()
            if items:
                self._score(items)

    def _score(self, items: list[ShadowItem]) -> None:
        if self.state != "ready":
            self._on_error(len(items), self.state)
            return
        X = np.concatenate([item.X for item in items])
        try:
            self._conn.send(X)
            if not self._conn.poll(_PREDICT_TIMEOUT_S):
                self.state = f"failed: no answer within {_PREDICT_TIMEOUT_S:.0f} s"
                self._on_error(len(items), self.state)
                return
            reply = self._conn.recv()
        except (EOFError, OSError) as exc:
            self.state = f"failed: the teacher process is gone ({exc})"
            self._on_error(len(items), self.state)
            return
        if reply[0] != "ok":
            self._on_error(len(items), str(reply[1]))
            return
        probs, seconds = reply[1], reply[2]
        self._on_result(items, probs, 1000.0 * seconds / max(len(X), 1))
