"""The live store on SQLite and on a real PostgreSQL server: writes, meta, retention, refusals."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from potstill.errors import StoreError
from potstill.serve.monitor import load_rows
from potstill.serve.store import (
    StoreWriter,
    integrity_check,
    metadata,
    predictions,
    read_meta,
    request_size,
)
from potstill.serve.store import open_store as _open_store

_ENGINES: list[Any] = []


def open_store(*args: Any, **kwargs: Any) -> Any:
    engine = _open_store(*args, **kwargs)
    _ENGINES.append(engine)
    return engine


@pytest.fixture(autouse=True)
def _dispose() -> Any:
    yield
    while _ENGINES:
        _ENGINES.pop().dispose()


STUDENT = {"describe": {"sha256": "a" * 64}, "schema": {"features": [{"name": "x"}]},
           "reference": {"inputs": {}}}  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
        return
    yield request.getfixturevalue("postgres_db")


def _request(n_rows: int, cls: int = 1) -> dict[str, list[dict[str, Any]]]:
    rid, now = uuid.uuid4().hex, time.time()
    return {
        "potstill_requests": [{"id": rid, "ts": now, "n_rows": n_rows, "latency_ms": 1.0,
                               "shadowed": True}],
        "potstill_predictions": [{"request_id": rid, "row": i, "ts": now,
                                  "features": json.dumps([float(i)]), "student_class": cls,
                                  "student_proba": json.dumps([0.2, 0.8])} for i in range(n_rows)],
        "potstill_shadow": [{"request_id": rid, "row": i, "ts": now, "teacher_class": 1,
                             "teacher_proba": "[0.1, 0.9]", "teacher_ms": 0.5} for i in range(n_rows)],
    }  # fmt: skip


def test_writes_commit_and_read_back_joined(url: str) -> None:
    engine = open_store(url, STUDENT)
    writer = StoreWriter(engine, retention_rows=1000)
    jobs = [writer.submit("request", _request(2)) for _ in range(30)]
    assert all(j.done.wait(30) and j.error is None for j in jobs)
    rid = jobs[0].rows["potstill_requests"][0]["id"]
    fb = writer.submit("feedback", {"potstill_feedback": [{"request_id": rid, "row": 1, "label": 0,
                                                            "ts": time.time()}]})  # fmt: skip
    again = writer.submit("feedback", {"potstill_feedback": [{"request_id": rid, "row": 1,
                                                               "label": 1, "ts": time.time()}]})  # fmt: skip
    assert fb.done.wait(30) and again.done.wait(30) and again.error is None
    writer.close()
    engine = open_store(url)
    rows = load_rows(engine)
    assert len(rows) == 60 and set(rows.teacher.tolist()) == {1}
    assert sorted(rows.label.tolist()).count(1) == 1  # the later label replaced the first
    assert request_size(engine, rid) == 2 and request_size(engine, "nope") is None
    assert read_meta(engine)["student"]["sha256"] == "a" * 64
    assert integrity_check(engine) == "ok"


def test_a_failing_job_is_isolated_from_its_group(url: str) -> None:
    engine = open_store(url, STUDENT)
    writer = StoreWriter(engine, retention_rows=1000)
    good = _request(1)
    dup = writer.submit("request", good)
    assert dup.done.wait(30) and dup.error is None
    jobs = [writer.submit("request", _request(1)), writer.submit("request", good)]
    assert jobs[0].done.wait(30) and jobs[1].done.wait(30)
    assert jobs[0].error is None and jobs[1].error is not None  # the duplicate id only
    writer.close()


def test_retention_keeps_the_newest_rows(url: str) -> None:
    engine = open_store(url, STUDENT)
    writer = StoreWriter(engine, retention_rows=100)
    writer._RETAIN_EVERY = 10
    jobs = [writer.submit("request", _request(5)) for _ in range(60)]
    assert all(j.done.wait(30) for j in jobs)
    writer.close()
    with open_store(url).connect() as conn:
        kept = conn.execute(select(func.count()).select_from(predictions)).scalar()
    assert 100 <= kept < 300


def test_a_store_of_another_student_or_version_is_refused(url: str) -> None:
    open_store(url, STUDENT).dispose()
    other = {**STUDENT, "describe": {"sha256": "b" * 64}}
    with pytest.raises(StoreError, match="another student"):
        open_store(url, other)
    engine = open_store(url)
    with engine.begin() as conn:
        conn.execute(metadata.tables["potstill_meta"].update().values(value="99")
                     .where(metadata.tables["potstill_meta"].c.key == "schema_version"))  # fmt: skip
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(url)


def test_unsupported_or_empty_stores_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"SQLite .* or PostgreSQL"):
        open_store("mysql://x@localhost/db")
    with pytest.raises(StoreError, match="not a SQLAlchemy URL"):
        open_store("::nonsense::")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(f"sqlite:///{tmp_path / 'none.db'}", create=False)
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(StoreError, match="holds no potstill traffic"):
        open_store(f"sqlite:///{tmp_path / 'empty.db'}", create=False)
