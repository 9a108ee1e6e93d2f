"""Wall time of `potstill demo` on a cold cache (teachers trained) and a warm one.

Targets on the 2-core reference machine: <= 10 min cold, <= 3 min warm. Each run uses a
fresh output folder; "cold" also uses a fresh teacher cache (POTSTILL_CACHE), "warm"
reuses it (teachers, trained students, the evaluations of unchanged students and the
ONNX / INT8 exports; every model is timed and memory-probed again).
Writes benchmarks/results/demo_time.json and prints it as the final line.

``--warm-only`` times one run with the caches as they are (``$POTSTILL_CACHE`` or the
user cache, filled by an earlier run) into a new folder, and writes demo_time_warm.json
with the stages' wall times from the run's own events.

    python benchmarks/demo_time.py [--quick] [--warm-only]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(out: Path, cache: Path | None, quick: bool, events: Path | None = None) -> float:
    cmd = [sys.executable, "-m", "potstill.cli", "demo", "--out", str(out)] + (
        ["--quick"] if quick else []
    )
    env = {**os.environ, **({"POTSTILL_CACHE": str(cache)} if cache is not None else {})}
    t0 = time.perf_counter()
    if events is None:
        done = subprocess.run(cmd, env=env, check=False)
    else:
        with events.open("w") as fh:
            done = subprocess.run([*cmd, "--log-format", "json"], env=env, check=False, stdout=fh)
    if done.returncode not in (0, 1):  # 1: the study ran and a deployment gate failed
        raise SystemExit(f"potstill demo exited {done.returncode}: {' '.join(cmd)}")
    return time.perf_counter() - t0


def stage_seconds(events: Path) -> dict[str, float]:
    """Wall seconds per stage kind (teacher, train, bench, evaluate, ...) from the events."""
    started: dict[tuple[str, str, str], float] = {}
    totals: dict[str, float] = {}
    for line in events.read_text().splitlines():
        if not line.startswith("{"):
            continue
        e = json.loads(line)
        key = (str(e.get("system")), str(e.get("stage")), str(e.get("item")))
        if e["event"] == "stage_started":
            started[key] = e["at"]
        elif e["event"] == "stage_finished" and key in started:
            totals[key[1]] = totals.get(key[1], 0.0) + e["at"] - started.pop(key)
    return {k: round(v, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def warm_only(quick: bool) -> dict[str, object]:
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds = run(root / "warm", None, quick, events=root / "events.jsonl")
        records = [json.loads(p.read_text()) for p in (root / "warm" / "records").glob("*.json")]
        stages = stage_seconds(root / "events.jsonl")
    reused = sum((r.get("student") or {}).get("student_cache") == "hit" for r in records)
    evaluated = sum((r.get("student") or {}).get("evaluation_cache") == "hit" for r in records)
    exports = {  # each exported model × runtime once (a system's teacher is in every record)
        (r["system"], p["model"], p["runtime"]): p["extra"]["runtime_notes"].get("export_cache")
        for r in records
        for p in r.get("profiles") or []
        if "export_cache" in p["extra"].get("runtime_notes", {})
    }
    return {
        "benchmark": "demo_time_warm",
        "command": "python benchmarks/demo_time.py --warm-only" + (" --quick" if quick else ""),
        "quick": quick,
        "warm_s": round(seconds, 1),
        "target_s": 180,
        "stages_s": stages,
        "records": len(records),
        "students_reused": reused,
        "evaluations_reused": evaluated,
        "exports_reused": sum(v == "hit" for v in exports.values()),
        "exports": len(exports),
        "load_average_before": load_before,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time the --quick subset instead")
    parser.add_argument(
        "--warm-only", action="store_true", help="one run on the caches as they are"
    )
    args = parser.parse_args()
    if args.warm_only:
        warm = warm_only(args.quick)
        name = "demo_time_warm_quick.json" if args.quick else "demo_time_warm.json"
        (HERE / "results" / name).write_text(json.dumps(warm, indent=2) + "\n")
        print(json.dumps(warm))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = run(root / "cold", root / "cache", args.quick, root / "cold.jsonl")
        warm = run(root / "warm", root / "cache", args.quick, root / "warm.jsonl")
        records = sorted(p.name for p in (root / "warm" / "records").glob("*.json"))
        stages = {k: stage_seconds(root / f"{k}.jsonl") for k in ("cold", "warm")}
    result = {
        "benchmark": "demo_time",
        "command": "python benchmarks/demo_time.py" + (" --quick" if args.quick else ""),
        "quick": args.quick,
        "cold_s": round(cold, 1),
        "warm_s": round(warm, 1),
        "targets_s": {"cold": 600, "warm": 180},
        "records": len(records),
        "stages_s": stages,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
    }
    name = "demo_time_quick.json" if args.quick else "demo_time.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
