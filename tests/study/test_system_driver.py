"""Unit tests of the per-system driver (:func:`potstill.study.system.run_system`) with a
fake teacher and task: its collaborators (data and teacher, training loop, evaluation,
benchmark) are replaced, so what is checked is the driver's own decisions — which cells
train, how a failing cell is recorded, which settings each step receives, and in what
order the system's marker and its students are written."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch

import potstill.study.system as system_mod
from potstill.config import FleetConfig
from potstill.events import Event, StageFinished
from potstill.study.context import SystemContext
from potstill.study.records import Cell
from potstill.study.resume import MARKER
from potstill.types import Split, Task


def _task() -> Task:
    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        return Split(rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n))

    return Task("unit", "finance", "tabular", "classification", split(40), split(10), split(20),
                "accuracy", 2)  # fmt: skip


def _teacher() -> Any:
    """Only what the driver asks of a teacher before training: logits, no hidden layers."""
    return SimpleNamespace(
        capabilities=frozenset({"logits"}),
        hidden_layer_names=lambda: [],
        predict_scores=lambda X: np.full((len(X), 2), 0.5, np.float32),
        backend="fake",
        engine=SimpleNamespace(missing_note=lambda: None),
    )


class Recorder:
    """The fakes' memory: settings each step received, the order things happened."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.calls: list[tuple[str, Any]] = []
        self.events: list[Event] = []


@pytest.fixture
def driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Recorder:
    rec = Recorder(tmp_path)

    def open_task(spec: Any, *, seed: int, train_cfg: Any, **_: Any) -> Any:
        rec.calls.append(("open", (seed, train_cfg)))
        return _task(), _teacher(), {}

    def training(out: Any, cache_dir: Any, cache_mb: float, *_: Any) -> Any:
        rec.calls.append(("cache_in_memory_mb", cache_mb))
        return SimpleNamespace(
            size=None, students=None, teacher_digest=None, outputs=None, evaluations=None
        )

    def train(student: Any, task: Task, *, config: Any, description: str, **_: Any) -> Any:
        marker = rec.out / "students" / "unit" / MARKER
        rec.calls.append(("train", (description, config, marker.is_file())))
        if description.endswith("/boom"):
            raise RuntimeError("the loss went to NaN")
        return SimpleNamespace(epochs_run=1, best_val=0.5, seconds=0.1, seconds_per_epoch=0.1,
                               history=[])  # fmt: skip

    def evaluate(task: Task, teacher: Any, predictor: Any, config: Any, **_: Any) -> Any:
        rec.calls.append(("evaluate", config))
        return SimpleNamespace(teacher=SimpleNamespace(value=0.5), higher_is_better=True)

    def write(plan: Any, ctx: Any, task: Task, teacher: Any, info: Any, cells: list[Cell],
              qualities: Any, *_: Any) -> list[Any]:  # fmt: skip
        rec.calls.append(("write", (plan, {c.entry.label: c for c in cells}, dict(qualities))))
        return []

    m = system_mod
    monkeypatch.setattr(m, "open_task_and_teacher", open_task)
    monkeypatch.setattr(m, "system_training", training)
    monkeypatch.setattr(m, "_teacher_size", lambda *a: None)
    monkeypatch.setattr(m, "_make_student", lambda *a: (torch.nn.Linear(4, 2), {}))
    monkeypatch.setattr(m, "train", train)
    monkeypatch.setattr(m, "save_model", lambda module, folder, **_: None)
    monkeypatch.setattr(m, "evaluate_pair", evaluate)
    monkeypatch.setattr(m, "student_test_scores", lambda *a: np.zeros((20, 2)))
    monkeypatch.setattr(m, "save_test_scores", lambda *a, **k: None)
    monkeypatch.setattr(m, "with_versus_scratch", lambda q, *a: q)
    monkeypatch.setattr(m, "write_records", write)
    return rec


def _run(rec: Recorder, **system: Any) -> tuple[FleetConfig, list[tuple[str, Any]]]:
    fleet = FleetConfig.model_validate(
        {
            "seed": 3,
            "grid": ["scratch", "kd", {"label": "boom", "methods": [{"name": "kd"}]}, "fitnet"],
            "train": {"epochs": 2, "cache_in_memory_mb": 64},
            "evaluate": {"n_resamples": 20},
            "systems": [{"name": "unit", "dataset": {"builtin": "credit_scoring"}, **system}],
        }
    )
    ctx = SystemContext(fleet=fleet, out=rec.out, config_hash="c", environment={},
                        events=rec.events.append, system_hashes={"unit": "h"})  # fmt: skip
    system_mod.run_system(fleet.systems[0], ctx)
    return fleet, rec.calls


def _calls(calls: list[tuple[str, Any]], name: str) -> list[Any]:
    return [value for what, value in calls if what == name]


def test_a_failing_cell_is_failed_and_the_others_carry_on(driver: Recorder) -> None:
    _, calls = _run(driver)
    trained = [d for d, _, _ in _calls(calls, "train")]
    assert trained == ["unit/scratch", "unit/kd", "unit/boom"]  # fitnet never trains
    ((_, cells, qualities),) = _calls(calls, "write")
    assert cells["boom"].status == "failed" and "NaN" in cells["boom"].reason
    assert (
        cells["boom"].error is not None and cells["boom"].error["type"] == "builtins.RuntimeError"
    )
    assert cells["boom"].student is None
    assert [cells[k].status for k in ("scratch", "kd")] == ["ok", "ok"]
    assert sorted(qualities) == ["kd", "scratch"]  # the failed cell is not evaluated


def test_a_cell_that_does_not_apply_is_skipped_with_its_reason(driver: Recorder) -> None:
    _, calls = _run(driver)
    ((_, cells, _),) = _calls(calls, "write")
    assert cells["fitnet"].status == "not_applicable"
    assert "hidden" in cells["fitnet"].reason
    skipped = [e for e in driver.events if isinstance(e, StageFinished) and e.status == "skipped"]
    assert [(e.stage, e.item, e.note) for e in skipped] == [
        ("train", "fitnet", cells["fitnet"].reason)
    ]


def test_the_marker_is_written_before_any_student_trains(driver: Recorder) -> None:
    _, calls = _run(driver)
    assert [marker_there for _, _, marker_there in _calls(calls, "train")] == [True] * 3


_OWN: dict[str, Any] = {
    "train": {"epochs": 1, "cache_in_memory_mb": 0},
    "evaluate": {"n_resamples": 40},
    "grid": ["kd"],
    "gates": {"min_retention": 0.8},
    "bench": {"threads": 2},
}


@pytest.mark.parametrize("field", sorted(_OWN))
def test_each_step_receives_the_systems_own_settings(driver: Recorder, field: str) -> None:
    fleet, calls = _run(driver, **{field: _OWN[field]})
    own = getattr(fleet.systems[0], field)
    ((plan, cells, _),) = _calls(calls, "write")
    if field == "train":
        assert _calls(calls, "cache_in_memory_mb") == [0]  # not the fleet's 64
        assert {id(cfg) for _, cfg, _ in _calls(calls, "train")} == {id(own)}
        assert _calls(calls, "open") == [(3, own)]
    elif field == "evaluate":
        assert all(cfg is own for cfg in _calls(calls, "evaluate"))
    elif field == "grid":
        assert list(cells) == ["kd"]
    else:  # gates and bench are applied by write_records, from the plan it is given
        assert getattr(plan, field) is own and getattr(fleet, field) != own
