"""Cost-aware selection (``potstill select``) on enterprise built-in systems.

For each system: the search with Optuna's multi-objective TPE and, with the same budget
and seed, with random sampling. Written to benchmarks/results/select.json:

- the chosen student against the built-in default student (the system's own size, kd,
  ONNX Runtime): the ratio of $ per 1M predictions re-measured in alternating rounds,
  with its bootstrap interval (a tie when it holds 1), and both validation retentions;
- the chosen student's test retention and $ per 1M from its ordinary study record;
- the hypervolume of each search's trials (validation retention × $ per 1M, a shared
  reference point per system: retention 0.9 and 1.1 × the dearest feasible trial);
- wall time of each search.

Usage: python benchmarks/select_search.py [--systems a,b,c | --systems all] [--trials 12]
[--quick | --full] [--out DIR] [--results FILE]
(``all``: the 8 enterprise systems of the built-in fleet; --quick is the default: short rungs
and the quick harness, figures indicative only; --results: where the JSON goes, e.g. a
scratch file for a smoke run).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's name shadows the standard library's 'select' module (which subprocess and
# asyncio import) when run as a script: take its folder off the import path first.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

from potstill import api  # noqa: E402
from potstill._io import atomic_write_json  # noqa: E402
from potstill.auto import Point, SelectResult, hypervolume  # noqa: E402
from potstill.data import builtin_spec  # noqa: E402
from potstill.runner import builtin_fleet  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "select.json"
DEFAULT_SYSTEMS = "credit_scoring,heart_disease,predictive_maintenance"
REF_RETENTION = 0.9


def _points(result: SelectResult, system: str) -> list[Point]:
    outcome = result.outcomes[system]
    return [
        Point(t.number, t.last.retention, t.last.usd_per_million, t.last.feasible)
        for t in outcome.trials
    ]


def _candidate_seconds(result: SelectResult, system: str) -> float:
    return sum(
        m.train_s + m.measure_s for t in result.outcomes[system].trials for m in t.rungs.values()
    )


def _run(system: str, sampler: str, trials: int, quick: bool, root: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    result = api.select(builtin=system, out=root / system / sampler, quick=quick, trials=trials,
                        sampler=sampler, seed=0)  # fmt: skip
    wall = time.perf_counter() - t0
    row = result.summary()["systems"][0]
    return {"result": result, "row": row, "wall_s": round(wall, 1)}


def _system(system: str, trials: int, quick: bool, root: Path) -> dict[str, Any]:
    runs = {s: _run(system, s, trials, quick, root) for s in ("tpe", "random")}
    points = {s: _points(r["result"], system) for s, r in runs.items()}
    feasible = [p.usd for ps in points.values() for p in ps if p.feasible]
    ref_usd = 1.1 * max(feasible) if feasible else 1.0
    hv = {s: hypervolume(ps, REF_RETENTION, ref_usd) for s, ps in points.items()}
    tpe = runs["tpe"]["row"]
    versus = tpe.get("versus_default") or {}
    return {
        "system": system,
        "trials": trials,
        "choice": tpe["choice"],
        "passed_on_validation": tpe["passed_on_validation"],
        "val_retention": tpe["val_retention"],
        "default_val_retention": tpe["default_val_retention"],
        "cost_ratio_vs_default": versus.get("ratio"),
        "cost_ratio_ci95": [versus.get("low"), versus.get("high")],
        "tie": versus.get("tie"),
        "remeasure_rounds": versus.get("rounds"),
        "contended_rounds": versus.get("contended_rounds"),
        "test_retention": tpe["test_retention"],
        "usd_per_million_record": tpe["usd_per_million"],
        "reduction_vs_teacher_record": tpe["reduction"],
        "hypervolume": hv,
        "hv_reference": {"retention": REF_RETENTION, "usd_per_million": ref_usd},
        "optuna_hv_at_least_random": hv_verdict(hv, bool(feasible)),
        "wall_s": {s: r["wall_s"] for s, r in runs.items()},
        # Training + measuring time of every candidate at every rung, summed: unlike wall_s
        # it does not shrink when a search resumes after an interruption.
        "candidate_seconds": {
            s: round(_candidate_seconds(r["result"], system), 1) for s, r in runs.items()
        },
    }


def hv_verdict(hv: dict[str, float], any_feasible: bool) -> bool | None:
    """TPE's hypervolume >= random search's; None (not measured, never counted as met) when
    no trial of either search was feasible, so both are 0."""
    return hv["tpe"] >= hv["random"] if any_feasible else None


def enterprise_systems() -> list[str]:
    """The built-in fleet's systems outside the benchmark sector (the 8 enterprise ones)."""
    systems = builtin_fleet().systems
    return [s.name for s in systems if builtin_spec(str(s.dataset.builtin)).sector != "benchmark"]


def _systems(arg: str) -> list[str]:
    return enterprise_systems() if arg == "all" else [s for s in arg.split(",") if s]


def _write(path: Path, rows: list[dict[str, Any]], trials: int, quick: bool, wall: float) -> None:
    cheaper = [
        r for r in rows if r["cost_ratio_ci95"][1] is not None and r["cost_ratio_ci95"][1] <= 0.7
    ]
    atomic_write_json(path, {
        "what": "potstill select: Optuna TPE vs random search, same budget and seed",
        "quick": quick, "trials_per_system": trials,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_at_write": os.getloadavg()},
        "wall_s": round(wall, 1),
        "systems": rows,
        "goal": {
            "systems": len(rows),
            "choice_at_least_30pct_cheaper_than_default_ci": len(cheaper),
            "optuna_hv_at_least_random": sum(r["optuna_hv_at_least_random"] is True for r in rows),
        },
    })  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--systems",
        default=DEFAULT_SYSTEMS,
        help="comma-separated built-in systems, or 'all' (the 8 enterprise ones)",
    )
    parser.add_argument("--trials", type=int, default=12, help="trials per system and sampler")
    fidelity = parser.add_mutually_exclusive_group()
    fidelity.add_argument("--quick", action="store_true", help="short rungs (the default)")
    fidelity.add_argument("--full", action="store_true", help="default rungs and harness")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.trials < 1:
        parser.error(f"--trials must be >= 1. Got {args.trials} instead.")
    root = args.out or Path(tempfile.mkdtemp(prefix="select-bench-"))
    started = time.perf_counter()
    rows = []
    for system in _systems(args.systems):
        rows.append(_system(system, args.trials, not args.full, root))
        print(json.dumps(rows[-1]), flush=True)
        # Written after every system, so a run cut short keeps what it finished.
        _write(args.results, rows, args.trials, not args.full, time.perf_counter() - started)
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
