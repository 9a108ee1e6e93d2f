"""Issue 10, end to end: every common teacher format a user brings, with the user's own table,
through ``potstill study`` (one fleet) and ``potstill distill`` (one system each).

What must hold for every teacher: the command exits 0 without a traceback; the teacher's
metric is the one its own library gives on the same test rows (so the class order and the
test rows are right); the student keeps a sane share of it, is not larger than the teacher,
and is priced like for like (each waterfall step names its runtime; the headline compares
the cheapest deployments); feature and relation methods run where the teacher exposes
hidden layers or a representation.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from builders import UserSystem
from builders_media import TEXT_MAX_LENGTH
from cli_helpers import BUILDERS, PY_TRACEBACK, CliRun, run_cli

from potstill.evaluate.sanity import is_suspect

NAMES = list(BUILDERS)

#: Every test here runs the fleet study (about 90 s on two cores) or a distil run.
pytestmark = pytest.mark.slow


def _ok(records: dict[str, dict[str, Any]], method: str) -> dict[str, Any]:
    assert method in records, f"no '{method}' record; records: {sorted(records)}"
    record = records[method]
    assert record["status"] == "ok", f"{record['system']}/{method}: {record.get('reason')}"
    return record


def assert_teacher_scored_like_its_library(record: dict[str, Any], system: UserSystem) -> None:
    quality = record["quality"]
    assert quality["metric"] == system.metric
    assert quality["n_test"] == system.n_test, "potstill did not test on the rows the user named"
    value = quality["teacher"]["value"]
    if system.metric == "accuracy":
        # Same rows, same model: equal up to one row decided by a float32 tie.
        assert value == pytest.approx(system.library_metric, abs=1.01 / system.n_test), (
            f"teacher accuracy {value:.3f} but its own library scores {system.library_metric:.3f}"
        )
    else:
        assert value == pytest.approx(system.library_metric, rel=1e-3)


def assert_student_not_larger(record: dict[str, Any], system: UserSystem) -> None:
    if system.teacher_params is not None:
        assert record["student"]["params"] <= system.teacher_params, (
            f"student {record['student']['params']} params > teacher {system.teacher_params}"
        )


def assert_sane_student(record: dict[str, Any], system: UserSystem) -> None:
    retention = record["quality"]["retention"]
    assert 0.5 <= retention["value"] <= 1.5, f"retention {retention['value']}"
    assert retention["low"] <= retention["value"] <= retention["high"]
    assert_student_not_larger(record, system)


def assert_flagged_if_insane(record: dict[str, Any], system: UserSystem) -> None:
    """A short (--quick) training may leave a student far from its teacher: then the record
    must say its retention is suspect."""
    assert_student_not_larger(record, system)
    value = record["quality"]["retention"]["value"]
    if not 0.5 <= value <= 1.5:
        codes = {w.get("code") for w in record.get("warnings") or ()}
        assert "retention_suspect" in codes, f"retention {value} not flagged: {codes}"


def _steps(record: dict[str, Any]) -> list[dict[str, Any]]:
    steps = record["costs"]["extra"]["waterfall"]
    assert steps, "no waterfall"
    return [s for s in steps if s.get("measured")]


def _cheapest(deployments: list[dict[str, Any]]) -> dict[str, Any]:
    counted = [d for d in deployments if d.get("counted", True) and d.get("status") != "failed"]
    assert counted, f"no counted deployment among {deployments}"
    return min(counted, key=lambda d: d["usd_per_million"])


def assert_like_for_like_costs(record: dict[str, Any], system: UserSystem) -> None:
    """Every waterfall step names its runtime; an ONNX teacher is timed on ONNX Runtime; the
    headline compares the teacher's cheapest deployment with the student's cheapest."""
    steps = _steps(record)
    for step in steps:
        assert step.get("runtime"), f"waterfall step {step['step']!r} names no runtime"
    assert str(steps[0].get("model", "")).startswith("teacher"), steps[0]
    if system.teacher.suffix == ".onnx":  # an ONNX teacher runs on ONNX Runtime, not eager
        assert steps[0]["runtime"] in ("onnx", "native") and "eager" not in steps[0]["step"]
    costs, extra = record["costs"], record["costs"]["extra"]
    teacher = extra.get("teacher_deployments") or [steps[0]]
    student = extra.get("student_deployments") or steps[1:]
    t_runtimes = {d["runtime"] for d in teacher}
    if t_runtimes != {"native"}:  # a teacher that converts: only runtimes it was measured on
        student = [d for d in student if d["runtime"] in t_runtimes]
    t_best, s_best = _cheapest(teacher), _cheapest(student)
    assert costs["teacher_usd_per_million"] == pytest.approx(t_best["usd_per_million"])
    assert costs["usd_per_million"] == pytest.approx(s_best["usd_per_million"])
    assert costs["reduction"] == pytest.approx(
        1 - s_best["usd_per_million"] / t_best["usd_per_million"]
    )


def assert_methods_apply(records: dict[str, dict[str, Any]], system: UserSystem) -> None:
    for method, expected in (("fitnet", system.hidden), ("rkd", system.relation)):
        if method not in records:
            continue
        record = records[method]
        if expected:
            assert record["status"] == "ok", f"{system.name}/{method}: {record.get('reason')}"
        else:
            assert record["status"] in ("ok", "not_applicable"), record.get("reason")
            assert record["status"] == "ok" or record["reason"]


# ---------------------------------------------------------------------- potstill study


def test_study_of_every_user_teacher_exits_0_and_writes_the_report(fleet_study: CliRun) -> None:
    assert fleet_study.code == 0, fleet_study.err[-3000:]
    assert PY_TRACEBACK not in fleet_study.err
    for name in ("report.md", "report.html", "results.csv"):
        assert (fleet_study.folder / name).is_file(), name
    systems = {r["system"] for r in fleet_study.records.values()}
    assert systems == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_study_scores_each_teacher_like_its_own_library(
    name: str, fleet_study: CliRun, user_systems: dict[str, UserSystem]
) -> None:
    system, records = user_systems[name], fleet_study.of(name)
    kd = _ok(records, "kd")
    assert_teacher_scored_like_its_library(kd, system)
    assert_sane_student(kd, system)
    assert_like_for_like_costs(kd, system)
    assert_methods_apply(records, system)
    if system.classes:  # the record keeps the teacher's class order, not the sorted one
        assert kd["teacher"]["classes"]["order"] == list(system.classes)
    if "text_column" in system.dataset:  # texts cut at the length the teacher was trained at
        assert kd["teacher"]["max_length"]["tokens"] == TEXT_MAX_LENGTH


def test_study_report_names_the_split_and_keeps_regression_apart(fleet_study: CliRun) -> None:
    report = (fleet_study.folder / "report.md").read_text(encoding="utf-8")
    assert "split" in report.lower() and "Split" in report  # how the rows were split: the column
    assert "612.5%" not in report
    # The accuracy retention counts the classification students only (never a regression's),
    # and leaves out the suspect retentions, saying how many.
    classified = [
        r
        for r in fleet_study.records.values()
        if r["status"] == "ok" and r["family"] != "baseline" and r["problem"] == "classification"
    ]
    suspect = [r for r in classified if is_suspect(r)]
    pooled = re.search(r"median accuracy retention[^(]*(?:\([^)]*\))?[^(]*\(n=(\d+)\)", report)
    assert pooled is not None, "the summary gives no accuracy retention with its n"
    assert int(pooled.group(1)) == len(classified) - len(suspect)
    distilled = [
        r for r in fleet_study.records.values() if r["status"] == "ok" and r["family"] != "baseline"
    ]
    left_out = sum(is_suspect(r) for r in distilled)
    if left_out:
        phrase = f"Left out of every retention figure: {left_out} suspect retention"
        assert phrase in " ".join(report.split())


# ---------------------------------------------------------------------- potstill distill


def _distill_methods(system: UserSystem) -> list[str]:
    """KD, plus one method of the family the teacher now opens (the study runs all three)."""
    extra = ["fitnet"] if system.hidden else ["rkd"] if system.relation else []
    return ["kd", *extra]


#: credit_hgb goes through `distill` in test_user_labels.py (its string-target story).
DISTILLED = [n for n in NAMES if n != "credit_hgb"]


@pytest.mark.parametrize("name", DISTILLED)
def test_distill_each_user_teacher(
    name: str, user_systems: dict[str, UserSystem], tmp_path: Path, _cache: Path
) -> None:
    system = user_systems[name]
    out = tmp_path / "out"
    argv = system.distill_argv(out, _distill_methods(system))
    run = run_cli([*argv, "--quick"], out)
    assert run.code == 0, run.err[-3000:]
    assert PY_TRACEBACK not in run.err
    records = run.of("system")
    kd = _ok(records, "kd")
    assert_teacher_scored_like_its_library(kd, system)
    assert_flagged_if_insane(kd, system)  # the study above checks trained students' retention
    assert_methods_apply(records, system)
    assert (out / "report.md").is_file()
    assert not math.isnan(kd["costs"]["reduction"])
