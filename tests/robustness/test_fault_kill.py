"""Fault test: SIGKILL a real study at several points, rerun it, and compare the records.

The design promises that nothing is lost and nothing is silently wrong: records and
students are written atomically, a rerun resumes from what was finished, and a resumed
study's records equal an uninterrupted run's except for what depends on the clock
(timings, latencies and the dollars derived from them). Each kill point runs in its own
output folder and its own cold teacher cache, so kills land in teacher training, student
training, the benchmark and the report alike.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

FLEET = """
name: fault
seed: 0
grid: [scratch, kd]
train: {epochs: 6, batch_size: 64, lr: 0.003, patience: 4}
bench:
  warmup: 10
  min_calls: 30
  min_seconds: 0.05
  batch_sizes: [1, 32]
  sweep_min_calls: 3
  sweep_min_seconds: 0.01
  runtimes: [eager, onnx]
  memory: false
  server: true
  threads: 1
evaluate: {n_resamples: 50, severities: [1.0]}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [32, 32], epochs: 5}
    student: {width: 0.5}
  - name: cs
    dataset: {builtin: concrete_strength}
    teacher: {arch: mlp, hidden: [32, 32], epochs: 5}
    student: {width: 0.5}
"""
#: Kill points as fractions of the uninterrupted run's wall time.
KILL_AT = (0.15, 0.4, 0.65, 0.9)
#: Record fields that depend on the clock or the process, not on the computation.
CLOCK_FIELDS = {"costs", "profiles", "timings", "created_at", "environment", "git_revision"}


def _command(fleet: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "potstill.cli", "study", str(fleet), "--out", str(out)]


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "POTSTILL_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}


def _run(fleet: Path, out: Path, cache: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(_command(fleet, out), env=_env(cache), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return time.perf_counter() - t0


def _kill_after(fleet: Path, out: Path, cache: Path, seconds: float) -> None:
    proc = subprocess.Popen(
        _command(fleet, out),
        env=_env(cache),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the kill takes its children (probes) too
    )
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _computed(record: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in record.items() if k not in CLOCK_FIELDS}
    teacher = dict(kept.get("teacher") or {})
    for key in ("cached", "cache_dir"):  # trained here or read from this run's own cache
        teacher.pop(key, None)
    kept["teacher"] = teacher
    student = dict(kept.get("student") or {})
    student.pop("resumed", None)  # provenance: says that the rerun reloaded this student
    kept["student"] = student
    return kept


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths at which two JSON values differ (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d
            for k in sorted(a.keys() | b.keys())
            for d in _differences(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"[:300]]


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {
        p.name: _computed(json.loads(p.read_text())) for p in sorted(out.glob("records/*.json"))
    }


@pytest.mark.slow
def test_killed_and_resumed_studies_equal_an_uninterrupted_one(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    clean_out = tmp_path / "clean"
    wall = _run(fleet, clean_out, tmp_path / "cache-clean")
    clean = _records(clean_out)
    assert len(clean) == 4 and all(r["status"] == "ok" for r in clean.values())
    for fraction in KILL_AT:
        out, cache = tmp_path / f"kill-{fraction}", tmp_path / f"cache-{fraction}"
        _kill_after(fleet, out, cache, wall * fraction)
        _run(fleet, out, cache)
        resumed = _records(out)
        assert resumed.keys() == clean.keys(), f"kill at {fraction:.0%}: records differ"
        for name, record in clean.items():
            diff = _differences(resumed[name], record)
            assert not diff, f"kill at {fraction:.0%}: {name} differs: {diff[:5]}"
        assert (out / "report.md").is_file()
        leftovers = [p.name for p in out.rglob(".*.tmp")]
        assert not leftovers, f"kill at {fraction:.0%}: temp files left: {leftovers}"
