"""The search's result as an ordinary study: the chosen student becomes the grid cell
``auto`` of its system, evaluated once on the test split, benchmarked with the system's
own (full) harness, priced and gated like any record, its artefacts exported; the record
also carries the search (every trial, the front, the choice, the default) for the report.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from potstill._io import atomic_write_json
from potstill.auto.pareto import Point, non_dominated
from potstill.auto.search import SearchOutcome, TrialResult
from potstill.config import FleetConfig, GridEntry, SystemSpec
from potstill.results.store import ResultStore
from potstill.types import record_key

__all__ = [
    "LABEL", "annotate_records", "final_fleet", "pick", "place_student", "search_summary",
    "with_retention_floor",
]  # fmt: skip

#: The grid label (the record's method) of the chosen student.
LABEL = "auto"


def pick(outcome: SearchOutcome) -> tuple[TrialResult | None, bool]:
    """(The trial to deploy, whether it passed every constraint on validation): the choice,
    else the highest-retention candidate of the final rung that meets the SLO (it will
    fail its gates in the record, visibly)."""
    if outcome.choice is not None:
        return outcome.choice, True
    rung = outcome.final_rung
    pool = [t for t in outcome.trials if rung in t.rungs and t.rungs[rung].meets_slo]
    best = max(pool, key=lambda t: (t.rungs[rung].retention, -t.number), default=None)
    return best, False


def _system(spec: SystemSpec, fleet: FleetConfig, trial: TrialResult, epochs: int) -> SystemSpec:
    cand, plan = trial.candidate, fleet.plan_for(spec)
    train = plan.train.model_copy(
        update={"epochs": epochs, "lr": cand.lr, "label_weight": cand.label_weight}
    )
    bench = plan.bench.model_copy(update={"threads": cand.threads})
    return spec.model_copy(
        update={"student": cand.student(spec.student), "train": train, "bench": bench,
                "grid": [GridEntry(label=LABEL, methods=cand.methods())]}
    )  # fmt: skip


def with_retention_floor(fleet: FleetConfig, floor: float) -> tuple[FleetConfig, list[str]]:
    """``fleet`` with ``gates.min_retention = floor`` wherever a system's gates set none
    (the fleet's gates and each system's own gates section), and the systems it reached:
    "the cheapest student that passes every gate" needs a gate on quality to mean anything."""
    reached = [s.name for s in fleet.systems if fleet.plan_for(s).gates.min_retention is None]
    gates = fleet.gates
    if gates.min_retention is None:
        gates = gates.model_copy(update={"min_retention": floor})
    systems = [
        s.model_copy(update={"gates": s.gates.model_copy(update={"min_retention": floor})})
        if s.gates is not None and s.gates.min_retention is None else s
        for s in fleet.systems
    ]  # fmt: skip
    return fleet.model_copy(update={"gates": gates, "systems": systems}), reached


def final_fleet(fleet: FleetConfig, chosen: dict[str, tuple[TrialResult, int]]) -> FleetConfig:
    """The study of the chosen students: each searched system with its choice
    (trial, epochs trained) as its only grid cell; the fleet's other settings unchanged."""
    systems = [_system(s, fleet, *chosen[s.name]) for s in fleet.systems if s.name in chosen]
    return fleet.model_copy(update={"systems": systems, "name": f"{fleet.name}-auto"})


def place_student(trained: Path, out: Path, system: str) -> Path:
    """Put the chosen, already trained student where the study looks for it, so the study
    reuses it instead of training it again (its resume path)."""
    folder = out / "students" / system / LABEL
    if not (folder / "model.json").is_file():
        shutil.copytree(trained, folder, ignore=shutil.ignore_patterns("exports"),
                        dirs_exist_ok=True)  # fmt: skip
    return folder


def _trial_row(t: TrialResult) -> dict[str, Any]:
    m = t.last
    return {"number": t.number, "params": t.candidate.params(), "default": t.default,
            "rung": m.rung, "epochs": m.epochs, "retention": m.retention,
            "usd_per_million": m.usd_per_million, "p99_ms": m.p99_ms, "params_count": m.params,
            "feasible": m.feasible, "gates": m.gates}  # fmt: skip


def _front(trials: list[TrialResult]) -> list[int]:
    """The non-dominated trials by each one's last measurement (what the report draws)."""
    points = [Point(t.number, t.last.retention, t.last.usd_per_million, t.last.feasible)
              for t in trials]  # fmt: skip
    return sorted(p.key for p in non_dominated(points))


def search_summary(
    outcome: SearchOutcome, chosen: TrialResult | None, passed: bool
) -> dict[str, Any]:
    """What the record keeps of the search (validation figures, quick harness)."""
    default = outcome.default()
    return {
        "split": "validation", "harness": "quick", "sampler": outcome.sampler,
        "seconds": outcome.seconds, "final_rung": outcome.final_rung,
        "trials": [_trial_row(t) for t in outcome.trials],
        "front": _front(outcome.trials),
        "final_front": [t.number for t in outcome.front()],
        "choice": chosen.number if chosen is not None else None, "passed": passed,
        "default": default.number if default is not None else None,
    }  # fmt: skip


def annotate_records(out: Path, summaries: dict[str, dict[str, Any]]) -> None:
    """Add each system's search summary to its ``auto`` record (``student.search``)."""
    store = ResultStore(out)
    for system, summary in summaries.items():
        key = record_key(system, LABEL)
        if not store.exists(key):
            continue
        record = store.read(key)
        record.setdefault("student", {})["search"] = summary
        atomic_write_json(store.path_for(key), record)
