"""The circuit breaker: its counting rule, its admin endpoint, and a real server over
loopback that opens the breaker on injected drift (the teacher answers) and closes it
again after clean windows, with no trip in the clean windows before."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from potstill.errors import ConfigError
from potstill.serve.app import create_app
from potstill.serve.breaker import BreakerState
from potstill.serve.config import ReplayConfig, ServeConfig
from potstill.serve.replay import replay
from potstill.serve.runtime import ServingRuntime
from potstill.serve.store import open_store
from potstill.serve.teacher_proc import parse_cpus

FEATURES = ["f0", "f1", "f2", "f3", "region"]
Studied = Any


def test_the_breaker_opens_after_n_consecutive_bad_windows_and_closes_after_m_good() -> None:
    state = BreakerState(open_after=2, close_after=3)
    assert [state.record(b) for b in (True, False, True)] == [False, False, False]
    assert not state.open  # a good window in between restarts the count
    assert state.record(True) and state.open
    assert [state.record(b) for b in (False, False, True, False, False)] == [False] * 5
    assert state.record(False) and not state.open
    assert state.force(True) and state.open and not state.force(True)


def test_shadow_cpus_are_parsed_or_refused() -> None:
    assert parse_cpus("all") is None
    with pytest.raises(ConfigError, match=r"'--shadow-cpus'.*Got '9999'"):
        parse_cpus("9999")
    with pytest.raises(ConfigError, match="Got 'x'"):
        parse_cpus("x")


def test_the_breaker_endpoint_refuses_what_it_cannot_do(studied: Studied, tmp_path: Path) -> None:
    runtime = ServingRuntime(
        ServeConfig(student=studied.student, store=f"sqlite:///{tmp_path / 'live.db'}")
    )
    try:
        with TestClient(create_app(runtime)) as client:
            status = client.get("/v1/breaker").json()
            remote = client.post("/v1/breaker", json={"state": "open"})  # host 'testclient'
        with pytest.raises(ConfigError, match="'--breaker-windows' option needs --teacher"):
            ServingRuntime(ServeConfig(student=studied.student, breaker_windows=2))
        with pytest.raises(Exception, match="breaker is off"):
            runtime.set_breaker({"state": "open"})
        with pytest.raises(Exception, match="must be"):
            runtime.set_breaker({"state": "ajar"})
    finally:
        runtime.close()
    assert status == {"enabled": False, "open": False, "answering": "student"}
    assert remote.status_code == 403 and "loopback" in remote.json()["detail"]


def _wait_windows(c: httpx.Client, judged: int, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: dict[str, Any] = c.get("/v1/breaker").json()
        if status["windows_judged"] >= judged:
            return status
        time.sleep(0.3)
    raise AssertionError(f"fewer than {judged} windows judged in {timeout} s: {status}")


def _send(url: str, studied: Studied, rows: int, drift: str | None, seed: int) -> None:
    config = ReplayConfig(url=url, rows=rows, drift=drift, seed=seed)
    assert replay(studied.student, studied.csv, config)["errors"] == 0


def _teacher_probs(studied: Studied, row: dict[str, float]) -> np.ndarray:
    session = ort.InferenceSession(str(studied.teacher))
    X = np.array([[row[f] for f in FEATURES]], dtype=np.float32)
    logits = session.run(None, {"x": X})[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def test_drift_opens_the_breaker_and_the_teacher_answers(
    studied: Studied, launch: Any, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    server = launch(
        studied.student, tmp_path, "--teacher", str(studied.teacher), "--shadow-rate", "1.0",
        "--breaker-windows", "2", "--breaker-close-windows", "2",
        "--breaker-window-rows", "100", "--breaker-interval", "0.3",
    )  # fmt: skip
    try:
        assert server.wait_shadow() == "ready"
        with server.client() as c:
            _send(server.url, studied, 300, None, seed=0)  # windows 0-2: clean
            clean = _wait_windows(c, 3)
            before = c.post("/v1/predict", json={"rows": rows[:1]}).json()
            _send(server.url, studied, 300, "noise=2.0", seed=1)  # windows 3-5: drifted
            drifted = _wait_windows(c, 6)
            during = c.post("/v1/predict", json={"rows": rows[:1]}).json()
            metrics = c.get("/metrics").text
            _send(server.url, studied, 200, None, seed=2)  # windows 6-7: clean again
            healed = _wait_windows(c, 8)
            after = c.post("/v1/predict", json={"rows": rows[:1]}).json()
            forced = c.post("/v1/breaker", json={"state": "open", "reason": "drill"}).json()
            by_hand = c.post("/v1/predict", json={"rows": rows[:1]}).json()
            c.post("/v1/breaker", json={"state": "closed"})
    finally:
        server.stop()
    assert not clean["open"] and clean["transitions"] == []  # no false trip
    assert [w["bad"] for w in clean["last_windows"]] == [False, False, False]
    assert before["model"] == "student"
    opened = drifted["transitions"][0]
    assert opened["open"] and opened["after_window"] == 4  # the 2nd bad window in a row
    assert drifted["open"] and during["model"] == "teacher"
    assert np.allclose(during["probabilities"], _teacher_probs(studied, rows[0]), atol=1e-5)
    assert "potstill_breaker_open 1.0" in metrics
    assert 'potstill_answers_total{model="teacher"}' in metrics
    closed = healed["transitions"][-1]
    assert not healed["open"] and not closed["open"] and closed["after_window"] == 7
    assert after["model"] == "student"
    assert forced["open"] and forced["transitions"][-1]["reason"] == "drill"
    assert by_hand["model"] == "teacher"
    engine = open_store(server.store, create=False)
    try:
        with engine.connect() as conn:
            models = dict(conn.execute(text("SELECT model, count(*) FROM potstill_requests "
                                            "GROUP BY model")).all())  # fmt: skip
    finally:
        engine.dispose()
    assert models["teacher"] >= 2 and models["student"] >= 600
