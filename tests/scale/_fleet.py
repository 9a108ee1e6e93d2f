"""The tiny fleet the scale tests run: two systems of two cells, seconds each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FLEET = """
name: scale
seed: 0
grid: [scratch, kd]
train: {epochs: 4, batch_size: 64, lr: 0.003, patience: 4}
bench:
  warmup: 10
  min_calls: 10
  min_seconds: 0.01
  batch_sizes: [1]
  sweep_min_calls: 2
  sweep_min_seconds: 0.005
  runtimes: [eager]
  memory: false
  server: true
  threads: 1
evaluate: {n_resamples: 20, severities: [1.0]}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [16], epochs: 2}
    student: {width: 0.5}
  - name: cs
    dataset: {builtin: concrete_strength}
    teacher: {arch: mlp, hidden: [16], epochs: 2}
    student: {width: 0.5}
"""
#: Record fields that depend on the clock or the machine, not on the computation (as in
#: tests/robustness/test_fault_kill.py).
CLOCK_FIELDS = {"costs", "profiles", "timings", "created_at", "environment", "git_revision"}


def write_fleet(folder: Path, extra: str = "") -> Path:
    path = folder / "fleet.yaml"
    path.write_text(FLEET + extra)
    return path


def computed(record: dict[str, Any]) -> dict[str, Any]:
    """A record without what depends on the clock, the process or the teacher cache."""
    kept = {k: v for k, v in record.items() if k not in CLOCK_FIELDS}
    kept["teacher"] = {
        k: v for k, v in (kept.get("teacher") or {}).items() if k not in ("cached", "cache_dir")
    }
    kept["student"] = {k: v for k, v in (kept.get("student") or {}).items() if k != "resumed"}
    return kept


def records(out: Path) -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("records/*.json"))}
