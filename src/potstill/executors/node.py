"""What a system's task does on the node it lands on: hold the node's lock, keep its
threads within its CPUs, and say which machine it ran on.

The lock is a ``flock`` on a file in the node's temporary folder, so it is per machine,
whatever cluster or study the other process belongs to, and the kernel releases it when
the holder dies: a worker killed mid-benchmark never leaves the node locked (a named Ray
actor would have to find out that its holder died). A system's task holds it *shared*
while it loads, trains and evaluates, and *exclusively* while it benchmarks
(:func:`node_lock`): two systems train side by side, but nothing else runs on the node
while one of them is timed, so its costs compare like with like.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from potstill.costs.environment import capture_environment, thread_limits

__all__ = ["BENCH_LOCK", "node_bench_lock", "node_environment", "node_lock", "task_threads"]

log = logging.getLogger(__name__)

#: The file every potstill benchmark on a node locks while it times.
BENCH_LOCK = "potstill-bench.lock"
#: Thread pools that read their size from the environment when they start.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextlib.contextmanager
def node_bench_lock() -> Iterator[None]:
    """Hold this machine's benchmark lock for the body (wait for it if another holds it)."""
    if sys.platform == "win32":  # no flock; Ray on Windows is a single-machine setup
        yield
        return
    import fcntl

    path = Path(tempfile.gettempdir()) / BENCH_LOCK
    with path.open("a") as fh:
        t0 = time.perf_counter()
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        waited = time.perf_counter() - t0
        if waited > 1:
            log.info("waited %.0f s for this node's benchmark lock", waited)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def node_lock() -> Iterator[Callable[[], contextlib.AbstractContextManager[None]]]:
    """Hold this machine's lock shared for the body, and give the guard that holds it
    exclusively around a benchmark (waiting until no other system works on the node)."""
    if sys.platform == "win32":  # no flock; Ray on Windows is a single-machine setup
        yield contextlib.nullcontext
        return
    import fcntl

    path = Path(tempfile.gettempdir()) / BENCH_LOCK
    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_SH)

        @contextlib.contextmanager
        def bench() -> Iterator[None]:
            t0 = time.perf_counter()
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # converts: the shared hold is let go
            if (waited := time.perf_counter() - t0) > 1:
                log.info("waited %.0f s for the node to itself before timing", waited)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_SH)

        try:
            yield bench
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def task_threads(cpus: int) -> Iterator[None]:
    """torch, BLAS/OpenMP pools and the pools started later (``*_NUM_THREADS``) capped at
    the task's ``cpus``; the phases' own ``threads`` settings are at most this."""
    previous = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, str(cpus)))
    try:
        with thread_limits(cpus):
            yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def node_environment(driver: dict[str, Any], cpus: int, node_id: str | None) -> dict[str, Any]:
    """The study's environment with this node's hardware in place of the driver's: what a
    record that ran here says about where it ran."""
    return {
        **driver,  # the study's seed and executor settings
        **capture_environment(),
        "node": {"id": node_id, "hostname": socket.gethostname(), "cpus_reserved": cpus},
    }
