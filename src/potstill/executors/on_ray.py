"""The Ray executor: one Ray task per system on a Ray cluster (the ``[ray]`` extra).

A system's teacher and students are trained, timed and evaluated in one task, so on one
node, and its records carry that node's hardware. Each task reserves ``cpus`` CPUs and
keeps its threads within them; its benchmark phase holds the node's benchmark lock
(:mod:`.node`), so two systems on one node never time each other's cores. Records are
written atomically by the task itself into the study folder (storage every node sees).

A task whose worker process or node dies is retried by Ray (``max_retries``) and resumes
from what it had saved; a system that is still lost after that gets ``failed`` records,
so nothing goes missing and a rerun retries it. The driver submits only the systems whose
records are not all present, so rerunning the same command after a lost driver or a lost
cluster does the rest and nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import replace
from types import ModuleType
from typing import Any

from potstill.config import ExecutorSpec, SystemSpec
from potstill.errors import ConfigError, PotstillError, missing_dependency
from potstill.events import ignore
from potstill.executors.local import Done, system_task
from potstill.executors.node import node_environment, node_lock, task_threads
from potstill.results.store import ResultStore
from potstill.study.failures import failed_system_records, log_failure
from potstill.study.system import SystemContext

__all__ = ["import_ray", "run_on_ray"]

log = logging.getLogger(__name__)


def import_ray() -> ModuleType:
    """The ``ray`` module, or the error that names the extra to install."""
    try:
        import ray
    except ImportError:
        raise missing_dependency("ray", extra="ray", purpose="executor kind 'ray'") from None
    return ray


def ray_system(spec: SystemSpec, ctx: SystemContext, cpus: int) -> int:
    """The body of a system's Ray task: the node's environment, threads and lock."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    with node_lock() as bench_guard, task_threads(cpus):
        here = replace(
            ctx,
            environment=node_environment(ctx.environment, cpus, node_id),
            bench_guard=bench_guard,
        )
        return system_task(spec, here)


@contextlib.contextmanager
def _connected(ray: ModuleType, executor: ExecutorSpec, cpus: int) -> Iterator[None]:
    """This driver connected to the cluster (one already joined is kept as it is)."""
    if ray.is_initialized():
        yield
        return
    where = executor.address or "a Ray instance on this machine"
    try:
        if executor.address:
            ray.init(address=executor.address, include_dashboard=False)
        else:
            workers = executor.workers
            # 'local': a new instance, never one a stale session file points to.
            ray.init(
                address="local",
                num_cpus=workers * cpus if workers else None,
                include_dashboard=False,
            )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"executor.address: cannot start or join {where}: {exc}. Check the address "
            "('auto' needs a Ray cluster already running on this machine: see 'ray start' "
            "in Ray's documentation)."
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _lost(spec: SystemSpec, ctx: SystemContext, exc: BaseException) -> int:
    """A system whose task could not finish even with retries: ``failed`` records."""
    log_failure(f"system {spec.name} (Ray task)", exc)
    records = failed_system_records(
        ctx.fleet.plan_for(spec), None, exc, config_hash=ctx.config_hash,
        system_hash=ctx.system_hashes.get(spec.name, ""), environment=ctx.environment,
    )  # fmt: skip
    store = ResultStore(ctx.out)
    for record in records:
        store.write(record)
    return len(records)


def _result(ray: ModuleType, ref: Any, spec: SystemSpec, ctx: SystemContext) -> int:
    try:
        return int(ray.get(ref))
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, PotstillError) and ctx.fail_fast:
            raise cause from None  # bad input in a one-system study: exit 2, as locally
        return _lost(spec, ctx, exc)
    except ray.exceptions.RayError as exc:  # worker or node died more than max_retries times
        return _lost(spec, ctx, exc)


def run_on_ray(
    selected: list[SystemSpec], ctx: SystemContext, executor: ExecutorSpec, cpus: int, done: Done
) -> None:
    """Every system of ``selected`` as a Ray task of ``cpus`` CPUs, at most
    ``executor.workers`` in flight; ``done`` in the driver as each finishes."""
    ray = import_ray()
    remote_ctx = replace(ctx, events=ignore)  # a sink stays in this process
    with _connected(ray, executor, cpus):
        task = ray.remote(num_cpus=cpus, max_retries=executor.max_retries)(ray_system)
        queue, pending = list(selected), dict[Any, SystemSpec]()
        limit = executor.workers or len(selected)
        while queue or pending:
            while queue and len(pending) < limit:
                spec = queue.pop(0)
                ref = task.options(name=f"potstill:{spec.name}").remote(spec, remote_ctx, cpus)
                pending[ref] = spec
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                spec = pending.pop(ref)
                done(spec, _result(ray, ref, spec, ctx))
