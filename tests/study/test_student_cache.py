"""Trained students reused by a second study, and trained again when anything they depend
on changes (data, training config, method, seed, teacher, initial weights)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from potstill.config import load_fleet
from potstill.evaluate import EvalConfig
from potstill.methods import MethodSpec
from potstill.models import MLP
from potstill.runner import run_study
from potstill.study.eval_cache import evaluation_key, rows_digest
from potstill.study.student_cache import student_key
from potstill.train.config import TrainConfig
from potstill.types import DatasetInfo, Split, Task


def _task(shift: float = 0.0) -> Task:
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(30, 4)) + shift).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return Task(
        name="t", sector="other", kind="tabular", problem="classification",
        train=Split(X[:20], y[:20]), val=Split(X[20:25], y[20:25]), test=Split(X[25:], y[25:]),
        metric="accuracy", n_classes=2, info=DatasetInfo("t", "generated", "n/a"),
    )  # fmt: skip


def _student(seed: int = 0) -> MLP:
    torch.manual_seed(seed)
    return MLP(4, [8], 2)


def _key(**change: Any) -> str:
    args: dict[str, Any] = {
        "teacher": "teacher-digest",
        "task": _task(),
        "specs": [MethodSpec(name="kd")],
        "config": TrainConfig(epochs=3),
        "seed": 0,
        "student": _student(),
    }
    args.update(change)
    return student_key(**args)


@pytest.mark.parametrize(
    "change",
    [
        {"teacher": "another-teacher"},
        {"task": _task(shift=0.5)},
        {"specs": [MethodSpec(name="kd", params={"temperature": 2.0})]},
        {"specs": [MethodSpec(name="dkd")]},
        {"config": TrainConfig(epochs=4)},
        {"config": TrainConfig(epochs=3, lr=1e-3)},
        {"seed": 1},
        {"student": _student(seed=1)},
        {"student": MLP(4, [9], 2)},
    ],
    ids=lambda c: next(iter(c)),
)
def test_the_key_changes_with_everything_that_shapes_the_student(change: dict[str, Any]) -> None:
    assert _key() == _key()  # stable for the same inputs
    assert _key(**change) != _key()


def _evaluation_key(student: str, task: Task, config: EvalConfig) -> str:
    return evaluation_key(student, rows_digest(task), task, config)


def test_the_evaluation_key_changes_with_the_rows_and_settings_it_reads() -> None:
    base = _evaluation_key("student", _task(), EvalConfig())
    assert base == _evaluation_key("student", _task(), EvalConfig())
    assert base != _evaluation_key("another-student", _task(), EvalConfig())
    assert base != _evaluation_key("student", _task(shift=0.5), EvalConfig())
    assert base != _evaluation_key("student", _task(), EvalConfig(n_resamples=77))


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def _weights(out: Path) -> dict[str, bytes]:
    return {p.parent.name: p.read_bytes() for p in (out / "students").rglob("model.safetensors")}


def test_a_second_study_reuses_students_until_the_data_or_config_changes(
    user_files: dict[str, Path],
    fleet_yaml: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POTSTILL_REUSE_STUDENTS", "1")
    cache = tmp_path / "cache"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(user_files, {"alpha": "good"}))
    run_study(load_fleet(fleet), tmp_path / "first", cache_dir=cache, report=False)
    first = _records(tmp_path / "first")
    assert all("student_cache" not in r["student"] for r in first.values())

    run_study(load_fleet(fleet), tmp_path / "second", cache_dir=cache, report=False)
    second = _records(tmp_path / "second")
    assert {r["student"].get("student_cache") for r in second.values()} == {"hit"}
    assert _weights(tmp_path / "second") == _weights(tmp_path / "first")
    assert {r["student"].get("evaluation_cache") for r in second.values()} == {"hit"}
    for name, record in second.items():  # the kept evaluation is the one measured first
        assert record["quality"] == first[name]["quality"]
        assert record["costs"] is not None  # costs are measured again, never reused

    rescored = fleet_yaml(
        user_files, {"alpha": "good"}, evaluate={"n_resamples": 30, "robustness": False}
    )
    fleet.write_text(rescored)
    run_study(load_fleet(fleet), tmp_path / "rescored", cache_dir=cache, report=False)
    third = _records(tmp_path / "rescored")
    assert {r["student"].get("student_cache") for r in third.values()} == {"hit"}
    assert all("evaluation_cache" not in r["student"] for r in third.values())

    slower = fleet_yaml(user_files, {"alpha": "good"}, train={"epochs": 2, "batch_size": 64})
    fleet.write_text(slower)
    run_study(load_fleet(fleet), tmp_path / "config", cache_dir=cache, report=False)
    assert all("student_cache" not in r["student"] for r in _records(tmp_path / "config").values())

    rows = pd.read_csv(user_files["csv"]).iloc[:-25]  # the same columns, fewer rows
    edited = {**user_files, "csv": tmp_path / "tumours.csv"}
    rows.to_csv(edited["csv"], index=False)
    fleet.write_text(fleet_yaml(edited, {"alpha": "good"}))
    run_study(load_fleet(fleet), tmp_path / "data", cache_dir=cache, report=False)
    assert all("student_cache" not in r["student"] for r in _records(tmp_path / "data").values())


def test_reuse_can_be_turned_off(
    user_files: dict[str, Path], fleet_yaml: Callable[..., str], tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(user_files, {"alpha": "good"}))
    run_study(load_fleet(fleet), tmp_path / "out", cache_dir=tmp_path / "cache", report=False)
    assert not (tmp_path / "cache" / "students").exists()  # POTSTILL_REUSE_STUDENTS=0 here
