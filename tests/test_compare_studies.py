"""benchmarks/compare_studies.py: records equal except what is measured anew."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_studies.py"


def _study(root: Path, records: dict[str, dict]) -> Path:
    (root / "records").mkdir(parents=True)
    for key, record in records.items():
        (root / "records" / f"{key}.json").write_text(json.dumps(record))
    return root


def _run(a: Path, b: Path, *options: str) -> tuple[int, list[str], dict]:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(a), str(b), *options],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    return proc.returncode, lines[:-1], json.loads(lines[-1])


def _record(retention: float, seconds: float) -> dict:
    return {
        "system": "s",
        "quality": {"retention": {"value": retention}},
        "timings": {"train_s": seconds},
        "profiles": [{"latency": {"p50_ms": seconds}}],
        "gates": [{"name": "min_retention", "passed": True}],
    }


def test_timings_and_profiles_are_ignored(tmp_path: Path) -> None:
    a = _study(tmp_path / "a", {"s__kd": _record(0.95, 1.0)})
    b = _study(tmp_path / "b", {"s__kd": _record(0.95, 7.0)})
    code, lines, summary = _run(a, b)
    assert code == 0 and lines == []
    assert summary["equal"] and summary["records"] == 1 and summary["identical"] == 1


def test_a_changed_quality_and_a_missing_record_are_reported(tmp_path: Path) -> None:
    a = _study(tmp_path / "a", {"s__kd": _record(0.95, 1.0), "s__rkd": _record(0.9, 1.0)})
    b = _study(tmp_path / "b", {"s__kd": _record(0.96, 1.0)})
    code, lines, summary = _run(a, b)
    assert code == 1
    assert lines == ["s__kd: quality.retention.value: 0.95 != 0.96"]
    assert summary["only_a"] == ["s__rkd"] and summary["differences"] == 1
    assert not summary["equal"]


def test_an_absent_field_is_told_apart_from_null(tmp_path: Path) -> None:
    a = _study(tmp_path / "a", {"s__kd": {"quality": {}}})
    b = _study(tmp_path / "b", {"s__kd": {"quality": {"versus_scratch": None}}})
    code, lines, _ = _run(a, b)
    assert code == 1 and lines == ["s__kd: quality.versus_scratch: (absent) != null"]


def test_rtol_forgives_last_bit_rounding_but_not_a_real_change(tmp_path: Path) -> None:
    a = _study(tmp_path / "a", {"s__kd": _record(0.95, 1.0), "s__fitnet": _record(0.9, 1.0)})
    b = _study(
        tmp_path / "b", {"s__kd": _record(0.95 * (1 + 1e-9), 1.0), "s__fitnet": _record(0.8, 1.0)}
    )
    assert _run(a, b)[0] == 1  # exact by default
    code, lines, summary = _run(a, b, "--rtol", "1e-6")
    assert code == 1 and lines == ["s__fitnet: quality.retention.value: 0.9 != 0.8"]
    assert summary["identical"] == 1 and summary["rtol"] == 1e-6
