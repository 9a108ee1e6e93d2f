"""check_study on a hand-written study directory, including the exit decision."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from potstill.errors import ConfigError, StoreError
from potstill.evaluate import GatesConfig
from potstill.results import check_study


def est(value: float | None, low: float | None = None, high: float | None = None) -> dict:
    return {"value": value, "low": low, "high": high, "n": 500, "level": 0.95}


def record(
    system: str,
    method: str,
    *,
    retention: float = 0.99,
    ece: float = 0.03,
    status: str = "ok",
    family: str = "response",
    gap: float | None = None,
) -> dict:
    quality: dict[str, Any] = {
        "metric": "accuracy",
        "higher_is_better": True,
        "teacher": est(0.9),
        "student": est(0.9 * retention),
        "retention": est(retention, retention - 0.02, retention + 0.01),
        "difference": est(0.9 * retention - 0.9),
        "n_test": 500,
        "secondary": {},
        "fidelity": {"agreement": est(0.97)},
        "calibration": {"n_bins": 15, "teacher_ece": 0.02, "student_ece": ece},
        "fairness": None if gap is None else {"attribute": "sex", "gap_increase": gap},
        "robustness": None,
    }
    return {
        "schema_version": 1,
        "system": system,
        "method": method,
        "family": family,
        "status": status,
        "reason": "" if status == "ok" else "out of memory",
        "quality": quality if status == "ok" else None,
    }


def write_study(root: Path, records: list[dict], config: str | None = None) -> Path:
    (root / "records").mkdir(parents=True)
    for rec in records:
        (root / "records" / f"{rec['system']}__{rec['method']}.json").write_text(json.dumps(rec))
    if config is not None:
        (root / "config.yaml").write_text(config)
    return root


GATES_YAML = "name: fleet\ngates:\n  min_retention: 0.97\n  max_ece: 0.05\n"


def test_all_pass_from_config_gates(tmp_path: Path) -> None:
    study = write_study(tmp_path, [record("credit", "kd"), record("heart", "dkd")], GATES_YAML)
    report = check_study(study)
    assert report.passed is True
    assert report.gates == GatesConfig(min_retention=0.97, max_ece=0.05)
    assert [(r.system, r.method, r.gate) for r in report.rows] == [
        ("credit", "kd", "min_retention"),
        ("credit", "kd", "max_ece"),
        ("heart", "dkd", "min_retention"),
        ("heart", "dkd", "max_ece"),
    ]
    assert "PASSED: 2 of 2 distilled students passed every gate." in report.render()


def test_one_failing_gate_fails_the_check(tmp_path: Path) -> None:
    study = write_study(
        tmp_path, [record("credit", "kd", retention=0.95), record("heart", "dkd")], GATES_YAML
    )
    report = check_study(study)
    assert report.passed is False  # the CLI exits 1
    (failure,) = report.failures
    assert (failure.system, failure.gate, failure.value, failure.threshold) == (
        "credit",
        "min_retention",
        0.95,
        0.97,
    )
    assert failure.reason.startswith("retention 0.95 < 0.97")
    text = report.render()
    assert "FAIL" in text and "FAILED: 1 of 2 distilled students passed every gate." in text
    assert report.summary()["min_retention"]["response"] == {
        "passed": 1,
        "total": 2,
        "not_measured": 0,
    }


def test_overrides_take_precedence(tmp_path: Path) -> None:
    study = write_study(tmp_path, [record("credit", "kd", retention=0.95)], GATES_YAML)
    report = check_study(study, GatesConfig(min_retention=0.9))
    assert report.passed is True
    assert report.gates == GatesConfig(min_retention=0.9, max_ece=0.05)
    strict = check_study(study, GatesConfig(max_ece=0.01))
    assert [r.passed for r in strict.rows] == [False, False]


def test_without_config_file_overrides_alone(tmp_path: Path) -> None:
    study = write_study(tmp_path, [record("credit", "kd", gap=0.03)])
    report = check_study(study, GatesConfig(max_fairness_gap_increase=0.02))
    assert not report.passed
    unmeasured = write_study(tmp_path / "b", [record("credit", "kd")])
    report = check_study(unmeasured, GatesConfig(max_fairness_gap_increase=0.02))
    assert report.passed and report.rows[0].reason.startswith("not measured: ")


def test_not_measured_is_shown_as_such_and_fails_under_strict(tmp_path: Path) -> None:
    study = write_study(tmp_path, [record("credit", "kd")])  # no sensitive attribute
    lenient = check_study(study, GatesConfig(max_fairness_gap_increase=0.02))
    (row,) = lenient.rows
    assert row.outcome == "not measured" and row.passed is False and row.value is None
    text = lenient.render()
    assert "NOT MEASURED" in text and "PASS " not in text
    assert "1 gate(s) not measured (they fail under --strict)" in text
    strict = check_study(study, GatesConfig(max_fairness_gap_increase=0.02, strict=True))
    assert not strict.passed and strict.rows[0].outcome == "fail"
    assert "gates.strict is on" in strict.rows[0].reason
    # gates.strict in the study's own config.yaml does the same
    yaml_strict = write_study(
        tmp_path / "y",
        [record("credit", "kd")],
        "gates: {max_ece: 0.05, max_fairness_gap_increase: 0.02, strict: true}\n",
    )
    assert not check_study(yaml_strict).passed
    assert check_study(yaml_strict).gates.strict is True


def test_scratch_baselines_are_apart_and_never_count_as_students(tmp_path: Path) -> None:
    records = [
        record("credit", "scratch", family="baseline", retention=0.90),
        record("credit", "kd"),
    ]
    report = check_study(write_study(tmp_path, records, GATES_YAML))
    assert report.passed  # the failing baseline is the control, not a student
    text = report.render()
    assert "PASSED: 1 of 1 distilled students passed every gate." in text
    assert text.index("from-scratch baselines") < text.index("credit  scratch")


def test_all_distilled_cells_failed_is_not_a_pass(tmp_path: Path) -> None:
    records = [
        record("credit", "scratch", family="baseline"),
        record("credit", "kd", status="failed"),
        record("credit", "fitnet", status="not_applicable", family="feature"),
    ]
    report = check_study(write_study(tmp_path, records, GATES_YAML))
    assert report.passed is False and not report.failures
    assert "FAILED: no distilled student was measured" in report.render()
    assert "PASSED" not in report.render()


def test_failed_records_are_skipped_not_gated(tmp_path: Path) -> None:
    study = write_study(
        tmp_path, [record("credit", "kd"), record("credit", "crd", status="failed")], GATES_YAML
    )
    report = check_study(study)
    assert report.passed
    assert [(s.method, s.status) for s in report.skipped] == [("crd", "failed")]
    assert "skipped credit/crd: status failed (out of memory)" in report.render()


def test_nothing_to_gate_does_not_pass(tmp_path: Path) -> None:
    study = write_study(tmp_path, [record("credit", "crd", status="not_applicable")], GATES_YAML)
    report = check_study(study)
    assert report.rows == () and report.passed is False
    assert "no distilled student with status 'ok' to check" in report.render()


def test_ok_record_without_quality_fails(tmp_path: Path) -> None:
    rec = record("credit", "kd")
    rec["quality"] = None
    report = check_study(write_study(tmp_path, [rec], GATES_YAML))
    assert not report.passed and report.rows[0].gate == "quality"


def test_no_gates_anywhere_is_a_config_error(tmp_path: Path) -> None:
    study = write_study(tmp_path, [record("credit", "kd")], "name: fleet\n")
    with pytest.raises(ConfigError, match=r"No gates to check.*--min-retention"):
        check_study(study)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("gates: [0.97]\n", r"key 'gates' of .*config.yaml must be a mapping"),
        ("gates:\n  min_retension: 0.97\n", r"Invalid 'gates' of .*: min_retension: Extra inputs"),
        (
            "gates:\n  min_retention: -2\n",
            r"Invalid 'gates' of .*config.yaml: The 'min_retention' "
            r"parameter of GatesConfig must be > 0. Got -2",
        ),
        ("gates: {min_retention: 0.9\n", r"config.yaml is not valid YAML"),
    ],
)
def test_malformed_config_is_refused(tmp_path: Path, yaml_text: str, message: str) -> None:
    study = write_study(tmp_path, [record("credit", "kd")], yaml_text)
    with pytest.raises(ConfigError, match=message):
        check_study(study)


def test_missing_directory_or_records(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        check_study(tmp_path / "nope", GatesConfig(min_retention=0.9))
    tmp_path.joinpath("empty").mkdir()
    with pytest.raises(StoreError, match="holds no potstill study"):
        check_study(tmp_path / "empty", GatesConfig(min_retention=0.9))


def test_malformed_quality_names_the_record(tmp_path: Path) -> None:
    rec = record("credit", "kd")
    del rec["quality"]["retention"]
    with pytest.raises(StoreError, match=r"record credit/kd .*lacks the field\(s\) retention"):
        check_study(write_study(tmp_path, [rec], GATES_YAML))


def test_system_gates_replace_the_fleet_gates(tmp_path: Path) -> None:
    config = (
        "gates: {min_retention: 0.97, max_ece: null}\n"
        "systems:\n"
        "  - name: credit\n"
        "    gates: {min_retention: 0.90}\n"
        "  - name: heart\n"
        "    gates: null\n"
    )
    study = write_study(
        tmp_path,
        [record("credit", "kd", retention=0.95), record("heart", "kd", retention=0.95)],
        config,
    )
    report = check_study(study)
    by_system = {r.system: (r.threshold, r.passed) for r in report.rows}
    assert by_system == {"credit": (0.90, True), "heart": (0.97, False)}
    assert "gates of credit: min_retention=0.9" in report.render()
    # CLI overrides win over both
    relaxed = check_study(study, GatesConfig(min_retention=0.5))
    assert relaxed.passed and {r.threshold for r in relaxed.rows} == {0.5}


def test_bad_system_gates_name_the_entry(tmp_path: Path) -> None:
    study = write_study(
        tmp_path, [record("credit", "kd")], "systems:\n  - name: credit\n    gates: {max_ece: 3}\n"
    )
    with pytest.raises(ConfigError, match=r"'systems\[0\].gates' of .*config.yaml.*max_ece"):
        check_study(study)
