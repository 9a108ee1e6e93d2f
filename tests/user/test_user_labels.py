"""The issue's wrong answer, replayed: a string target (``good``/``bad``) whose alphabetical
order is not the teacher's output order ``[good, bad]``.

Before the fix, potstill sorted the labels, scored the teacher at 0.04 accuracy, reported
a 612.5 % retention and ``potstill check --min-retention 0.97`` passed. Now a label the
teacher does not know is refused naming the value, a class order that makes the teacher
worse than a trivial predictor is refused before any training, and the right order gives
the teacher the accuracy its own library gives on the named test rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import UserSystem
from cli_helpers import PY_TRACEBACK, CliRun, run_cli


def _distill(system: UserSystem, out: Path, *options: str) -> CliRun:
    argv = ["distill", "--teacher", str(system.teacher), "--data", str(system.data),
            "--target", system.target, "--trust-pickle", "--drop", "Applicant ID",
            "--sensitive", "Region", "--split-column", "Split", "--method", "kd",
            "--quick", "--out", str(out), *options]  # fmt: skip
    return run_cli(argv, out)


@pytest.fixture(scope="module")
def credit(user_systems: dict[str, UserSystem]) -> UserSystem:
    system = user_systems["credit_hgb"]
    assert system.classes == ("good", "bad") and sorted(system.classes) != list(system.classes)
    return system


def test_a_label_the_teacher_does_not_know_is_refused_naming_it(
    credit: UserSystem, tmp_path: Path
) -> None:
    # The teacher was trained on codes 0/1 (its classes_); the table says good/bad.
    run = _distill(credit, tmp_path / "out")
    assert run.code == 2, run.err[-2000:]
    assert PY_TRACEBACK not in run.err
    assert "'good'" in run.err or "'bad'" in run.err, run.err
    assert not list((tmp_path / "out").glob("records/*.json"))


def test_a_class_order_worse_than_trivial_is_refused_before_training(
    credit: UserSystem, tmp_path: Path
) -> None:
    run = _distill(credit, tmp_path / "out", "--classes", "bad,good")
    assert run.code == 2, run.err[-2000:]
    assert PY_TRACEBACK not in run.err
    assert "trivial" in run.err and "--classes" in run.err, run.err
    assert not (tmp_path / "out" / "students").exists()


@pytest.mark.slow
def test_the_teachers_order_gives_its_own_accuracy_and_an_honest_gate(
    credit: UserSystem, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert _distill(credit, out).code == 2  # the refused first try leaves nothing in the way
    run = _distill(credit, out, "--classes", "good,bad", "--positive-label", "bad")
    assert run.code in (0, 1), run.err[-3000:]  # 1: a default gate failed, said so
    kd = run.of("system")["kd"]
    assert kd["status"] == "ok", kd.get("reason")
    assert kd["teacher"]["classes"]["order"] == ["good", "bad"]
    quality = kd["quality"]
    assert quality["n_test"] == credit.n_test  # the rows the Split column names
    assert quality["teacher"]["value"] == pytest.approx(credit.library_metric, abs=1.01 / 115)
    assert 0.5 <= quality["retention"]["value"] <= 1.5
    # The text sensitive column is not a feature: ten measurements reach the teacher.
    assert kd["dataset"]["n_features"] == 10
    assert kd["dataset"]["split"]["how"] == "column"
    gate = run_cli(["check", str(out), "--min-retention", "0.97"], out)
    expected = 0 if quality["retention"]["value"] >= 0.97 else 1
    assert gate.code == expected, gate.out
    assert "612.5%" not in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_weak_teacher_distilled_anyway_is_flagged_in_record_and_report(
    credit: UserSystem, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run = _distill(credit, out, "--classes", "bad,good", "--allow-weak-teacher")
    assert run.code in (0, 1), run.err[-3000:]
    kd = run.of("system")["kd"]
    assert kd["status"] == "ok", kd.get("reason")
    assert kd["quality"]["teacher"]["value"] < 0.5  # the order the user insisted on
    codes = {w["code"] for w in kd.get("warnings") or ()}
    assert "weak_teacher" in codes
    retention = kd["quality"]["retention"]["value"]
    if not 0.5 <= retention <= 1.5:
        assert "retention_suspect" in codes
        assert "suspect" in (out / "report.md").read_text(encoding="utf-8").lower()
