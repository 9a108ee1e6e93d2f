"""The live store: requests, both models' outputs, latencies and feedback (SQLAlchemy Core).

SQLite in WAL mode is the embedded default (``synchronous=NORMAL``: a committed row
survives the server being killed; add ``?synchronous=full`` semantics with a PostgreSQL
server when power loss matters); PostgreSQL is used by URL. One writer thread owns all
writes and commits in groups: a prediction is answered only after the transaction holding
its rows has committed, so an acknowledged request is never lost when the server dies.

Tables (``potstill_`` prefix): ``meta`` (schema version, the student's schema and
reference profile, so ``potstill monitor STORE`` needs nothing else), ``requests``,
``predictions`` (one row per predicted row, its features and the student's output),
``shadow`` (the teacher's output for the shadowed rows) and ``feedback`` (true labels).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from potstill.errors import StoreError, missing_dependency

try:
    from sqlalchemy import (
        BigInteger,
        Boolean,
        Column,
        Engine,
        Float,
        Index,
        Integer,
        MetaData,
        String,
        Table,
        Text,
        create_engine,
        delete,
        event,
        func,
        insert,
        inspect,
        select,
        text,
    )
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError
except ImportError as exc:  # the [serve] extra
    raise missing_dependency("sqlalchemy", extra="serve", purpose="the live store") from exc

__all__ = [
    "SCHEMA_VERSION",
    "StoreWriter",
    "WriteJob",
    "feedback",
    "integrity_check",
    "meta",
    "open_store",
    "predictions",
    "read_meta",
    "request_size",
    "requests",
    "shadow",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # 2: requests.model (which model answered)
_SEQ = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

metadata = MetaData()
meta = Table(
    "potstill_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
requests = Table(
    "potstill_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("ts", Float, nullable=False, index=True),
    Column("n_rows", Integer, nullable=False),
    Column("latency_ms", Float, nullable=False),
    Column("shadowed", Boolean, nullable=False),
    Column("model", String(16), nullable=False, default="student"),  # or "teacher"
)
predictions = Table(
    "potstill_predictions",
    metadata,
    Column("seq", _SEQ, primary_key=True, autoincrement=True),
    Column("request_id", String(32), nullable=False),
    Column("row", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("features", Text, nullable=False),
    Column("student_class", Integer, nullable=False),
    Column("student_proba", Text, nullable=False),
    Index("ix_potstill_predictions_request", "request_id", "row", unique=True),
)
shadow = Table(
    "potstill_shadow",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("ts", Float, nullable=False),
    Column("teacher_class", Integer, nullable=False),
    Column("teacher_proba", Text, nullable=False),
    Column("teacher_ms", Float, nullable=False),
)
feedback = Table(
    "potstill_feedback",
    metadata,
    Column("request_id", String(32), primary_key=True),
    Column("row", Integer, primary_key=True),
    Column("label", Integer, nullable=False),
    Column("ts", Float, nullable=False),
)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"The store URL {url!r} is not a SQLAlchemy URL: {exc}.") from exc
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise StoreError(
            f"The store URL {parsed.render_as_string()} names {parsed.get_backend_name()!r}; "
            "potstill stores live traffic in SQLite (a path or sqlite:///file) or PostgreSQL "
            "(postgresql+psycopg://...)."
        )
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except ImportError as exc:  # the driver, e.g. psycopg
        raise missing_dependency(
            exc.name or "psycopg", extra="serve", purpose="a PostgreSQL store"
        ) from exc


def read_meta(engine: Engine) -> dict[str, Any]:
    """The store's meta table as a dict (JSON values decoded)."""
    with engine.connect() as conn:
        rows = conn.execute(select(meta.c.key, meta.c.value)).all()
    return {k: json.loads(v) for k, v in rows}


def _check_version(engine: Engine, where: str) -> None:
    found = read_meta(engine).get("schema_version")
    if found is None:
        with engine.begin() as conn:
            conn.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif found != SCHEMA_VERSION:
        raise StoreError(
            f"The store {where} has schema version {found}; this potstill writes version "
            f"{SCHEMA_VERSION}. Use a new store (another --store)."
        )


def _bind_student(engine: Engine, student: dict[str, Any], where: str) -> None:
    """Record the student served (schema, reference); refuse a store of another student."""
    current = read_meta(engine)
    served = current.get("student")
    if served is not None and served.get("sha256") != student["describe"]["sha256"]:
        raise StoreError(
            f"The store {where} holds the traffic of another student (sha256 "
            f"{served.get('sha256')}); mixing them would corrupt its monitoring. Use a new "
            "store for this student (--store)."
        )
    with engine.begin() as conn:
        conn.execute(delete(meta).where(meta.c.key.in_(["student", "schema", "reference"])))
        conn.execute(
            insert(meta),
            [
                {"key": "student", "value": json.dumps(student["describe"])},
                {"key": "schema", "value": json.dumps(student["schema"])},
                {"key": "reference", "value": json.dumps(student["reference"])},
            ],
        )


def open_store(url: str, student: dict[str, Any] | None = None, create: bool = True) -> Engine:
    """Connect to the store at ``url``; create its tables and record ``student``
    (``{"describe", "schema", "reference"}``) when given; refuse a foreign schema version."""
    engine = _engine(url)
    parsed = make_url(url)
    where = parsed.render_as_string(hide_password=True)
    is_sqlite_file = parsed.get_backend_name() == "sqlite" and bool(parsed.database)
    if not create and is_sqlite_file and not Path(str(parsed.database)).is_file():
        engine.dispose()  # (sqlite would create an empty file)
        raise StoreError(
            f"The store file {parsed.database} does not exist. Give the --store of a "
            "'potstill serve' run."
        )
    try:
        if create:
            metadata.create_all(engine)
        elif not inspect(engine).has_table(meta.name):
            raise StoreError(
                f"The store {where} holds no potstill traffic (no {meta.name} table). Give the "
                "--store of a 'potstill serve' run."
            )
        _check_version(engine, where)
        if student is not None:
            _bind_student(engine, student, where)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(f"Cannot open the store {where}: {exc.__class__.__name__}: {exc}") from exc
    except StoreError:
        engine.dispose()
        raise
    return engine


def request_size(engine: Engine, request_id: str) -> int | None:
    """Rows of request ``request_id``, or None when the store does not know it."""
    with engine.connect() as conn:
        return conn.execute(
            select(requests.c.n_rows).where(requests.c.id == request_id)
        ).scalar_one_or_none()


def integrity_check(engine: Engine) -> str:
    """SQLite's ``PRAGMA integrity_check`` ("ok" when sound); a row count on PostgreSQL."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return str(conn.execute(text("PRAGMA integrity_check")).scalar())
        conn.execute(select(func.count()).select_from(predictions)).scalar()
        return "ok"


@dataclass
class WriteJob:
    """One unit of writes; ``done`` is set once committed (``error`` when it failed)."""

    kind: str  # "request" | "shadow" | "feedback"
    rows: dict[str, list[dict[str, Any]]]
    done: threading.Event = field(default_factory=threading.Event)
    error: str | None = None


class StoreWriter:
    """The single writer thread: group commits, then retention every ``_RETAIN_EVERY`` jobs."""

    _BATCH = 512
    _RETAIN_EVERY = 2000

    def __init__(self, engine: Engine, retention_rows: int) -> None:
        self.engine = engine
        self.retention_rows = retention_rows
        self._jobs: queue.Queue[WriteJob | None] = queue.Queue(maxsize=50_000)
        self._since_retention = 0
        self._thread = threading.Thread(target=self._run, name="potstill-store", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def submit(self, kind: str, rows: dict[str, list[dict[str, Any]]]) -> WriteJob:
        job = WriteJob(kind, rows)
        self._jobs.put(job, timeout=10)
        return job

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread."""
        if self._thread.is_alive():
            self._jobs.put(None, timeout=timeout)
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._jobs.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self._BATCH:
                try:
                    job = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                batch.append(job)
            self._commit(batch)
        self.engine.dispose()

    def _commit(self, batch: Sequence[WriteJob]) -> None:
        try:
            self._write(batch)
        except SQLAlchemyError as exc:
            if len(batch) > 1:  # isolate the job that broke the group
                for job in batch:
                    self._commit([job])
                return
            batch[0].error = f"{exc.__class__.__name__}: {exc}"
            log.error("store write failed: %s", batch[0].error)
        for job in batch:
            job.done.set()
        self._since_retention += len(batch)
        if self._since_retention >= self._RETAIN_EVERY:
            self._since_retention = 0
            self._retain()

    def _write(self, batch: Sequence[WriteJob]) -> None:
        tables = {t.name: t for t in (requests, predictions, shadow, feedback)}
        grouped: dict[str, list[dict[str, Any]]] = {}
        for job in batch:
            for name, rows in job.rows.items():
                grouped.setdefault(name, []).extend(rows)
        with self.engine.begin() as conn:
            for name in (requests.name, predictions.name, shadow.name, feedback.name):
                if not grouped.get(name):
                    continue
                rows = grouped[name]
                if name == feedback.name:  # a later label for the same row replaces it
                    for r in rows:
                        conn.execute(
                            delete(feedback).where(
                                (feedback.c.request_id == r["request_id"])
                                & (feedback.c.row == r["row"])
                            )
                        )
                conn.execute(insert(tables[name]), rows)

    def _retain(self) -> None:
        """Delete predictions beyond the newest ``retention_rows``, and what hangs off them."""
        try:
            with self.engine.begin() as conn:
                newest = conn.execute(select(func.max(predictions.c.seq))).scalar()
                if newest is None or newest <= self.retention_rows:
                    return
                cut = newest - self.retention_rows
                cut_ts = conn.execute(
                    select(func.min(predictions.c.ts)).where(predictions.c.seq > cut)
                ).scalar()
                conn.execute(delete(predictions).where(predictions.c.seq <= cut))
                for table in (requests, shadow, feedback):
                    conn.execute(delete(table).where(table.c.ts < cut_ts))
        except SQLAlchemyError as exc:
            log.error("store retention failed: %s", exc)
