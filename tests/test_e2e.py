"""End to end: `potstill demo --quick` on real data, then resume, report and gates."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from potstill.cli import main


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("e2e")
    mp = pytest.MonkeyPatch()
    mp.setenv("POTSTILL_CACHE", str(root / "cache"))  # cold cache: teachers are trained here
    try:
        with pytest.raises(SystemExit) as info:
            main(["demo", "--quick", "--out", str(root / "demo")])
    finally:
        mp.undo()
    return root / "demo", int(info.value.code or 0)


@pytest.fixture(scope="module")
def demo_dir(demo_run: tuple[Path, int]) -> Path:
    return demo_run[0]


def test_the_exit_code_says_what_the_records_hold(demo_run: tuple[Path, int]) -> None:
    out, code = demo_run
    records = [json.loads(p.read_text()) for p in (out / "records").glob("*.json")]
    assert not [r for r in records if r["status"] == "failed"]  # else 3
    gate_failed = any(
        g["status"] == "fail"
        for r in records
        if r["status"] == "ok" and r["family"] != "baseline"
        for g in r["gates"]
    )
    assert code == (1 if gate_failed else 0)  # the quick fleet gates min_retention 0.95


def test_quick_demo_writes_records_and_report(demo_dir: Path) -> None:
    records = [json.loads(p.read_text()) for p in sorted((demo_dir / "records").glob("*.json"))]
    assert len(records) == 12  # 3 systems x (scratch, kd, fitnet, rkd)
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    # The XGBoost teacher has no hidden layers (fitnet is n/a); its leaf embedding feeds rkd.
    assert by_status == {"ok": 11, "not_applicable": 1}
    na = {r["method"] for r in records if r["status"] == "not_applicable"}
    assert na == {"fitnet"}
    for r in records:
        if r["status"] != "ok":
            assert r["system"] == "loan_default" and "logits" in r["reason"]
            continue
        assert 0 < r["costs"]["reduction"] < 1  # a measured, not typed-in, reduction
        assert r["quality"]["retention"]["low"] <= r["quality"]["retention"]["value"]
        runtimes = {p["runtime"] for p in r["profiles"] if p["model"] != "teacher"}
        assert "eager" in runtimes
    for name in ("report.md", "report.html", "results.csv", "config.yaml", "environment.json"):
        assert (demo_dir / name).is_file(), name
    report = (demo_dir / "report.md").read_text()
    assert "Cost reduction per sector" in report and "```mermaid" in report


def test_rerun_resumes_and_skips_finished_records(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (demo_dir / "records").glob("*.json")}
    t0 = time.perf_counter()
    with pytest.raises(SystemExit):
        main(["demo", "--quick", "--out", str(demo_dir)])
    assert "(0 new records" in capsys.readouterr().out
    after = {p.name: p.stat().st_mtime_ns for p in (demo_dir / "records").glob("*.json")}
    assert before == after
    assert time.perf_counter() - t0 < 30


def test_check_exit_code_follows_the_gates(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as lenient:
        main(["check", str(demo_dir), "--min-retention", "0.01"])
    assert lenient.value.code in (0, None)
    with pytest.raises(SystemExit) as strict:
        main(["check", str(demo_dir), "--min-retention", "5.0"])
    assert strict.value.code == 1
    assert "min_retention" in capsys.readouterr().out
