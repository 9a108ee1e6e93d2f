"""The event interface: stages bracket their work, tickers throttle, events serialise."""

from __future__ import annotations

import json

import pytest

from potstill.events import (
    Event,
    StageFinished,
    StageProgress,
    StageStarted,
    SystemFinished,
    SystemOutcome,
    Ticker,
    event_to_dict,
    ignore,
    skipped_stage,
    stage,
)


def test_stage_brackets_the_block_and_reports_its_outcome() -> None:
    events: list[Event] = []
    with stage(events.append, "bc", "train", "kd") as st:
        st.update(1, 3, unit="epoch", values={"loss": 0.5, "val_accuracy": 0.9})
        st.outcome = "3 epochs"
    started, progress, finished = events
    assert isinstance(started, StageStarted) and started.item == "kd"
    assert isinstance(progress, StageProgress)
    assert (progress.done, progress.total, progress.unit) == (1, 3, "epoch")
    assert progress.values == {"loss": 0.5, "val_accuracy": 0.9}
    assert isinstance(finished, StageFinished)
    assert finished.status == "ok" and finished.note == "3 epochs" and finished.seconds >= 0


def test_a_failing_stage_says_failed_with_the_first_line_and_reraises() -> None:
    events: list[Event] = []
    with pytest.raises(ValueError, match="boom"), stage(events.append, "bc", "bench"):
        raise ValueError("boom\nsecond line")
    finished = events[-1]
    assert isinstance(finished, StageFinished)
    assert finished.status == "failed" and finished.note == "boom"


def test_a_skipped_stage_is_started_and_finished_with_its_reason() -> None:
    events: list[Event] = []
    skipped_stage(events.append, "bc", "train", "fitnet", "needs hidden features")
    assert [e.kind for e in events] == ["stage_started", "stage_finished"]
    assert isinstance(events[1], StageFinished) and events[1].status == "skipped"


def test_ticker_reports_about_steps_times_and_always_the_end() -> None:
    events: list[Event] = []
    with stage(events.append, "bc", "evaluate") as st:
        tick = Ticker(st, 1000, "resample", steps=20)
        for _ in range(1000):
            tick(1)
    progress = [e for e in events if isinstance(e, StageProgress)]
    assert len(progress) == 20
    assert progress[-1].done == progress[-1].total == 1000
    assert [p.done for p in progress] == sorted(p.done for p in progress)


def test_ticker_without_a_stage_only_counts() -> None:
    tick = Ticker(None, 10, "resample")
    for _ in range(10):
        tick(1)
    assert tick.done == 10


def test_event_to_dict_is_json_with_kind_time_and_fields() -> None:
    outcome = SystemOutcome(system="bc", best="kd", retention=float("nan"))
    event = SystemFinished(
        system="bc", index=1, total=2, seconds=1.5, new_records=4, outcome=outcome
    )
    data = json.loads(json.dumps(event_to_dict(event), allow_nan=False))
    assert data["event"] == "system_finished" and data["time"].endswith("+00:00")
    assert data["outcome"]["best"] == "kd" and data["outcome"]["retention"] is None
    assert data["new_records"] == 4


def test_the_null_sink_accepts_every_event() -> None:
    assert ignore(StageStarted(system=None, stage="report")) is None
