"""The executors on this machine: in this process, or in a pool of spawned processes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from functools import partial
from multiprocessing import get_context

from potstill.config import SystemSpec
from potstill.events import ignore
from potstill.study.outcome import run_announced
from potstill.study.system import SystemContext, run_system

__all__ = ["Done", "run_in_processes", "run_in_this_process", "system_task"]

#: Called in the driver when a system has finished: its spec and the records it added.
Done = Callable[[SystemSpec, int], None]


def system_task(spec: SystemSpec, ctx: SystemContext) -> int:
    """One system, end to end; the number of records it wrote."""
    return len(run_system(spec, ctx))


def run_in_this_process(selected: list[SystemSpec], ctx: SystemContext, done: Done) -> None:
    """One system after another, with every event of each (the default executor)."""
    for i, spec in enumerate(selected, 1):
        run = partial(system_task, spec, ctx)
        done(spec, run_announced(ctx.events, ctx.out, spec.name, i, len(selected), run))


def run_in_processes(
    selected: list[SystemSpec], ctx: SystemContext, workers: int, done: Done
) -> None:
    """``workers`` spawned processes, a system each at a time; ``done`` as each finishes.
    Their events stay in their process (a sink does not cross it)."""
    remote = replace(ctx, events=ignore)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(system_task, spec, remote): spec for spec in selected}
        for future in as_completed(futures):
            done(futures[future], future.result())
