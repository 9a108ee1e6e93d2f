"""``potstill select`` end to end on a tiny system: search, rungs, the ``auto`` record, the
report's front, the CLI's JSON line, and resume after a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from potstill import api
from potstill.cli import main

pytest.importorskip("optuna")

FLEET = """
name: tiny
seed: 0
grid: [kd]
train: {epochs: 6, batch_size: 64, lr: 0.003, patience: 4}
bench:
  warmup: 10
  min_calls: 30
  min_seconds: 0.05
  batch_sizes: [1, 32]
  sweep_min_calls: 3
  sweep_min_seconds: 0.01
  runtimes: [eager, onnx]
  memory: false
  threads: 1
evaluate: {n_resamples: 50, severities: [1.0]}
gates: {min_retention: 0.9}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [32, 32], epochs: 5}
    student: {width: 0.5}
"""


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fleet") / "fleet.yaml"
    path.write_text(FLEET)
    return path


@pytest.fixture(scope="module")
def selected(fleet: Path, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("select") / "out"
    result = api.select(fleet, out=out, quick=True, trials=3)  # what the CLI rerun asks
    assert result.exit_code in (0, 1)
    return out


def test_the_choice_is_an_ordinary_auto_record_with_its_search(selected: Path) -> None:
    record = json.loads((selected / "records" / "bc__auto.json").read_text())
    assert record["method"] == "auto" and record["status"] == "ok"
    search = record["student"]["search"]
    assert search["split"] == "validation" and len(search["trials"]) == 3
    numbers = {t["number"] for t in search["trials"]}
    assert search["choice"] in numbers and set(search["front"]) <= numbers
    assert search["default"] == 0  # the hand-picked default is the first trial
    default = next(t for t in search["trials"] if t["default"])
    assert default["params"]["method"] == "kd" and default["params"]["width"] == 0.5
    versus = search["versus_default"]  # the front re-measured with the default
    assert versus["choice"] == search["choice"] and versus["default"] == 0
    assert versus["low"] <= versus["ratio"] <= versus["high"]
    assert len(versus["load_1min"]) == versus["rounds"] == 10  # --quick's re-measure rounds
    rungs = {t["rung"] for t in search["trials"]}
    assert rungs == {0, 1}  # successive halving took some candidates to the second rung
    assert record["quality"]["retention"]["value"] > 0  # measured once, on the test split
    assert (selected / "students" / "bc" / "auto" / "model.json").is_file()
    assert record["student"]["resumed"] == "trained model reloaded"  # the searched student
    assert any((selected / "exports" / "bc").glob("*.onnx"))


def test_report_draws_the_front_and_check_reads_the_record(selected: Path) -> None:
    report = (selected / "report.md").read_text()
    assert "## Cost-aware selection" in report
    assert (selected / "charts" / "pareto_bc.png").is_file()
    result = api.check(selected)
    assert result is not None


def test_rerun_resumes_without_new_trials_and_ends_with_one_json_line(
    selected: Path, fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = selected / "search" / "bc" / "optuna.db"
    before = _trial_states(db)
    model = selected / "search" / "bc" / "trials" / "0000" / "rung0" / "model.json"
    stamp = model.stat().st_mtime_ns
    with pytest.raises(SystemExit) as exit_:
        main(["select", str(fleet), "--out", str(selected), "--trials", "3", "--quick"])
    assert exit_.value.code in (0, 1)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["systems"][0]["system"] == "bc"
    assert _trial_states(db) == before  # nothing sampled again
    assert model.stat().st_mtime_ns == stamp  # nothing retrained


def _trial_states(db: Path) -> list[tuple[int, str]]:
    """The trials' (number, state); none while Optuna is still creating its tables."""
    with sqlite3.connect(db) as con:
        try:
            return sorted(con.execute("SELECT number, state FROM trials").fetchall())
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return []


@pytest.mark.slow
def test_a_killed_search_reruns_without_repeating_finished_trials(
    fleet: Path, cache: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "potstill.cli", "select", str(fleet), "--out", str(out),
           "--trials", "4", "--quick"]  # fmt: skip
    env = {**os.environ, "POTSTILL_CACHE": str(cache)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    db = out / "search" / "bc" / "optuna.db"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if db.is_file() and sum(s == "COMPLETE" for _, s in _trial_states(db)) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the search ended before it could be killed"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = {n for n, s in _trial_states(db) if s == "COMPLETE"}
    stamps = {n: _model(out, n).stat().st_mtime_ns for n in done}
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert rerun.returncode in (0, 1), rerun.stderr[-2000:]
    states = _trial_states(db)
    assert sum(s == "COMPLETE" for _, s in states) == 4
    assert done <= {n for n, s in states if s == "COMPLETE"}
    assert all(_model(out, n).stat().st_mtime_ns == stamps[n] for n in done)
    assert json.loads(rerun.stdout.strip().splitlines()[-1])["systems"][0]["trials"] == 4


def _model(out: Path, number: int) -> Path:
    return out / "search" / "bc" / "trials" / f"{number:04d}" / "rung0" / "model.json"
