"""`potstill distill`: the user's own black-box teacher file and CSV, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier

from potstill.cli import main


@pytest.fixture(scope="module")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("user")
    data = load_breast_cancer(as_frame=True)
    frame = data.frame.iloc[:, [0, 1, 2, 3, 6, 7, 20, 21, 22, 27, 30]].rename(
        columns={"target": "benign"}
    )
    csv = root / "tumours.csv"
    frame.to_csv(csv, index=False)
    # The deployed teacher was trained on the raw, unscaled columns: potstill must feed it those.
    teacher = HistGradientBoostingClassifier(max_iter=60, random_state=0)
    teacher.fit(frame.drop(columns="benign").to_numpy(np.float32), frame["benign"])
    path = root / "teacher.joblib"
    joblib.dump(teacher, path)
    return csv, path


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def test_pickled_teacher_is_refused_without_opt_in(
    user_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, teacher = user_files
    code = _run(
        "distill",
        "--teacher",
        str(teacher),
        "--data",
        str(csv),
        "--target",
        "benign",
        "--out",
        str(tmp_path / "out"),
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--trust-pickle" in err and "arbitrary code" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "records").exists()


def test_distill_own_teacher_writes_student_onnx_records_report(
    user_files: tuple[Path, Path], tmp_path: Path
) -> None:
    csv, teacher = user_files
    out = tmp_path / "out"
    code = _run(
        "distill",
        "--teacher",
        str(teacher),
        "--data",
        str(csv),
        "--target",
        "benign",
        "--method",
        "kd",
        "--method",
        "fitnet",
        "--trust-pickle",
        "--quick",
        "--out",
        str(out),
    )
    assert code == 0
    records = {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}
    assert set(records) == {"system__scratch", "system__kd", "system__fitnet"}
    assert records["system__fitnet"]["status"] == "not_applicable"  # a black box has no features
    kd = records["system__kd"]
    assert kd["status"] == "ok" and kd["teacher"]["backend"] == "sklearn"
    # Fed the raw columns it was trained on, the teacher is accurate on held-out rows.
    assert kd["quality"]["teacher"]["value"] > 0.85
    assert kd["quality"]["retention"]["value"] > 0.8
    # Sized from the teacher's trees (--width 0.25 by default), and timed as it is deployed.
    sizing = kd["student"]["sizing"]
    assert sizing["teacher"]["unit"] == "learned tree numbers"
    assert kd["student"]["params"] <= 0.25 * sizing["teacher"]["count"]
    assert kd["costs"]["extra"]["waterfall"][0]["step"] == "teacher (scikit-learn)"
    student = out / "students" / "system" / "kd"
    assert (student / "model.json").is_file() and (student / "model.safetensors").is_file()
    assert json.loads((student / "model.json").read_text())["spec"]["standardize_inputs"] is True
    assert list((out / "exports" / "system").glob("*kd*.onnx"))
    assert (out / "report.md").is_file()
    frame = pd.read_csv(out / "results.csv")
    assert len(frame) == 3


def test_no_applicable_method_exits_2_with_every_reason(
    user_files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv, teacher = user_files
    out = tmp_path / "out"
    code = _run(
        "distill", "--teacher", str(teacher), "--data", str(csv), "--target", "benign",
        "--method", "fitnet", "--method", "rkd", "--trust-pickle", "--quick", "--out", str(out),
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "None of the requested methods applies to this sklearn teacher" in err
    assert "  - fitnet: " in err and "  - rkd: " in err  # every not_applicable reason
    # … and why a HistGradientBoosting teacher has nothing for them: its leaves cannot be read
    assert "HistGradientBoostingClassifier teacher has no hidden representation" in err
    assert "has no 'apply' method" in err and "kd, dkd, dist" in err
    assert not (out / "records").exists()  # refused before any student was trained
