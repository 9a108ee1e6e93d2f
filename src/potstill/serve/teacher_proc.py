"""The teacher in its own process: loaded once, scoring numpy batches sent over a pipe.

The server never loads the teacher itself (a torch or scikit-learn teacher would hold the
server's GIL and compete with the student). Two users:

- the **shadow** teacher runs at ``nice`` 19 under ``SCHED_BATCH`` where Linux has it (its
  wake-ups do not preempt the server) and pinned to CPUs of its own (by default the last
  CPU the server may use), so it takes what the student leaves over. ``SCHED_IDLE`` would
  yield even more, but on a busy machine it starves the teacher outright (every sampled
  request dropped);
- the circuit breaker's **fallback** teacher answers requests while the breaker is open, so
  it keeps normal priority.

Every message carries a tag; a reply that arrives after its caller gave up is discarded.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from potstill.errors import ConfigError

__all__ = ["TeacherFailed", "TeacherProcess", "parse_cpus"]

log = logging.getLogger(__name__)

_LOAD_TIMEOUT_S = 300.0


class TeacherFailed(Exception):
    """The teacher could not score a batch (not loaded, raised, timed out or gone)."""


def parse_cpus(text: str) -> set[int] | None:
    """The CPU set of ``--shadow-cpus``: 'last', 'all' (None: no pinning), or '0,2-3'."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    value = text.strip().lower()
    if value == "all" or not allowed:
        return None
    if value == "last":
        return {allowed[-1]} if len(allowed) > 1 else None
    cpus: set[int] = set()
    try:
        for part in value.split(","):
            low, _, high = part.partition("-")
            cpus.update(range(int(low), int(high or low) + 1))
    except ValueError:
        cpus = set()
    if not cpus or not cpus <= set(allowed):
        raise ConfigError(
            f"The '--shadow-cpus' option must be 'last', 'all' or CPU numbers this process may "
            f"use ({allowed}), e.g. '1' or '2-3'. Got {text!r} instead."
        )
    return cpus


def _lower_priority(lowest: bool, cpus: set[int] | None) -> None:
    try:
        if cpus:
            os.sched_setaffinity(0, cpus)
        if lowest:
            if hasattr(os, "SCHED_BATCH"):
                os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
            os.nice(19)
    except OSError as exc:
        log.warning("the teacher keeps its CPU priority and affinity: %s", exc)


def _worker_main(
    conn: Connection, path: str, trust_pickle: bool, lowest: bool, cpus: set[int] | None
) -> None:
    """The teacher's process: load it, then score batches until told to stop or orphaned."""
    parent = os.getppid()
    _lower_priority(lowest, cpus)
    try:
        # Imported here, in the child only: the server process never loads the teacher.
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
        tag, X = message
        start = time.perf_counter()
        try:
            probs = np.asarray(teacher.predict_scores(X), dtype=np.float64)
            conn.send((tag, "ok", probs, time.perf_counter() - start))
        except Exception as exc:  # a teacher error is counted by the server, not fatal
            conn.send((tag, "error", f"{type(exc).__name__}: {exc}", 0.0))


class TeacherProcess:
    """A spawned process holding the teacher; :meth:`predict` is thread-safe (one at a time)."""

    def __init__(
        self, teacher: Path, *, trust_pickle: bool, lowest_priority: bool,
        cpus: set[int] | None = None, name: str = "potstill-teacher",
    ) -> None:  # fmt: skip
        self.state = "starting"
        self._lock = threading.Lock()
        self._tags = itertools.count()
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_worker_main, args=(child, str(teacher), trust_pickle, lowest_priority, cpus),
            name=name, daemon=True,
        )  # fmt: skip
        self._proc.start()
        child.close()
        self._closing = threading.Event()
        threading.Thread(target=self._await_ready, name=f"{name}-load", daemon=True).start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def _await_ready(self) -> None:
        with self._lock:
            deadline = time.monotonic() + _LOAD_TIMEOUT_S
            try:
                while not self._closing.is_set() and time.monotonic() < deadline:
                    if self._conn.poll(0.2):
                        kind, detail = self._conn.recv()
                        self.state = "ready" if kind == "ready" else f"failed: {detail}"
                        break
                    if not self._proc.is_alive():
                        self.state = f"failed: the teacher process exited ({self._proc.exitcode})"
                        break
                else:
                    if not self._closing.is_set():
                        self.state = f"failed: it did not load within {_LOAD_TIMEOUT_S:.0f} s"
            except (EOFError, OSError) as exc:
                self.state = f"failed: {exc}"
        if self.state != "ready" and not self._closing.is_set():
            log.error("teacher process: %s", self.state)

    def predict(self, X: np.ndarray, timeout: float) -> tuple[np.ndarray, float]:
        """(probabilities, seconds the teacher took) for ``X``; TeacherFailed otherwise."""
        if not self._lock.acquire(timeout=timeout):
            raise TeacherFailed(f"the teacher was busy for {timeout:.0f} s")
        try:
            if self.state != "ready":
                raise TeacherFailed(self.state)
            return self._exchange(X, time.monotonic() + timeout)
        finally:
            self._lock.release()

    def _exchange(self, X: np.ndarray, deadline: float) -> tuple[np.ndarray, float]:
        tag = next(self._tags)
        try:
            self._conn.send((tag, X))
            while True:
                if not self._conn.poll(max(0.0, deadline - time.monotonic())):
                    raise TeacherFailed("no answer in time")
                reply_tag, kind, payload, seconds = self._conn.recv()
                if reply_tag == tag:
                    break  # older tags: replies to callers that gave up
        except (EOFError, OSError) as exc:
            self.state = f"failed: the teacher process is gone ({exc})"
            raise TeacherFailed(self.state) from exc
        if kind != "ok":
            raise TeacherFailed(str(payload))
        return payload, float(seconds)

    def close(self, timeout: float = 5.0) -> None:
        self._closing.set()
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            log.info("the teacher process had already stopped")
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout)
