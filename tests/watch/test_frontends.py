"""The front ends over a fixed stream of events: plain lines, JSON lines, the live view,
the ETA and the summary table. (A real study through the CLI: tests/study/test_watching.py.)"""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

from potstill.events import (
    Event,
    StageFinished,
    StageProgress,
    StageStarted,
    StudyFinished,
    StudyStarted,
    SystemFinished,
    SystemOutcome,
    SystemStarted,
)
from potstill.watch.lines import JsonLines, PlainLines
from potstill.watch.live import LiveView
from potstill.watch.state import RunState
from potstill.watch.summary import print_summary
from potstill.watch.text import clean, outcome_text

T0 = 1_700_000_000.0
OUTCOME = SystemOutcome(
    system="bc", teacher="ensemble", metric="accuracy", teacher_value=0.97, best="kd",
    retention=0.991, retention_low=0.975, retention_high=1.004, cost_reduction=0.83,
    verdict="helped (CI above 0)", gates="pass", records=4,
)  # fmt: skip
STAGES = [("data", ""), ("teacher", ""), ("train", "scratch"), ("train", "kd"),
          ("evaluate", "kd"), ("bench", "")]  # fmt: skip


def _events() -> list[Event]:
    t = T0
    events: list[Event] = [StudyStarted(name="f", out="/o", systems=("bc", "cc"), at=t)]
    for index, system in enumerate(("bc", "cc"), 1):
        events.append(SystemStarted(system=system, index=index, total=2, at=t))
        for name, item in STAGES:
            events.append(StageStarted(system=system, stage=name, item=item, at=t))
            events.append(StageProgress(system=system, stage=name, item=item, done=1, total=2,
                                        unit="epoch", values={"loss": 0.4}, at=t))  # fmt: skip
            t += 10
            note = "error\x1b[31m one" if (system, name) == ("cc", "bench") else ""
            status = "failed" if note else "ok"
            events.append(StageFinished(system=system, stage=name, item=item, seconds=10,
                                        status=status, note=note, at=t))  # fmt: skip
        events.append(SystemFinished(system=system, index=index, total=2, seconds=60,
                                     new_records=4, outcome=OUTCOME, at=t))  # fmt: skip
    events.append(StudyFinished(out="/o", report="/o/report.md", new_records=8, seconds=120,
                                outcomes=(OUTCOME,), at=t))  # fmt: skip
    return events


def test_plain_lines_one_per_stage_start_and_end_without_control_characters() -> None:
    stream = io.StringIO()
    lines = PlainLines(stream)
    for event in _events():
        lines(event)
    text = stream.getvalue()
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", text)  # only newlines
    for name, item in STAGES:
        label = f"{name} {item}".strip()
        assert text.count(f"[1/2] bc · {label} started") == 1
        assert text.count(f"[1/2] bc · {label} done in 10 s") == 1
    assert "[2/2] cc · bench failed after 10 s: error [31m one" in text
    assert "[1/2] bc finished in 1:00: best kd · retention 99.1% [97.5, 100.4]" in text
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d ", line) for line in text.splitlines())
    assert "epoch" not in text  # progress is for the live view and JSON, not for logs


def test_json_lines_parse_and_carry_every_event() -> None:
    stream = io.StringIO()
    lines = JsonLines(stream)
    events = _events()
    for event in events:
        lines(event)
    parsed = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(parsed) == len(events)
    assert parsed[0]["event"] == "study_started" and parsed[-1]["event"] == "study_finished"
    progress = next(p for p in parsed if p["event"] == "stage_progress")
    assert {"system", "stage", "item", "done", "total", "unit", "values", "time"} <= set(progress)


def test_live_view_shows_every_stage_and_each_finished_system() -> None:
    console = Console(file=io.StringIO(), record=True, force_terminal=True, width=160)
    with LiveView(console, refresh_per_second=1, min_interval=0) as view:
        for event in _events():
            view(event)
    text = console.export_text()
    for name, item in STAGES:
        assert f"bc · {f'{name} {item}'.strip()}" in text
    assert "systems 1/2" in text and "epoch 1/2 · loss 0.4" in text
    assert "✓ bc  finished in 1:00: best kd · retention 99.1% [97.5, 100.4]" in text
    assert "cost reduction 83.0%" in text and "gates pass" in text


def test_eta_is_learned_from_the_systems_finished_so_far() -> None:
    state = RunState()
    events = _events()
    first_done = next(i for i, e in enumerate(events) if isinstance(e, SystemFinished))
    for event in events[: first_done + 1]:
        state.apply(event)
    assert state.done == 1 and state.eta(T0 + 60) == 60  # one system left, 60 s each
    state.apply(events[first_done + 1])  # the second system starts at T0 + 60
    assert state.eta(T0 + 60 + 45) == 15
    assert RunState(total=3).eta(T0) is None  # nothing finished: no ETA yet


def test_summary_table_and_exit_meaning() -> None:
    console = Console(file=io.StringIO(), width=200)
    print_summary(console, [OUTCOME], report=None, out=__import__("pathlib").Path("/o"),
                  new_records=8, exit_code=0, plain=True)  # fmt: skip
    text = console.file.getvalue()  # type: ignore[attr-defined]
    for value in ("bc", "ensemble (accuracy 0.97)", "kd", "99.1% [97.5, 100.4]", "83.0%",
                  "helped (CI above 0)", "pass", "(8 new records in /o)", "exit code 0:"):  # fmt: skip
        assert value in text, value


def test_outcome_text_of_a_failed_system_and_clean() -> None:
    failed = SystemFinished(system="x", index=1, total=1, seconds=2, new_records=0,
                            status="failed", note="bad\nthing")  # fmt: skip
    assert outcome_text(failed) == "failed after 2.0 s: bad thing"
    assert clean("a\x1b[0m\tb") == "a [0m b"
