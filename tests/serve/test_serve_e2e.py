"""A studied student served by real `potstill serve` processes on 127.0.0.1.

One distill (the session fixture) feeds every test: the study's serving bundle, predictions
from the measured ONNX file, 422s naming the field, feedback, Prometheus metrics, the
shadow teacher (scoring, failing, dropping), replay + monitor catching injected drift, a
kill -9 that loses no acknowledged request, and the same server on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import torch

from potstill import api
from potstill.cli import main
from potstill.serve.monitor import load_rows
from potstill.serve.shadow import ShadowTeacher
from potstill.serve.store import integrity_check, open_store, request_size

FEATURES = ["f0", "f1", "f2", "f3", "region"]
Server = Studied = Any  # the fixtures' types live in conftest.py (tests/ is not a package)


@pytest.fixture(scope="module")
def server(
    studied: Studied, launch: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    s = launch(
        studied.student, tmp_path_factory.mktemp("srv"),
        "--teacher", str(studied.teacher), "--shadow-rate", "1.0",
    )  # fmt: skip
    yield s
    s.stop()


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    return int(info.value.code or 0)


def test_the_study_writes_the_serving_bundle(studied: Studied) -> None:
    serving = studied.student / "serving"
    schema = json.loads((serving / "schema.json").read_text())
    assert schema["servable"] and schema["target"] == "label"
    assert [f["name"] for f in schema["features"]] == FEATURES
    assert schema["features"][4]["categories"] == [0.0, 1.0, 2.0, 3.0]
    assert schema["classes"] == ["churn", "stay"]
    measured = Path(schema["onnx"]["measured_artefact"])
    assert hashlib.sha256(measured.read_bytes()).hexdigest() == schema["onnx"]["sha256"]
    reference = json.loads((serving / "reference.json").read_text())
    kinds = {k: v["kind"] for k, v in reference["inputs"].items()}
    assert kinds == {"f0": "numeric", "f1": "numeric", "f2": "numeric", "f3": "numeric",
                     "region": "categorical"}  # fmt: skip
    record = json.loads((studied.study / "records" / "system__kd.json").read_text())
    assert reference["teacher_agreement"] == record["quality"]["fidelity"]["agreement"]
    assert 0.5 < reference["student_accuracy"]["value"] <= 1.0


def test_predict_answers_from_the_measured_onnx_file(
    server: Server, studied: Studied, rows: list[dict[str, Any]]
) -> None:
    with server.client() as c:
        body = c.post("/v1/predict", json={"rows": rows[:5]}).json()
    assert len(body["request_id"]) == 32 and body["classes"] == ["churn", "stay"]
    session = ort.InferenceSession(str(studied.student / "serving" / "student.onnx"))
    X = np.array([[r[f] for f in FEATURES] for r in rows[:5]], dtype=np.float32)
    expected = torch.softmax(torch.tensor(session.run(None, {"input": X})[0]), 1).numpy()
    assert np.allclose(body["probabilities"], expected, atol=1e-6)
    assert body["predictions"] == [body["classes"][i] for i in expected.argmax(1)]


def test_bad_input_gets_422_naming_the_field_and_value(
    server: Server, rows: list[dict[str, Any]]
) -> None:
    with server.client() as c:
        wrong = c.post("/v1/predict", json={"rows": [rows[0], {**rows[1], "f1": "high"}]})
        missing = c.post("/v1/predict", json={"rows": [{k: 1.0 for k in FEATURES[:4]}]})
        garbage = c.post(
            "/v1/predict", content=b"{not json", headers={"content-type": "application/json"}
        )
        metrics = c.get("/metrics").text
    assert wrong.status_code == 422
    detail = wrong.json()["detail"][0]
    assert detail["loc"] == ["body", "rows", 1, "f1"] and detail["input"] == "high"
    assert "'f1'" in detail["msg"] and "'high'" in detail["msg"]
    assert (
        missing.status_code == 422
        and "lacks feature 'region'" in missing.json()["detail"][0]["msg"]
    )
    assert garbage.status_code == 422
    assert 'potstill_errors_total{kind="validation"}' in metrics


def test_feedback_is_stored_and_refusals_are_clear(
    server: Server, rows: list[dict[str, Any]]
) -> None:
    with server.client() as c:
        rid = c.post("/v1/predict", json={"rows": rows[:2]}).json()["request_id"]
        ok = c.post("/v1/feedback", json={"request_id": rid, "labels": ["stay", "churn"]})
        one = c.post("/v1/feedback", json={"request_id": rid, "label": "stay", "row": 1})
        unknown = c.post("/v1/feedback", json={"request_id": "0" * 32, "label": "stay"})
        bad_label = c.post("/v1/feedback", json={"request_id": rid, "label": "maybe"})
        bad_row = c.post("/v1/feedback", json={"request_id": rid, "label": "stay", "row": 5})
    assert ok.json() == {"request_id": rid, "stored": 2} and one.status_code == 200
    assert unknown.status_code == 404
    assert (
        bad_label.status_code == 422 and "['churn', 'stay']" in bad_label.json()["detail"][0]["msg"]
    )
    assert (
        bad_row.status_code == 422 and "row 5 does not exist" in bad_row.json()["detail"][0]["msg"]
    )


def test_health_and_prometheus_metrics(server: Server, rows: list[dict[str, Any]]) -> None:
    with server.client() as c:
        c.post("/v1/predict", json={"rows": rows[:3]})
        health, ready, text = c.get("/healthz"), c.get("/readyz"), c.get("/metrics").text
    assert health.json() == {"status": "ok"} and ready.status_code == 200
    for name in ("potstill_request_duration_seconds_bucket", "potstill_predictions_total",
                 "potstill_errors_total", "potstill_shadow_agreement",
                 "potstill_shadow_dropped_total", 'potstill_feature_psi{feature="f0"}',
                 'potstill_feature_psi{feature="region"}',
                 'potstill_feature_psi{feature="prediction:score"}'):  # fmt: skip
        assert name in text, name


def test_the_shadow_teacher_scores_requests_off_the_request_path(
    server: Server, rows: list[dict[str, Any]]
) -> None:
    assert server.wait_shadow() == "ready"
    with server.client() as c:
        ids = [c.post("/v1/predict", json={"rows": [r]}).json()["request_id"] for r in rows[:30]]
    engine = open_store(server.store, create=False)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            stored = load_rows(engine)
            shadowed = set(stored.seq[stored.teacher >= 0].tolist())
            if len(shadowed) >= 30:
                break
            time.sleep(0.3)
        assert all(request_size(engine, i) == 1 for i in ids)
    finally:
        engine.dispose()
    assert len(shadowed) >= 30
    with server.client() as c:
        text = c.get("/metrics").text
    agreement = float(text.split("\npotstill_shadow_agreement ")[1].split()[0])
    assert 0.5 <= agreement <= 1.0


def test_a_full_shadow_queue_drops_and_counts(studied: Studied) -> None:
    drops: list[int] = []
    shadow = ShadowTeacher(
        studied.teacher, trust_pickle=False, rate=1.0, queue_size=2,
        on_result=lambda *a: None, on_error=lambda *a: None, on_drop=lambda: drops.append(1),
    )  # fmt: skip
    try:  # nothing is taken from the queue before the teacher has loaded (seconds away)
        queued = [
            shadow.offer(f"r{i}", np.zeros((1, 5), np.float32), np.zeros(1)) for i in range(50)
        ]
    finally:
        shadow.close()
    assert sum(queued) == 2 and len(drops) == 48 == shadow.dropped


def _wrong_teacher(path: Path) -> Path:
    """A teacher file that loads but takes 3 inputs instead of 5: every call fails."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)  # the legacy exporter
        torch.onnx.export(torch.nn.Linear(3, 2).eval(), (torch.zeros(1, 3),), str(path),
                          dynamo=False, input_names=["x"], dynamic_axes={"x": {0: "n"}})  # fmt: skip
    return path


def _load_until_stopped(
    url: str, rows: list[dict[str, Any]], acked: list[str], codes: list[int]
) -> None:
    with httpx.Client(base_url=url, timeout=10) as c:
        for i in range(5000):
            try:
                r = c.post("/v1/predict", json={"rows": [rows[i % len(rows)]]})
            except httpx.TransportError:  # the server was killed
                return
            codes.append(r.status_code)
            if r.status_code == 200:
                acked.append(r.json()["request_id"])


def test_failing_teacher_then_kill_9_under_load(
    studied: Studied, launch: Any, tmp_path: Path, rows: list[dict[str, Any]]
) -> None:
    """Teacher errors are counted and fail no request; a kill -9 of the server under load
    loses no acknowledged request, and the store passes its integrity check on restart."""
    wrong = _wrong_teacher(tmp_path / "wrong.onnx")
    server = launch(studied.student, tmp_path, "--teacher", str(wrong), "--shadow-rate", "1")
    acked: list[str] = []
    codes: list[int] = []
    assert server.wait_shadow() == "ready"
    threads = [threading.Thread(target=_load_until_stopped, args=(server.url, rows, acked, codes))
               for _ in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    deadline, text = time.monotonic() + 60, ""
    with server.client() as c:
        while time.monotonic() < deadline and (
            len(acked) < 200 or 'potstill_errors_total{kind="teacher"}' not in text
        ):
            time.sleep(0.2)
            text = c.get("/metrics").text
    server.stop(kill=True)
    for t in threads:
        t.join(30)
    assert len(acked) >= 200 and set(codes) == {200}
    assert float(text.split('potstill_errors_total{kind="teacher"} ')[1].split()[0]) >= 1
    again = launch(studied.student, tmp_path, store=server.store)
    try:
        with again.client() as c:
            assert c.post("/v1/predict", json={"rows": rows[:1]}).status_code == 200
    finally:
        again.stop()
    engine = open_store(server.store, create=False)
    try:
        assert integrity_check(engine) == "ok"
        lost = [i for i in acked if request_size(engine, i) != 1]
    finally:
        engine.dispose()
    assert lost == []


def test_replay_and_monitor_catch_injected_drift(
    studied: Studied, launch: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = launch(studied.student, tmp_path)
    try:
        common = [str(studied.student), "--data", str(studied.csv), "--url", server.url]
        assert _run("replay", *common, "--rows", "300", "--feedback", "0.5") == 0
        capsys.readouterr()
        clean = _run(
            "monitor", server.store, "--window", "100", "--report", str(tmp_path / "m.html")
        )
        table = capsys.readouterr().out
        assert _run("replay", *common, "--rows", "100", "--drift", "noise=2.0", "--seed", "1") == 0
        drifted = _run("monitor", server.store, "--window", "100")
    finally:
        server.stop()
    summary = json.loads(table.strip().splitlines()[-1])
    assert "potstill monitor" in table and summary["broken"] is False and summary["windows"] == 3
    assert clean == 0 and drifted == 1
    assert "<img" in (tmp_path / "m.html").read_text()
    result = api.monitor(server.store, window="100")
    assert [bool(w["alarms"]) for w in result.windows] == [False, False, False, True]
    assert any(a.startswith("drift f") for a in result.latest["alarms"])
    assert result.windows[0]["accuracy"]["n"] > 0


def test_the_same_server_on_postgresql(
    studied: Studied, launch: Any, tmp_path: Path, postgres_db: str, rows: list[dict[str, Any]]
) -> None:
    server = launch(studied.student, tmp_path, store=postgres_db)
    try:
        with server.client() as c:
            codes = {c.post("/v1/predict", json={"rows": [r]}).status_code for r in rows[:40]}
    finally:
        server.stop()
    assert codes == {200}
    result = api.monitor(postgres_db, window="20", resamples=200)
    assert [w["rows"] for w in result.windows] == [20, 20]
