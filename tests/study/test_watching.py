"""A real (tiny) study watched through every front end: the API callback, piped plain
lines, ``--log-format json``, a terminal's live view, and ``--quiet``."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from potstill import api
from potstill.cli import main
from potstill.events import (
    Event,
    StageFinished,
    StageProgress,
    StageStarted,
    StudyFinished,
    StudyStarted,
    SystemFinished,
    SystemStarted,
)

# One system, two cells, short everything: the stages are what matter here.
FLEET = """
name: tiny
grid: [scratch, kd, attention_mse]
train: {epochs: 2, batch_size: 64, lr: 0.003, patience: 2}
bench: {warmup: 10, min_calls: 10, min_seconds: 0.0, max_seconds: 1, block_calls: 5,
        batch_sizes: [1, 8], sweep_min_calls: 5, sweep_min_seconds: 0.0,
        runtimes: [eager], memory: false}
evaluate: {n_resamples: 20, severities: [0.5]}
gates: {min_retention: 0.5}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [32, 32]}
    student: {width: 0.5}
"""
STAGES = ["data", "teacher", "train scratch", "train kd", "train attention_mse",
          "evaluate scratch", "evaluate kd", "bench"]  # fmt: skip


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("watching")
    mp = pytest.MonkeyPatch()
    mp.setenv("POTSTILL_CACHE", str(root / "cache"))  # cold: the first run trains the teacher
    (root / "fleet.yaml").write_text(FLEET)
    yield root / "fleet.yaml"
    mp.undo()


@pytest.fixture(scope="module")
def api_run(fleet: Path) -> tuple[list[Event], list[logging.LogRecord]]:
    """The first run, through the library with a callback; the teacher is trained here."""
    events: list[Event] = []
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("potstill")
    level, logger.level = logger.level, logging.DEBUG
    logger.addHandler(handler)
    try:
        api.study(fleet, out=fleet.parent / "api", on_event=events.append)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return events, records


def _label(event: StageStarted | StageFinished) -> str:
    return f"{event.stage} {event.item}".strip()


def test_the_callback_receives_every_stage_in_order(api_run: tuple[list[Event], list]) -> None:
    events, _ = api_run
    assert isinstance(events[0], StudyStarted) and isinstance(events[-1], StudyFinished)
    assert isinstance(events[1], SystemStarted)
    system_end = next(i for i, e in enumerate(events) if isinstance(e, SystemFinished))
    started = [_label(e) for e in events[:system_end] if isinstance(e, StageStarted)]
    assert started == STAGES
    finished = {_label(e): e for e in events if isinstance(e, StageFinished)}
    assert finished["train attention_mse"].status == "skipped"  # an MLP has no attention
    assert "attention" in finished["train attention_mse"].note
    assert finished["teacher"].note.startswith("trained mlp now")  # the cache was cold
    # every stage is closed before the next one opens, progress only inside its stage
    open_stage = None
    for e in events:
        if isinstance(e, StageStarted):
            assert open_stage is None
            open_stage = _label(e)
        elif isinstance(e, StageProgress):
            assert open_stage == f"{e.stage} {e.item}".strip() or e.stage == "teacher"
        elif isinstance(e, StageFinished):
            assert open_stage == _label(e)
            open_stage = None
    units = {(e.stage, e.unit) for e in events if isinstance(e, StageProgress)}
    assert {("teacher", "epoch"), ("train", "epoch"), ("evaluate", "resample"),
            ("evaluate", "severity"), ("bench", "build"), ("bench", "call")} <= units  # fmt: skip
    epoch = next(e for e in events if isinstance(e, StageProgress) and e.item == "kd")
    assert set(epoch.values) == {"loss", "val_accuracy"} and epoch.total == 2
    outcome = events[system_end].outcome  # type: ignore[attr-defined]
    assert outcome.best == "kd" and outcome.records == 3 and outcome.retention > 0.5


def test_training_a_teacher_is_information_not_a_warning(api_run: tuple[list, list]) -> None:
    _, records = api_run
    training = [r for r in records if "training teacher" in r.getMessage()]
    assert [r.levelname for r in training] == ["INFO"]
    assert not [r for r in records if r.levelno >= logging.WARNING and r.name.endswith("zoo")]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_a_piped_run_prints_plain_stage_lines(fleet: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _cli(capsys, "study", str(fleet), "--out", str(fleet.parent / "plain"))
    assert code == 0, err
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", out)  # no escape codes, no \r
    for label in STAGES:
        assert re.search(rf"^\S+ \[1/1\] bc · {label} started$", out, re.M), label
        assert re.search(rf"^\S+ \[1/1\] bc · {label} (done in|skipped)", out, re.M), label
    assert re.search(r"^\S+ \[1/1\] bc finished in .*: best kd · retention", out, re.M)
    assert "study · report done in" in out
    assert "| bc " in out and "best student" in out  # the summary table, ASCII borders
    assert "(3 new records in" in out and "exit code 0:" in out


def test_json_log_format_writes_one_object_per_event(
    fleet: Path, capsys: pytest.CaptureFixture
) -> None:
    out_dir = fleet.parent / "json"
    code, out, err = _cli(
        capsys, "study", str(fleet), "--out", str(out_dir), "--log-format", "json"
    )
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    kinds = [line["event"] for line in lines]
    assert kinds[0] == "study_started" and kinds[-1] == "study_finished"
    assert {"stage_started", "stage_progress", "stage_finished", "system_finished"} <= set(kinds)
    epoch = next(x for x in lines if x["event"] == "stage_progress" and x["unit"] == "epoch")
    assert {"system", "stage", "item", "done", "total", "values", "time"} <= set(epoch)
    assert lines[-1]["outcomes"][0]["best"] == "kd" and lines[-1]["new_records"] == 3


def test_a_terminal_run_shows_every_stage_live(
    fleet: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = Console(file=io.StringIO(), record=True, force_terminal=True, width=160)
    monkeypatch.setattr("potstill.cli.console", console)
    code, _, err = _cli(capsys, "study", str(fleet), "--out", str(fleet.parent / "rich"))
    assert code == 0, err
    text = console.export_text()
    for label in STAGES:
        assert f"[1/1] bc · {label}" in text, label
    assert "systems 0/1" in text and "systems 1/1" in text
    assert "✓ bc  finished in" in text and "best student" in text


def test_quiet_prints_only_the_summary(fleet: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = _cli(capsys, "study", str(fleet), "--out", str(fleet.parent / "q"), "-q")
    assert code == 0, err
    assert " started" not in out and "best student" in out and "exit code 0:" in out
