"""A second study reuses the first one's ONNX and INT8 exports (the export cache) and
benchmarks everything again: its records equal the first's except what is timed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from potstill.config import load_fleet
from potstill.runner import run_study

COMPARE = Path(__file__).resolve().parents[2] / "benchmarks" / "compare_studies.py"
#: What a profile holds that is not timed: it must not change when the exports are reused.
_UNTIMED = ("model", "runtime", "params", "bytes_on_disk", "flops_per_sample", "batch_size")


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def _untimed(record: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for p in record["profiles"]:
        notes = {k: v for k, v in p["extra"]["runtime_notes"].items() if k != "export_cache"}
        rows.append({**{k: p[k] for k in _UNTIMED}, "notes": notes})
    return rows


def _export_cache(record: dict[str, Any]) -> dict[str, str | None]:
    return {
        f"{p['model']}/{p['runtime']}": p["extra"]["runtime_notes"].get("export_cache")
        for p in record["profiles"]
    }


@pytest.mark.slow  # two studies
def test_a_second_study_reuses_the_exports_and_keeps_every_untimed_field(
    user_files: dict[str, Path],
    fleet_yaml: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POTSTILL_REUSE_STUDENTS", "1")
    bench = {"warmup": 10, "min_calls": 10, "min_seconds": 0.0, "batch_sizes": [1, 8],
             "sweep_min_calls": 2, "sweep_min_seconds": 0.0, "memory": False,
             "runtimes": ["eager", "onnx", "onnx-int8"], "threads": 1}  # fmt: skip
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(user_files, {"alpha": "good"}, grid=["kd"], bench=bench))
    cache = tmp_path / "cache"
    for run in ("first", "second"):
        run_study(load_fleet(fleet), tmp_path / run, cache_dir=cache, report=False)
    first, second = _records(tmp_path / "first"), _records(tmp_path / "second")
    assert first.keys() == second.keys() and first
    for name, record in second.items():
        exported = {k: v for k, v in _export_cache(record).items() if "/onnx" in k}
        assert len(exported) == 2 and set(exported.values()) == {"hit"}, exported
        assert set(_export_cache(first[name]).values()) <= {"miss", None}
        assert _untimed(record) == _untimed(first[name])
        assert record["profiles"][0]["latency"]["n"] > 0  # timed again
    done = subprocess.run(
        [sys.executable, str(COMPARE), str(tmp_path / "first"), str(tmp_path / "second"),
         "--ignore", "student.student_cache", "--ignore", "student.evaluation_cache"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert (tmp_path / "cache" / "exports").is_dir()
