"""`potstill distill` with the options that name the classes, the test rows, the dropped
columns and the event class; empty cells reach an ONNX teacher with its own imputer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from potstill.cli import main

skl2onnx = pytest.importorskip("skl2onnx")
ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("split")
    rng = np.random.default_rng(0)
    n = 240
    X = rng.normal(size=(n, 2)).astype(np.float32)
    risk = np.where(X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0, "good", "bad")
    teacher = make_pipeline(SimpleImputer(), LogisticRegression()).fit(X, risk)
    onnx_path = root / "teacher.onnx"
    onnx_path.write_bytes(skl2onnx.to_onnx(teacher, X[:1]).SerializeToString())
    data = pd.DataFrame({"id": np.arange(n), "x1": X[:, 0].round(4), "x2": X[:, 1].round(4),
                         "sex": np.where(np.arange(n) % 2, "f", "m"), "risk": risk,
                         "part": ["train"] * 150 + ["val"] * 40 + ["test"] * 50})  # fmt: skip
    data.loc[[4, 77, 160, 200], "x2"] = np.nan  # the teacher's imputer fills them
    data.to_csv(root / "data.csv", index=False)
    data.iloc[190:].drop(columns="part").to_csv(root / "test.csv", index=False)
    odd = data.copy()
    odd.loc[9, "risk"] = "unknown"
    odd.to_csv(root / "odd.csv", index=False)
    return {"teacher": onnx_path, "data": root / "data.csv", "test": root / "test.csv",
            "odd": root / "odd.csv"}  # fmt: skip


def _run(files: dict[str, Path], out: Path, *extra: str, data: str = "data") -> int:
    args = ["distill", "--teacher", str(files["teacher"]), "--data", str(files[data]),
            "--target", "risk", "--out", str(out), "--sensitive", "sex", "--drop", "id", *extra]  # fmt: skip
    with pytest.raises(SystemExit) as info:
        main(args)
    return int(info.value.code or 0)


def test_split_column_drop_positive_label_and_empty_cells_end_to_end(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    # The teacher (imputer + logistic regression on 2 columns) has 8 learned values; the
    # smallest student has more, so it is accepted only when asked, with a warning.
    code = _run(files, out, "--split-column", "part", "--drop", "part", "--positive-label",
                "good", "--quick", "--allow-larger")  # fmt: skip
    assert code == 0
    kd = json.loads((out / "records" / "system__kd.json").read_text())
    sizing = kd["student"]["sizing"]
    assert sizing["teacher"]["count"] == 8 and "--allow-larger" not in sizing["warning"]
    assert "accepted because student.allow_larger is true" in sizing["warning"]
    assert kd["status"] == "ok" and kd["teacher"]["backend"] == "onnx"
    split = kd["dataset"]["split"]
    assert split["how"] == "column" and split["rows"] == {"train": 150, "val": 40, "test": 50}
    assert sum(split["imputed_cells"].values()) == 4
    assert kd["teacher"]["classes"] == {"teacher_labels": ["bad", "good"], "order": ["bad", "good"],
                                        "source": "teacher (onnx)"}  # fmt: skip
    assert kd["teacher"]["rows_with_empty_cells"] == 4 and kd["teacher"]["check"]["better"]
    assert kd["quality"]["teacher"]["value"] > 0.8 and kd["warnings"] == []
    spec = json.loads((out / "students" / "system" / "kd" / "model.json").read_text())["spec"]
    assert spec["impute_inputs"] is True and spec["in_features"] == 2  # id, part, sex dropped
    exported = sorted((out / "exports" / "system").glob("*kd*.onnx"))[0]
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    row = np.array([[0.3, np.nan]], dtype=np.float32)
    assert np.isfinite(session.run(None, {session.get_inputs()[0].name: row})[0]).all()
    assert (
        "by the values of column 'part'; train/val/test 150/40/50"
        in (out / "report.md").read_text()
    )


@pytest.mark.parametrize(
    ("extra", "data", "phrase"),
    [
        (["--classes", "good,bad"], "data", "no better than a trivial predictor"),
        (["--classes", "good"], "data", "--classes must name at least 2 classes"),
        ([], "odd", "line 11 of"),
        (["--split-column", "x1"], "data", "must hold train, val or test in every row"),
        (["--test-data", "missing.csv"], "data", "dataset.split.test: file not found"),
        (["--test-data", "test.csv", "--split-column", "part"], "data", "at most one of"),
        (["--positive-label", "maybe"], "data", "positive_label 'maybe' is not a class"),
        (["--split-column", "part"], "data", "more than its teacher's 8 parameters"),
    ],
)
def test_refusals_name_the_cause_before_training(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    extra: list[str], data: str, phrase: str,
) -> None:  # fmt: skip
    extra = [str(files["test"]) if e == "test.csv" else e for e in extra]
    code = _run(files, tmp_path / "out", "--drop", "part", *extra, "--quick", data=data)
    err = capsys.readouterr().err
    assert code == 2 and phrase in " ".join(err.split()) and "Traceback" not in err
    assert not (tmp_path / "out" / "students").exists()


def test_test_data_with_allow_weak_teacher_is_recorded(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    code = _run(files, out, "--drop", "part", "--test-data", str(files["test"]), "--classes",
                "good,bad", "--allow-weak-teacher", "--method", "kd", "--quick",
                "--allow-larger")  # fmt: skip
    assert code == 0
    kd = json.loads((out / "records" / "system__kd.json").read_text())
    assert kd["dataset"]["split"]["how"] == "test_file"
    assert kd["dataset"]["split"]["rows"]["test"] == 50
    assert kd["teacher"]["check"]["allowed_weak"] is True
    codes = {w["code"] for w in kd["warnings"]}
    assert "weak_teacher" in codes and "test_rows_may_be_seen" not in codes
    report = (out / "report.md").read_text()
    assert "distilled anyway" in report
    records = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    suspects = [not 0.5 <= r["quality"]["retention"]["value"] <= 1.5 for r in records]
    for record, suspect in zip(records, suspects, strict=True):
        assert ("retention_suspect" in {w["code"] for w in record["warnings"]}) == suspect
    # the from-scratch student, trained on labels, is far better than the swapped teacher
    assert any(suspects) and "⚠ suspect" in report
