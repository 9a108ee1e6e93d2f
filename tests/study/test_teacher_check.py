"""open_task_and_teacher: the teacher's class order is used, a teacher worse than trivial is
refused (unless allow_weak), and empty cells it cannot score are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from potstill.config import SystemSpec
from potstill.errors import DataError, ModelError
from potstill.study.teacher_check import open_task_and_teacher, system_warnings
from potstill.train.config import TrainConfig
from potstill.types import Task

#: Column 0 of the teacher is "good" (x1 > 0), column 1 "bad": not alphabetical.
W = np.array([[4.0, -4.0], [0.0, 0.0]])


def _csv(path: Path, n: int = 120, empty: bool = False) -> Path:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n).round(3), rng.normal(size=n).round(3)
    data = pd.DataFrame({"x1": x1, "x2": x2, "risk": np.where(x1 > 0, "good", "bad")})
    if empty:
        data.loc[[3, 50], "x1"] = np.nan
    data.to_csv(path, index=False)
    return path


def _spec(data: Path, teacher: Path, **dataset: Any) -> SystemSpec:
    allow = dataset.pop("allow_weak", False)
    return SystemSpec.model_validate({
        "name": "credit",
        "dataset": {"path": str(data), "target": "risk", **dataset},
        "teacher": {"path": str(teacher), "allow_weak": allow},
    })  # fmt: skip


def _run(spec: SystemSpec) -> tuple[Task, dict[str, Any]]:
    timings: dict[str, float] = {}
    task, _, info = open_task_and_teacher(
        spec, seed=0, train_cfg=TrainConfig(), cache_dir=None, timings=timings
    )
    assert set(timings) == {"load_s", "teacher_s"}
    return task, info


def test_the_teachers_class_order_is_used(tmp_path: Path, linear_onnx: Any) -> None:
    onnx = linear_onnx(tmp_path / "t.onnx", W, np.zeros(2), classes=["good", "bad"])
    task, info = _run(_spec(_csv(tmp_path / "d.csv"), onnx))
    assert task.class_names == ("good", "bad")
    assert info["classes"]["source"] == "teacher (onnx)" and info["check"]["teacher"] == 1.0
    assert info["check"]["better"] and not info["check"]["allowed_weak"]
    assert [w["code"] for w in system_warnings(task, info)] == ["test_rows_may_be_seen"]


def test_a_wrong_class_order_is_refused_with_the_figures(tmp_path: Path, linear_onnx: Any) -> None:
    bare = linear_onnx(tmp_path / "t.onnx", W, np.zeros(2))  # says nothing: sorted bad, good
    data = _csv(tmp_path / "d.csv")
    with pytest.raises(DataError) as info:
        _run(_spec(data, bare))
    text = str(info.value)
    assert "accuracy 0 on the 96 train+val rows" in text and "majority class" in text
    assert "class order" in text and "['bad', 'good']" in text and "--allow-weak-teacher" in text
    _, done = _run(_spec(data, bare, classes=["good", "bad"]))  # the user names the order
    assert done["classes"]["source"] == "dataset.classes" and done["check"]["better"]


def test_allow_weak_proceeds_and_is_recorded(tmp_path: Path, linear_onnx: Any) -> None:
    onnx = linear_onnx(tmp_path / "t.onnx", W, np.zeros(2), classes=["good", "bad"])
    spec = _spec(_csv(tmp_path / "d.csv"), onnx, classes=["bad", "good"], allow_weak=True)
    task, info = _run(spec)
    assert info["check"]["allowed_weak"] and not info["check"]["better"]
    codes = [w["code"] for w in system_warnings(task, info)]
    assert codes == ["weak_teacher", "test_rows_may_be_seen"]
    named = _spec(_csv(tmp_path / "d.csv"), onnx, split={"test": str(tmp_path / "d.csv")})
    assert system_warnings(*_run(named)) == []  # the user named the test rows


def test_a_label_the_teacher_does_not_know_and_a_width_mismatch(
    tmp_path: Path, linear_onnx: Any
) -> None:
    data = _csv(tmp_path / "d.csv")
    onnx = linear_onnx(tmp_path / "t.onnx", W, np.zeros(2), classes=["0", "1"])
    with pytest.raises(DataError, match=r"line \d+ of .*d.csv holds the label '(good|bad)'"):
        _run(_spec(data, onnx))
    with pytest.raises(ModelError, match=r"gives 2 score column\(s\), but the task has 3"):
        _run(_spec(data, onnx, classes=["good", "bad", "ugly"]))


def test_empty_cells_the_teacher_cannot_score_are_refused(tmp_path: Path, linear_onnx: Any) -> None:
    onnx = linear_onnx(tmp_path / "t.onnx", W, np.zeros(2), classes=["good", "bad"])
    with pytest.raises(ModelError, match=r"non-finite scores .* 2 row\(s\).*column\(s\) 'x1'"):
        _run(_spec(_csv(tmp_path / "d.csv", empty=True), onnx))


@pytest.mark.parametrize("labels", ["strings", "ints"])
def test_a_scikit_learn_teacher_maps_its_classes(tmp_path: Path, labels: str) -> None:
    import joblib
    from sklearn.linear_model import LogisticRegression

    data = pd.read_csv(_csv(tmp_path / "d.csv"))
    if labels == "ints":  # teacher trained on 0/1, the CSV says 0/1 (read as numbers)
        data["risk"] = (data["risk"] == "good").astype(int)
        data.to_csv(tmp_path / "d.csv", index=False)
    model = LogisticRegression().fit(data[["x1", "x2"]].to_numpy(np.float32), data["risk"])
    joblib.dump(model, tmp_path / "t.joblib")
    spec = SystemSpec.model_validate({
        "name": "credit", "dataset": {"path": str(tmp_path / "d.csv"), "target": "risk"},
        "teacher": {"path": str(tmp_path / "t.joblib"), "trust_pickle": True},
    })  # fmt: skip
    task, info = _run(spec)
    expected = ("bad", "good") if labels == "strings" else ("0", "1")
    assert task.class_names == expected and info["classes"]["source"] == "teacher (sklearn)"
    assert info["check"]["teacher"] > 0.95
