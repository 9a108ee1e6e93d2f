"""Do the cost intervals mean what they say? Ties, gaps and run-to-run coverage.

Two pairs are measured ``--runs`` times each (one ``measure`` call per run, teacher and
the other model interleaved), priced on c6i.xlarge:

1. *same*: a model against an identical copy of itself. Its true cost reduction is 0, so
   its interval should read a tie in about 95 % of runs.
2. *gap*: a wide MLP teacher against a narrow student: a clear saving, never a tie.

For each run the record's ``cost_reduction`` (value, interval, tie) and the contention
readings (blocks re-measured, kept contended, 1-minute load) are kept. *Cross-run
coverage*: the share of (run i, run j ≠ i) pairs whose interval from run i holds run j's
point value — below 95 % it says the within-run interval misses between-run noise.

Writes ``benchmarks/results/cost_noise.json`` (``--quick``: ``cost_noise_quick.json``,
2 runs with short stopping rules, for a smoke test only).

Usage: ``python benchmarks/cost_noise.py [--quick] [--runs N]``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._io import atomic_write_json
from potstill.costs import BenchConfig, BenchTarget, PriceCatalog, cost_of, measure
from potstill.costs.contention import cpu_count
from potstill.types import to_jsonable

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results"
FULL = BenchConfig(min_seconds=2.0, batch_sizes=(1, 32), sweep_min_seconds=0.5, memory=False,
                   runtimes=("eager",), server=False)  # fmt: skip
QUICK = FULL.model_copy(update={"min_seconds": 0.2, "sweep_min_seconds": 0.05, "min_calls": 100})


def _mlp(width: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(32, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 10)
    ).eval()


def _run(teacher: nn.Module, other: nn.Module, config: BenchConfig) -> dict[str, Any]:
    rows = np.random.default_rng(0).standard_normal((64, 32)).astype(np.float32)
    targets = [
        BenchTarget("teacher", module=teacher, example=rows),
        BenchTarget("student", module=other, example=rows),
    ]
    profiles = {p.model: p for p in measure(targets, config)}
    costs = cost_of(profiles["student"], profiles["teacher"], PriceCatalog.load().get("c6i.xlarge"))
    ci = costs.cost_reduction or {}
    seen = [p.extra["contention"] for p in profiles.values()]
    return {
        "reduction": costs.reduction, "low": ci.get("low"), "high": ci.get("high"),
        "tie": ci.get("tie"), "blocks": ci.get("blocks"),
        "blocks_remeasured": sum(c["blocks_remeasured"] for c in seen),
        "blocks_kept_contended": sum(c["blocks_kept_contended"] for c in seen),
        "load_1min_max": max((c["load_1min"] or {}).get("max", 0.0) for c in seen),
    }  # fmt: skip


def _coverage(runs: list[dict[str, Any]]) -> float | None:
    pairs = [(a, b) for i, a in enumerate(runs) for j, b in enumerate(runs) if i != j]
    if not pairs:
        return None
    return sum(a["low"] <= b["reduction"] <= a["high"] for a, b in pairs) / len(pairs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs, short rules (smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="runs per pair (default 10)")
    args = parser.parse_args(argv)
    runs, config = (args.runs or 2, QUICK) if args.quick else (args.runs or 10, FULL)
    teacher = _mlp(512, 0)
    pairs = {"same": copy.deepcopy(teacher), "gap": _mlp(16, 1)}
    started = time.perf_counter()
    out: dict[str, Any] = {"quick": args.quick, "runs": runs, "cpus": cpu_count(),
                           "load_before": os.getloadavg()[0], "pairs": {}}  # fmt: skip
    for name, other in pairs.items():
        results = [_run(teacher, other, config) for _ in range(runs)]
        out["pairs"][name] = {
            "runs": results,
            "ties": sum(bool(r["tie"]) for r in results),
            "mean_width": float(np.mean([r["high"] - r["low"] for r in results])),
            "cross_run_coverage": _coverage(results),
        }
    out["seconds"] = time.perf_counter() - started
    name = "cost_noise_quick.json" if args.quick else "cost_noise.json"
    atomic_write_json(RESULTS / name, to_jsonable(out))
    print(json.dumps(to_jsonable({k: v for k, v in out.items() if k != "pairs"}
                                 | {n: {k: v for k, v in p.items() if k != "runs"}
                                    for n, p in out["pairs"].items()})))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
