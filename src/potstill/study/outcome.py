"""Each system's outcome as a person reads it at the end of a run, and the events around it.

A run's last screen answers, per system: which teacher, which student is best, how much
of the teacher's metric it kept (with its interval), what it saves, whether distillation
beat training from scratch (the paired bootstrap's verdict, Holm-corrected for picking the
best of k methods), whether it passes the gates. Every figure is read from the
system's records in the store (like the report), so a resumed system's line is the same
as a fresh one's.

The *best* student is the best distilled student (by test metric, in the metric's
direction) among those that pass every measured gate; when none passes, the best by test
metric, and the gates column says which gate it fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from potstill.evaluate import gate_status
from potstill.evaluate.verdict import best_of_k
from potstill.events import (
    EventSink,
    SystemFinished,
    SystemOutcome,
    SystemStarted,
    first_line,
)
from potstill.results.recordview import dig, is_distillation, number
from potstill.results.store import ResultStore

__all__ = ["announce_finished", "run_announced", "study_outcomes", "system_outcome"]


def _gates(record: Mapping[str, Any]) -> tuple[str, bool]:
    """("pass" | "pass (n not measured)" | "fail: a, b" | "none", passed)."""
    gates = record.get("gates") or []
    if not gates:
        return "none", True
    statuses = [gate_status(g) for g in gates]
    failed = [g["name"] for g, st in zip(gates, statuses, strict=True) if st == "fail"]
    if failed:
        return "fail: " + ", ".join(failed), False
    unmeasured = statuses.count("not measured")
    return ("pass" + (f" ({unmeasured} not measured)" if unmeasured else "")), True


def _verdict(best: Mapping[str, Any], measured: Sequence[Mapping[str, Any]]) -> str:
    """The best student against the from-scratch one: the paired bootstrap of their gain on
    the same test rows, corrected for being the best of the k measured methods (Holm)."""
    gains = {
        str(r["method"]): g
        for r in measured
        if isinstance(g := dig(r, "quality", "versus_scratch"), Mapping)
    }
    if str(best["method"]) not in gains:
        return "no paired comparison with scratch"
    _, _, corrected = best_of_k(gains, str(best["method"]))
    k = len(gains)
    return corrected + (f"; best of {k}, Holm" if k > 1 else "")


def system_outcome(system: str, records: Sequence[Mapping[str, Any]]) -> SystemOutcome:
    """The outcome of ``system`` from its records (dicts as the result store returns them)."""
    own = [r for r in records if r.get("system") == system]
    counts = {
        "records": len(own),
        "failed": sum(r["status"] == "failed" for r in own),
        "not_applicable": sum(r["status"] == "not_applicable" for r in own),
    }
    first = next((r for r in own if r["status"] == "ok"), own[0] if own else None)
    if first is None:
        return SystemOutcome(system=system, note="no records", **counts)
    teacher = str(dig(first, "teacher", "name", default="") or "")
    hib = bool(dig(first, "quality", "higher_is_better", default=True))
    sign = 1.0 if hib else -1.0
    measured = [
        r
        for r in own
        if is_distillation(r) and number(dig(r, "quality", "student", "value")) is not None
    ]
    passing = [r for r in measured if _gates(r)[1]]
    pool = passing or measured
    common: dict[str, Any] = {
        "system": system,
        "teacher": teacher,
        "metric": str(dig(first, "quality", "metric", default="") or ""),
        "teacher_value": number(dig(first, "quality", "teacher", "value")),
        **counts,
    }
    if not pool:
        return SystemOutcome(**common, note="no distilled student with a measured metric")
    best = max(pool, key=lambda r: sign * float(dig(r, "quality", "student", "value")))
    return SystemOutcome(
        **common,
        best=str(best["method"]),
        retention=number(dig(best, "quality", "retention", "value")),
        retention_low=number(dig(best, "quality", "retention", "low")),
        retention_high=number(dig(best, "quality", "retention", "high")),
        cost_reduction=number(dig(best, "costs", "reduction")),
        verdict=_verdict(best, measured),
        gates=_gates(best)[0],
    )


def study_outcomes(out: Path, systems: Sequence[str]) -> tuple[SystemOutcome, ...]:
    """The outcome of each of ``systems`` from the records under ``out``."""
    store = ResultStore(out)
    records = store.load_all() if store.records_dir.is_dir() else []
    return tuple(system_outcome(name, records) for name in systems)


def run_announced(
    sink: EventSink, out: Path, system: str, index: int, total: int, run: Callable[[], int]
) -> int:
    """``run()`` (one system; returns its new records) between :class:`SystemStarted` and
    :class:`SystemFinished`, which carries the outcome read back from the store."""
    sink(SystemStarted(system=system, index=index, total=total))
    start = time.perf_counter()
    try:
        added = run()
    except BaseException as exc:
        sink(SystemFinished(system=system, index=index, total=total, new_records=0,
                            seconds=time.perf_counter() - start, status="failed",
                            note=first_line(exc)))  # fmt: skip
        raise
    sink(announce_finished(out, system, index, total, added, time.perf_counter() - start))
    return added


def announce_finished(
    out: Path, system: str, index: int, total: int, added: int, seconds: float
) -> SystemFinished:
    """The :class:`SystemFinished` event of a system that ran (its outcome from the store)."""
    (outcome,) = study_outcomes(out, [system])
    note = "" if added else "all records present: nothing to do"
    return SystemFinished(system=system, index=index, total=total, seconds=seconds,
                          new_records=added, outcome=outcome, note=note)  # fmt: skip
