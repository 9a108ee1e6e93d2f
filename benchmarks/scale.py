"""Scale-out on Ray (issue 16): the built-in fleet with 1 and 2 Ray workers.

For each worker count it starts a local Ray instance of that many CPUs (one per system,
``cpus_per_system: 1``; the fleet's train and bench threads are 1), runs the fleet into a
fresh folder with a cold teacher cache and no student reuse, and reads every figure back
from the records:

- wall time: Ray's start, the study (systems + report);
- per phase (load, teacher, train, evaluate, bench): the seconds the records give, summed
  over systems, and the phase's scaling 2 x work(1) / work(2): how much more phase work
  per second two workers do, if they are kept busy (1.0 means no gain, 2.0 perfect);
- quality and cost, for every pair of runs: each record's retention (the second run's
  must fall inside the first's bootstrap interval) and cost reduction, both as "the second
  run's value inside the first's interval" and as "the 95 % interval of the difference
  (MOVER, from both records' intervals) covers zero". Pairs with the same worker count are
  the A/A control: what the check gives when nothing but the run changed. A point of a
  replication falls inside a 95 % interval only about 83 % of the time even when nothing
  changed, so the difference interval is the like-for-like test;
- a projection of the seed's 47-system study onto N nodes (one system at a time per node,
  longest first onto the least loaded node) from the measured per-system wall times.

Writes ``benchmarks/results/scale.json`` (``scale_quick.json`` with ``--quick``).

    python benchmarks/scale.py            # the full built-in fleet, runs with 1,2,1,2 workers
    python benchmarks/scale.py --quick    # 3 systems, 2 cells, 2 epochs: a smoke run
    python benchmarks/scale.py --runs 1,2 # one run each, no A/A control
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
from potstill.costs import difference_interval
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


def _run(quick: bool, workers: int, root: Path, index: int) -> dict[str, Any]:
    fleet, out = _fleet(quick, workers), root / f"run-{index}-workers-{workers}"
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=workers, include_dashboard=False)
    started = time.perf_counter()
    try:
        result = run_study(fleet, out, cache_dir=root / f"cache-{index}")
    finally:
        ray.shutdown()
    study_s = time.perf_counter() - started
    records = [json.loads(p.read_text()) for p in sorted(out.glob("records/*.json"))]
    return {"index": index, "workers": workers, "ray_start_s": started - t0,
            "study_s": study_s, "exit_code": result.exit_code, "records": records}  # fmt: skip


def _per_system(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Phase seconds per system: system phases once, training summed over its cells."""
    systems: dict[str, dict[str, float]] = {}
    for r in records:
        t = r.get("timings") or {}
        once = {p: float(t.get(p) or 0) for p in PHASES if p != "train_s"}
        s = systems.setdefault(r["system"], {**once, "train_s": 0.0})
        s["train_s"] += float(t.get("train_s") or 0)
    return systems


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _phases(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Phase work summed over systems, averaged over the runs with each worker count."""
    systems = [(r["workers"], list(_per_system(r["records"]).values())) for r in runs]
    work = {w: {p: _mean([sum(s[p] for s in per) for workers, per in systems if workers == w])
                for p in PHASES} for w in (1, 2)}  # fmt: skip
    return {
        p: {"work_s_1": work[1][p], "work_s_2": work[2][p],
            "scaling": 2 * work[1][p] / work[2][p] if work[2][p] else None}
        for p in PHASES
    }  # fmt: skip


def _pair(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """One record measured in two runs: retention and cost reduction compared."""
    ret1, ret2 = a["quality"]["retention"], b["quality"]["retention"]
    band_a = (a.get("costs") or {}).get("cost_reduction") or {}
    band_b = (b.get("costs") or {}).get("cost_reduction") or {}
    c1, c2 = band_a.get("value"), band_b.get("value")
    # 95 % interval of b - a (MOVER); None when either has no usable interval of its own
    interval = difference_interval(band_a, band_b, strict=False)
    diff = None if interval is None else list(interval)
    return {
        "system": b["system"], "method": b["method"],
        "retention_1": [ret1["value"], ret1["low"], ret1["high"]],
        "retention_2": ret2["value"],
        "retention_within_interval": ret1["low"] <= ret2["value"] <= ret1["high"],
        "cost_reduction_1": c1, "cost_reduction_2": c2,
        "cost_reduction_1_interval": [band_a.get("low"), band_a.get("high")],
        "cost_reduction_2_interval": [band_b.get("low"), band_b.get("high")],
        "cost_reduction_within_interval": None if c2 is None or band_a.get("low") is None
        else band_a["low"] <= c2 <= band_a["high"],
        "cost_reduction_difference": None if c1 is None or c2 is None else c2 - c1,
        "cost_reduction_difference_interval": diff,
        "cost_reduction_difference_covers_zero": None if diff is None
        else diff[0] <= 0.0 <= diff[1],
    }  # fmt: skip


def _compare(first: dict[str, Any], second: dict[str, Any]) -> list[dict[str, Any]]:
    one = {(r["system"], r["method"]): r for r in first["records"]}
    rows = []
    for r in second["records"]:
        a = one.get((r["system"], r["method"]))
        if a is None or a.get("status") != "ok" or r.get("status") != "ok":
            continue
        rows.append(_pair(a, r))
    return rows


def _share(rows: list[dict[str, Any]], key: str) -> list[int]:
    """[how many true, how many measured]."""
    known = [r[key] for r in rows if r[key] is not None]
    return [sum(known), len(known)]


def _comparisons(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every pair of runs: same worker count (the A/A control) or not (A/B)."""
    out = []
    for i, first in enumerate(runs):
        for second in runs[i + 1 :]:
            rows = _compare(first, second)
            kind = "A/A" if first["workers"] == second["workers"] else "A/B"
            out.append({
                "runs": [first["index"], second["index"]],
                "workers": [first["workers"], second["workers"]], "kind": kind,
                "retention_within_interval": _share(rows, "retention_within_interval"),
                "cost_point_within_first_interval": _share(rows, "cost_reduction_within_interval"),
                "cost_difference_covers_zero": _share(rows, "cost_reduction_difference_covers_zero"),
                "records": rows,
            })  # fmt: skip
    return out


def _tally(comparisons: list[dict[str, Any]]) -> dict[str, dict[str, list[int]]]:
    """Per kind (A/A, A/B), the checks summed over its pairs of runs."""
    keys = ("retention_within_interval", "cost_point_within_first_interval",
            "cost_difference_covers_zero")  # fmt: skip
    tally: dict[str, dict[str, list[int]]] = {}
    for c in comparisons:
        t = tally.setdefault(c["kind"], {k: [0, 0] for k in keys})
        for k in keys:
            t[k] = [t[k][0] + c[k][0], t[k][1] + c[k][1]]
    return tally


def _projection(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """47 systems whose wall times cycle through the measured ones, packed longest first."""
    one = next(r for r in runs if r["workers"] == 1)
    measured = sorted(sum(s.values()) for s in _per_system(one["records"]).values())
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


def _study_seconds(runs: list[dict[str, Any]], workers: int) -> float:
    return _mean([r["study_s"] for r in runs if r["workers"] == workers])


def _parse_runs(text: str) -> list[int]:
    runs = [int(w) for w in text.split(",") if w.strip()]
    if not runs or set(runs) - {1, 2} or not {1, 2} <= set(runs):
        raise SystemExit(f"--runs takes worker counts 1 and 2, each at least once. Got {text!r}.")
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 systems, 2 cells, 2 epochs.")
    parser.add_argument("--runs", default="1,2,1,2", help="worker count of each run, in order "
                        "(interleaved so that drift hits both; repeats give the A/A control).")  # fmt: skip
    args = parser.parse_args()
    order = _parse_runs(args.runs)
    os.environ["POTSTILL_REUSE_STUDENTS"] = "0"  # every run trains its own students
    with tempfile.TemporaryDirectory(prefix="potstill-scale-") as tmp:
        runs = [_run(args.quick, w, Path(tmp), i) for i, w in enumerate(order)]
    comparisons = _comparisons(runs)
    result = {
        "command": "python benchmarks/scale.py" + (" --quick" if args.quick else "")
        + f" --runs {','.join(map(str, order))}",
        "fleet": _fleet(args.quick, 1).name,
        "machine": {"cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "load_average_after": os.getloadavg(),
        "ray": ray.__version__,
        "runs": [{k: v for k, v in r.items() if k != "records"} for r in runs],
        "speedup_study": _study_seconds(runs, 1) / _study_seconds(runs, 2),
        "phases": _phases(runs),
        "checks_by_kind": _tally(comparisons),
        "comparisons": comparisons,
        "projection": _projection(runs),
    }  # fmt: skip
    name = "scale_quick.json" if args.quick else "scale.json"
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("speedup_study", "phases", "checks_by_kind")}))


if __name__ == "__main__":
    sys.exit(main())
