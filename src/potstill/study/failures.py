"""A run that fails is a record, not a crash: the error and a short traceback are kept.

Whatever goes wrong in one grid cell (a ``RuntimeError`` inside torch, a method that cannot
bind) or in a whole system (a corrupt teacher file, a crash in the benchmark) becomes a
record with status ``failed`` whose ``reason`` says what happened in one line and whose
``error`` holds the exception's type, message and the last frames of its traceback. The
study logs one line and goes on to the next cell or system; the report lists the failure;
the exit code (3) tells it apart from failed gates (1) and bad input (2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from potstill.config import SystemPlan
from potstill.costs.environment import git_revision
from potstill.evaluate import gate_status
from potstill.methods import method_info
from potstill.study.cells import family_of
from potstill.study.error_info import TRACEBACK_FRAMES, error_info, failure_reason, log_failure
from potstill.study.tasks import spec_identity
from potstill.types import DatasetInfo, RunRecord, Task

__all__ = [
    "TRACEBACK_FRAMES",
    "error_info",
    "failed_system_records",
    "failure_reason",
    "log_failure",
    "outcome_counts",
]


def failed_system_records(
    plan: SystemPlan,
    task: Task | None,
    exc: BaseException,
    *,
    config_hash: str,
    system_hash: str,
    environment: Mapping[str, Any],
) -> list[RunRecord]:
    """One ``failed`` record per grid cell of a system that failed as a whole, each with
    the system's error; ``task`` is None when the failure came before the data loaded."""
    spec = plan.spec
    sector, kind, problem = (
        (task.sector, task.kind, task.problem) if task is not None else spec_identity(spec)
    )
    dataset = task.info if task is not None else DatasetInfo(
        name=spec.dataset.builtin or str(spec.dataset.path), source="not loaded", licence="unknown"
    )  # fmt: skip
    records = []
    for entry in plan.grid:
        specs = entry.for_problem(problem)
        record = RunRecord(
            system=spec.name, sector=sector, kind=kind, problem=problem, method=entry.label,
            family="response" if entry.llm else family_of(specs), status="failed", seed=plan.seed,
            config_hash=config_hash, dataset=dataset, reason=failure_reason(exc),
            error=error_info(exc), system_hash=system_hash,
            variant=plan.variant.model_dump() if plan.variant is not None else None,
            references=[method_info(m.name).paper for m in specs],
            environment=environment, git_revision=git_revision(),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )  # fmt: skip
        records.append(record)
    return records


def outcome_counts(records: Iterable[Mapping[str, Any]]) -> tuple[int, int]:
    """(failed runs, distilled students that failed a gate) among record dicts: what the
    exit code of a study says (3 and 1). From-scratch baselines are the control: their
    gates are reported, never counted here (as in ``potstill check``)."""
    failed = gates_failed = 0
    for r in records:
        failed += r.get("status") == "failed"
        gates = r.get("gates") or ()
        distilled = r.get("status") == "ok" and r.get("family") != "baseline"
        gates_failed += distilled and any(gate_status(g) == "fail" for g in gates)
    return failed, gates_failed
