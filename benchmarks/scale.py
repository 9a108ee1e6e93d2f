"""Scale-out on Ray (issue 16): the built-in fleet with 1 and 2 Ray workers.

For each worker count it starts a local Ray instance of that many CPUs (one per system,
``cpus_per_system: 1``; the fleet's train and bench threads are 1), runs the fleet into a
fresh folder with a cold teacher cache and no student reuse, and reads every figure back
from the records:

- wall time: Ray's start, the study (systems + report);
- per phase (load, teacher, train, evaluate, bench): the seconds the records give, summed
  over systems, and the phase's scaling 2 x work(1) / work(2): how much more phase work
  per second two workers do, if they are kept busy (1.0 means no gain, 2.0 perfect);
- quality and cost: each record's retention (with its bootstrap interval) and cost
  reduction at 1 and at 2 workers; retention at 2 workers must fall inside the 1-worker
  interval; cost reduction is compared as a difference (records carry no interval on it);
- a projection of the seed's 47-system study onto N nodes (one system at a time per node,
  longest first onto the least loaded node) from the measured per-system wall times.

Writes ``benchmarks/results/scale.json`` (``scale_quick.json`` with ``--quick``).

    python benchmarks/scale.py            # the full built-in fleet (10 systems)
    python benchmarks/scale.py --quick    # 3 systems, 2 cells, 2 epochs: a smoke run
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ray

from potstill.config import FleetConfig
from potstill.runner import builtin_fleet, run_study

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("load_s", "teacher_s", "train_s", "evaluate_s", "bench_s")
SEED_SYSTEMS = 47
NODES = (1, 2, 4, 8, 16)


def _fleet(quick: bool, workers: int) -> FleetConfig:
    fleet = builtin_fleet(quick=quick)
    data = fleet.model_dump()
    if quick:  # a smoke run: two cells, two epochs
        data["grid"] = [g for g in data["grid"] if g["label"] in ("scratch", "kd")]
        data["train"] = {**data["train"], "epochs": 2}
    data["executor"] = {"kind": "ray", "workers": workers, "cpus_per_system": 1}
    return FleetConfig.model_validate(data)


def _run(quick: bool, workers: int, root: Path) -> dict[str, Any]:
    fleet, out = _fleet(quick, workers), root / f"workers-{workers}"
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False)
    started = time.perf_counter()
    try:
        result = run_study(fleet, out, cache_dir=root / f"cache-{workers}")
    finally:
        ray.shutdown()
    study_s = time.perf_counter() - started
    records = [json.loads(p.read_text()) for p in sorted(out.glob("records/*.json"))]
    return {"workers": workers, "ray_start_s": started - t0, "study_s": study_s,
            "exit_code": result.exit_code, "records": records}  # fmt: skip


def _per_system(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Phase seconds per system: system phases once, training summed over its cells."""
    systems: dict[str, dict[str, float]] = {}
    for r in records:
        t = r.get("timings") or {}
        once = {p: float(t.get(p) or 0) for p in PHASES if p != "train_s"}
        s = systems.setdefault(r["system"], {**once, "train_s": 0.0})
        s["train_s"] += float(t.get("train_s") or 0)
    return systems


def _phases(runs: list[dict[str, Any]]) -> dict[str, Any]:
    work = {
        run["workers"]: {p: sum(s[p] for s in _per_system(run["records"]).values()) for p in PHASES}
        for run in runs
    }
    return {
        p: {"work_s_1": work[1][p], "work_s_2": work[2][p],
            "scaling": 2 * work[1][p] / work[2][p] if work[2][p] else None}
        for p in PHASES
    }  # fmt: skip


def _compare(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    one = {(r["system"], r["method"]): r for r in runs[0]["records"]}
    rows = []
    for r in runs[1]["records"]:
        a = one.get((r["system"], r["method"]))
        if a is None or a.get("status") != "ok" or r.get("status") != "ok":
            continue
        ret1, ret2 = a["quality"]["retention"], r["quality"]["retention"]
        c1, c2 = (a.get("costs") or {}).get("reduction"), (r.get("costs") or {}).get("reduction")
        band = (a.get("costs") or {}).get("cost_reduction") or {}  # the 1-worker run's interval
        inside = (
            None if c2 is None or band.get("low") is None else band["low"] <= c2 <= band["high"]
        )
        rows.append({
            "system": r["system"], "method": r["method"],
            "retention_1": [ret1["value"], ret1["low"], ret1["high"]],
            "retention_2": ret2["value"],
            "retention_within_interval": ret1["low"] <= ret2["value"] <= ret1["high"],
            "cost_reduction_1": c1, "cost_reduction_2": c2,
            "cost_reduction_difference": None if c1 is None or c2 is None else c2 - c1,
            "cost_reduction_1_interval": [band.get("low"), band.get("high")],
            "cost_reduction_within_interval": inside,
        })  # fmt: skip
    return rows


def _projection(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """47 systems whose wall times cycle through the measured ones, packed longest first."""
    measured = sorted(sum(s.values()) for s in _per_system(runs[0]["records"]).values())
    times = sorted((measured[i % len(measured)] for i in range(SEED_SYSTEMS)), reverse=True)
    hours = {}
    for n in NODES:
        nodes = [0.0] * n
        for t in times:
            heapq.heappush(nodes, heapq.heappop(nodes) + t)
        hours[str(n)] = max(nodes) / 3600
    return {"systems": SEED_SYSTEMS, "per_system_s_measured": measured,
            "assumption": "one system at a time per node; per-system times cycle through the "
            "measured ones; Ray start and the report are left out", "hours_by_nodes": hours}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 systems, 2 cells, 2 epochs.")
    args = parser.parse_args()
    os.environ["POTSTILL_REUSE_STUDENTS"] = "0"  # every run trains its own students
    with tempfile.TemporaryDirectory(prefix="potstill-scale-") as tmp:
        runs = [_run(args.quick, w, Path(tmp)) for w in (1, 2)]
    result = {
        "command": "python benchmarks/scale.py" + (" --quick" if args.quick else ""),
        "fleet": _fleet(args.quick, 1).name,
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "ray": ray.__version__,
        "runs": [{k: v for k, v in r.items() if k != "records"} for r in runs],
        "speedup_study": runs[0]["study_s"] / runs[1]["study_s"],
        "phases": _phases(runs),
        "records": _compare(runs),
        "projection": _projection(runs),
    }
    result["retention_all_within_interval"] = all(
        r["retention_within_interval"] for r in result["records"]
    )
    result["cost_reduction_all_within_interval"] = all(
        r["cost_reduction_within_interval"] for r in result["records"]
    )
    name = "scale_quick.json" if args.quick else "scale.json"
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("runs", "speedup_study", "phases")}))


if __name__ == "__main__":
    sys.exit(main())
