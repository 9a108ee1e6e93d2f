"""One failure never costs the rest: a broken teacher file and a cell that raises inside
torch become failed records with their error, every other record and the report are
intact, and the study exits 3. Small data, black-box teachers, eager timing only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from potstill.cli import main
from potstill.study import records as records_module
from potstill.study import system as system_module

GRID = ["scratch", "kd"]


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def records(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))}


@pytest.fixture(scope="module")
def failed_study(
    user_files: dict[str, Path], fleet_yaml: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, int, str]:
    """fine: every cell ok; flaky: its kd cell raises RuntimeError inside training;
    pricey: re-scoring its kd student raises; broken: a corrupt .onnx teacher."""
    root = tmp_path_factory.mktemp("study")
    fleet = root / "fleet.yaml"
    systems = {"fine": "good", "flaky": "good", "pricey": "good", "broken": "broken"}
    fleet.write_text(fleet_yaml(user_files, systems))
    real_train = system_module.train
    real_deployments = records_module.student_deployments

    def train(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("description") == "flaky/kd":
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x6 and 7x8)")
        return real_train(*args, **kwargs)

    def student_deployments(scorer: Any, *args: Any, **kwargs: Any) -> Any:
        if scorer.target.path.parts[-2:] == ("pricey", "kd"):
            raise ValueError("onnxruntime returned no output for this student")
        return real_deployments(scorer, *args, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(system_module, "train", train)
    mp.setattr(records_module, "student_deployments", student_deployments)
    try:
        code = run_cli("study", str(fleet), "--out", str(root / "out"))
    finally:
        mp.undo()
    return root / "out", code, fleet.read_text()


def test_a_broken_system_leaves_the_others_and_the_report_intact(
    failed_study: tuple[Path, int, str],
) -> None:
    out, code, _ = failed_study
    assert code == 3  # some runs failed: not 0 (ok), not 1 (gates), not 2 (bad input)
    recs = records(out)
    names = ("fine", "flaky", "pricey", "broken")
    assert set(recs) == {f"{s}__{m}" for s in names for m in GRID}
    assert {recs[f"fine__{m}"]["status"] for m in GRID} == {"ok"}
    assert recs["fine__kd"]["quality"]["retention"]["value"] > 0.5
    for method in GRID:
        broken = recs[f"broken__{method}"]
        assert broken["status"] == "failed"
        assert "broken.onnx" in broken["reason"] or "onnx" in broken["reason"].lower()
        assert broken["error"]["traceback"].strip()
        assert broken["sector"] == "healthcare" and broken["system_hash"]
    report = (out / "report.md").read_text()
    assert "fine" in report and "broken" in report
    assert (out / "report.html").is_file() and (out / "results.csv").is_file()


def test_a_cell_raising_runtime_error_is_a_failed_record_with_its_traceback(
    failed_study: tuple[Path, int, str],
) -> None:
    out, _, _ = failed_study
    recs = records(out)
    kd, scratch = recs["flaky__kd"], recs["flaky__scratch"]
    assert scratch["status"] == "ok"  # the other cell of the same system went on
    assert kd["status"] == "failed" and kd["reason"].startswith("RuntimeError: mat1 and mat2")
    error = kd["error"]
    assert error["type"] == "builtins.RuntimeError"
    tail = error["traceback"].splitlines()
    assert tail[-1].startswith("RuntimeError: mat1 and mat2")
    assert any("_train_cell" in line for line in tail)  # the frame where it broke
    assert len(tail) <= 2 * 8 + 2  # short: the last frames only
    assert "RuntimeError" in (out / "report.md").read_text()


def test_a_student_whose_pricing_raises_fails_alone(failed_study: tuple[Path, int, str]) -> None:
    """An exception while re-scoring one student failed the whole system; now only its record."""
    out, _, _ = failed_study
    recs = records(out)
    kd, scratch = recs["pricey__kd"], recs["pricey__scratch"]
    assert scratch["status"] == "ok" and scratch["costs"] is not None
    assert kd["status"] == "failed" and kd["costs"] is None and kd["gates"] == []
    assert kd["reason"] == (
        "pricing or re-scoring this student failed: ValueError: onnxruntime returned no "
        "output for this student"
    )
    assert kd["error"]["traceback"].strip().endswith("no output for this student")


def test_every_system_failed_still_writes_the_report_and_prints_no_traceback(
    user_files: dict[str, Path],
    fleet_yaml: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(user_files, {"broken": "broken", "also-broken": "broken"}))
    code = run_cli("study", str(fleet), "--out", str(tmp_path / "out"))
    captured = capsys.readouterr()
    assert code == 3
    assert "Traceback" not in captured.err + captured.out
    assert "exit code 3: some runs failed" in " ".join((captured.out + captured.err).split())
    report = (tmp_path / "out" / "report.md").read_text()
    assert "also-broken" in report and "0 runs were not applicable and 4 failed" in report


def test_one_system_alone_refuses_bad_input_with_exit_2(
    user_files: dict[str, Path],
    fleet_yaml: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No rest to go on to: a one-system run refuses like distill, before any work."""
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(user_files, {"broken": "broken", "fine": "good"}))
    code = run_cli("study", str(fleet), "--out", str(tmp_path / "out"), "--system", "broken")
    err = capsys.readouterr().err
    assert code == 2 and "cannot load the ONNX file" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "records").exists()


def test_a_rerun_retries_the_failed_records(failed_study: tuple[Path, int, str]) -> None:
    out, _, _ = failed_study
    fleet = out.parent / "fleet.yaml"
    before = {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("fine__*.json")}
    code = run_cli("study", str(fleet), "--out", str(out))
    assert code == 3  # broken is still broken
    recs = records(out)
    assert recs["flaky__kd"]["status"] == "ok"  # retried without the injected fault
    after = {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("fine__*.json")}
    assert before == after  # the finished system was not touched
    assert not (out / "superseded").exists()  # nothing changed, nothing set aside
