"""Wall time of `potstill demo` on a cold cache (teachers trained) and a warm one.

Targets on the 2-core reference machine: <= 10 min cold, <= 3 min warm. Each run uses a
fresh output folder; "cold" also uses a fresh teacher cache (POTSTILL_CACHE), "warm"
reuses it. Writes benchmarks/results/demo_time.json and prints it as the final line.

    python benchmarks/demo_time.py [--quick]
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


def run(out: Path, cache: Path, quick: bool) -> float:
    cmd = [sys.executable, "-m", "potstill.cli", "demo", "--out", str(out)] + (
        ["--quick"] if quick else []
    )
    env = {**os.environ, "POTSTILL_CACHE": str(cache)}
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time the --quick subset instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = run(root / "cold", root / "cache", args.quick)
        warm = run(root / "warm", root / "cache", args.quick)
        records = sorted(p.name for p in (root / "warm" / "records").glob("*.json"))
    result = {
        "benchmark": "demo_time",
        "quick": args.quick,
        "cold_s": round(cold, 1),
        "warm_s": round(warm, 1),
        "targets_s": {"cold": 600, "warm": 180},
        "records": len(records),
        "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
    }
    name = "demo_time_quick.json" if args.quick else "demo_time.json"
    (HERE / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
