"""The serving logic without the web framework: predict, feedback, readiness, shutdown.

:class:`ServingRuntime` holds the student's ONNX Runtime session, the store writer, the
metrics and the optional shadow teacher. :mod:`potstill.serve.app` maps HTTP onto it.
"""

from __future__ import annotations

import json
import logging
import queue
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from potstill.errors import ConfigError
from potstill.evaluate.drift import NumericReference
from potstill.serve.breaker import CircuitBreaker
from potstill.serve.bundle import Bundle, load_bundle, references, softmax
from potstill.serve.config import ServeConfig, store_url
from potstill.serve.metrics import LiveMetrics
from potstill.serve.shadow import ShadowItem, ShadowTeacher
from potstill.serve.store import StoreWriter, open_store, request_size
from potstill.serve.teacher_proc import TeacherFailed, TeacherProcess, parse_cpus
from potstill.serve.validation import RequestError, rows_to_array

__all__ = ["Conflict", "NotFound", "ServingRuntime", "StoreUnavailable", "default_store"]

log = logging.getLogger(__name__)

_COMMIT_TIMEOUT_S = 10.0
#: How long a request waits for the teacher while the breaker is open; then the student answers.
_FALLBACK_TIMEOUT_S = 5.0


class NotFound(Exception):
    """A feedback for a request the store does not know (404)."""


class StoreUnavailable(Exception):
    """The store did not commit a write (503): the request was not acknowledged."""


class Conflict(Exception):
    """A request the server's settings do not allow (409), e.g. a breaker that is off."""


def default_store(bundle: Bundle) -> str:
    return store_url(bundle.folder / "serving" / "live.db")


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _score(probs: np.ndarray) -> np.ndarray:
    """The scalar the reference profiles: P(class 1) for two classes, else the top one."""
    return probs[:, 1] if probs.shape[1] == 2 else probs.max(axis=1)


class ServingRuntime:
    """A student ready to answer: session, store, metrics, shadow teacher."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        if config.breaker_windows is not None and config.teacher is None:
            raise ConfigError(
                "The '--breaker-windows' option needs --teacher: an open breaker routes the "
                "requests to the teacher. Give --teacher, or leave the breaker off."
            )
        shadow_cpus = parse_cpus(config.shadow_cpus)
        self.bundle = load_bundle(config.student)
        self.store = config.store or default_store(self.bundle)
        student = {
            "describe": self.bundle.describe(),
            "schema": self.bundle.schema,
            "reference": self.bundle.reference,
        }
        self.engine = open_store(store_url(self.store), student)
        self.writer = StoreWriter(self.engine, config.retention_rows)
        refs = {r.name: r for r in references(self.bundle.reference)}
        score = refs.get("prediction:score")
        self.metrics = LiveMetrics(
            [refs[n] for n in self.bundle.features],
            score if isinstance(score, NumericReference) else None,
            config.metrics_window,
        )
        self.session = _session(self.bundle.onnx_path, config.threads)
        self._input = self.session.get_inputs()[0].name
        self.shadow: ShadowTeacher | None = None
        if config.teacher is not None and config.shadow_rate > 0:
            self.shadow = ShadowTeacher(
                config.teacher, trust_pickle=config.trust_pickle, rate=config.shadow_rate,
                queue_size=config.shadow_queue, on_result=self._shadow_result,
                on_error=self._shadow_error, on_drop=self.metrics.shadow_dropped.inc,
                seed=config.seed, cpus=shadow_cpus,
            )  # fmt: skip
        self.fallback: TeacherProcess | None = None
        self.breaker: CircuitBreaker | None = None
        if config.breaker_windows is not None and config.teacher is not None:
            self._start_breaker(config, config.teacher)

    def _start_breaker(self, config: ServeConfig, teacher: Path) -> None:
        self.breaker = CircuitBreaker(
            self.engine, self.bundle.reference, self.bundle.features, self.metrics,
            open_after=int(config.breaker_windows or 1), close_after=config.breaker_close_windows,
            window_rows=config.breaker_window_rows, interval=config.breaker_interval,
        )  # fmt: skip
        self.fallback = TeacherProcess(
            teacher, trust_pickle=config.trust_pickle, lowest_priority=False,
            name="potstill-fallback-teacher",
        )  # fmt: skip

    # ------------------------------------------------------------------ requests

    def predict(self, payload: Any) -> dict[str, Any]:
        """Validate, predict, queue the shadow copy (or, breaker open, ask the teacher),
        commit, answer (see the module doc)."""
        start = time.perf_counter()
        X = rows_to_array(payload, self.bundle.features, self.config.max_rows)
        logits = self.session.run(None, {self._input: X})[0]
        probs = softmax(np.asarray(logits, dtype=np.float64))
        classes = probs.argmax(axis=1)
        request_id, now = uuid.uuid4().hex, time.time()
        teacher = self._teacher_answer(X) if self.breaker and self.breaker.is_open else None
        shadowed = teacher is not None
        if teacher is None and self.shadow is not None:
            shadowed = self.shadow.offer(request_id, X, classes)
        model = "student" if teacher is None else "teacher"
        latency_ms = 1000.0 * (time.perf_counter() - start)
        rows = {
            "potstill_requests": [
                {"id": request_id, "ts": now, "n_rows": len(X), "latency_ms": latency_ms,
                 "shadowed": shadowed, "model": model}
            ],
            "potstill_predictions": [
                {"request_id": request_id, "row": i, "ts": now,
                 "features": json.dumps(X[i].tolist()), "student_class": int(classes[i]),
                 "student_proba": json.dumps(probs[i].tolist())}
                for i in range(len(X))
            ],
        }  # fmt: skip
        if teacher is not None:
            rows["potstill_shadow"] = _teacher_rows(request_id, now, *teacher)
        self._commit("request", rows)
        self.metrics.observe_rows(X, _score(probs))
        self.metrics.answers.labels(model=model).inc()
        answer = probs if teacher is None else teacher[0]
        if teacher is not None:
            self.metrics.observe_shadow(answer.argmax(axis=1) == classes)
        names = self.bundle.classes
        return {
            "request_id": request_id,
            "model": model,
            "predictions": [names[c] for c in answer.argmax(axis=1)],
            "probabilities": answer.tolist(),
            "classes": names,
        }

    def _teacher_answer(self, X: np.ndarray) -> tuple[np.ndarray, float] | None:
        """(probabilities, ms per row) from the fallback teacher; None (the student answers,
        the failure is counted) when it cannot."""
        assert self.fallback is not None
        try:
            probs, seconds = self.fallback.predict(X, timeout=_FALLBACK_TIMEOUT_S)
            if probs.shape != (len(X), len(self.bundle.classes)):
                raise TeacherFailed(f"it returned shape {probs.shape} for {len(X)} row(s)")
        except TeacherFailed as exc:
            self.metrics.errors.labels(kind="teacher").inc()
            log.warning("breaker open but the teacher cannot answer; the student does: %s", exc)
            return None
        return probs, 1000.0 * seconds / len(X)

    # ------------------------------------------------------------------ breaker

    def breaker_status(self) -> dict[str, Any]:
        if self.breaker is None:
            return {"enabled": False, "open": False, "answering": "student"}
        return {**self.breaker.status(), "teacher": self.fallback.state if self.fallback else None}

    def set_breaker(self, payload: Any) -> dict[str, Any]:
        """``{"state": "open" | "closed"}``: open or close the breaker by hand."""
        if (
            not isinstance(payload, dict)
            or set(payload) - {"state", "reason"}
            or payload.get("state") not in ("open", "closed")
        ):
            raise RequestError(
                [_feedback_detail("state", "The body must be {\"state\": \"open\"} or "
                                  "{\"state\": \"closed\"} (and an optional \"reason\").", payload)]
            )  # fmt: skip
        if self.breaker is None:
            raise Conflict("The circuit breaker is off; start the server with --breaker-windows.")
        reason = str(payload.get("reason") or "set by hand (POST /v1/breaker)")
        self.breaker.set_open(payload["state"] == "open", reason)
        return self.breaker_status()

    def feedback(self, payload: Any) -> dict[str, Any]:
        """Store the true label(s) of an earlier request."""
        request_id, labels = self._feedback_labels(payload)
        size = request_size(self.engine, request_id)
        if size is None:
            raise NotFound(f"No request {request_id!r} in the store (unknown or past retention).")
        rows = [(int(r), label) for r, label in labels]
        bad = [r for r, _ in rows if not 0 <= r < size]
        if bad:
            raise RequestError(
                [_feedback_detail("row", f"Request {request_id!r} has {size} row(s); row {bad[0]} "
                                  "does not exist.", bad[0])]
            )  # fmt: skip
        now = time.time()
        self._commit(
            "feedback",
            {"potstill_feedback": [
                {"request_id": request_id, "row": r, "label": label, "ts": now} for r, label in rows
            ]},
        )  # fmt: skip
        self.metrics.feedback.inc(len(rows))
        return {"request_id": request_id, "stored": len(rows)}

    def _feedback_labels(self, payload: Any) -> tuple[str, list[tuple[int, int]]]:
        if not isinstance(payload, dict) or not isinstance(payload.get("request_id"), str):
            raise RequestError(
                [_feedback_detail("request_id", "The body must be a JSON object with a "
                                  "'request_id' string and a 'label' (or a 'labels' list).", payload)]
            )  # fmt: skip
        unknown = sorted(set(payload) - {"request_id", "label", "labels", "row"})
        if unknown:
            raise RequestError([_feedback_detail(unknown[0], f"Unknown key {unknown[0]!r}.", None)])
        if "labels" in payload:
            values = payload["labels"]
            if not isinstance(values, list) or not values:
                raise RequestError(
                    [_feedback_detail("labels", "'labels' must be a non-empty list.", values)]
                )
            pairs = list(enumerate(values))
        elif "label" in payload:
            row = payload.get("row", 0)
            if isinstance(row, bool) or not isinstance(row, int):
                raise RequestError([_feedback_detail("row", "'row' must be an integer.", row)])
            pairs = [(row, payload["label"])]
        else:
            raise RequestError([_feedback_detail("label", "Give 'label' (or 'labels').", None)])
        return payload["request_id"], [(r, self._class_index(v)) for r, v in pairs]

    def _class_index(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            name = None
        elif isinstance(value, float) and value.is_integer():
            name = str(int(value))
        else:
            name = str(value)
        classes = self.bundle.classes
        if name not in classes:
            raise RequestError(
                [_feedback_detail("label", f"Label {value!r} is not a class of the student. "
                                  f"Classes: {classes}.", value)]
            )  # fmt: skip
        return classes.index(name)

    def _commit(self, kind: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        try:
            job = self.writer.submit(kind, rows)
        except queue.Full:
            self.metrics.errors.labels(kind="store").inc()
            raise StoreUnavailable("The store's write queue is full; retry later.") from None
        if not job.done.wait(_COMMIT_TIMEOUT_S):
            self.metrics.errors.labels(kind="store").inc()
            raise StoreUnavailable(f"The store did not commit within {_COMMIT_TIMEOUT_S:.0f} s.")
        if job.error is not None:
            self.metrics.errors.labels(kind="store").inc()
            raise StoreUnavailable(f"The store refused the write: {job.error}")

    # ------------------------------------------------------------------ shadow

    def _shadow_result(self, items: list[ShadowItem], probs: np.ndarray, ms_per_row: float) -> None:
        now, start = time.time(), 0
        rows: list[dict[str, Any]] = []
        agree: list[np.ndarray] = []
        for item in items:
            part = probs[start : start + len(item.X)]
            start += len(item.X)
            agree.append(part.argmax(axis=1) == item.student_classes)
            rows.extend(_teacher_rows(item.request_id, now, part, ms_per_row))
        self.writer.submit("shadow", {"potstill_shadow": rows})  # not waited for
        self.metrics.observe_shadow(np.concatenate(agree))

    def _shadow_error(self, n_requests: int, why: str) -> None:
        self.metrics.errors.labels(kind="teacher").inc(n_requests)
        log.warning("shadow teacher: %d request(s) not scored: %s", n_requests, why)

    # ------------------------------------------------------------------ lifecycle

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        ready = self.writer.alive
        breaker = self.breaker_status()
        return ready, {
            "ready": ready,
            "student": self.bundle.describe(),
            "store": "ok" if self.writer.alive else "writer stopped",
            "shadow": self.shadow.state if self.shadow else "off",
            "breaker": ("open" if breaker["open"] else "closed") if breaker["enabled"] else "off",
        }

    def close(self) -> None:
        if self.breaker is not None:
            self.breaker.close()
        if self.shadow is not None:
            self.shadow.close()
        if self.fallback is not None:
            self.fallback.close()
        self.writer.close()


def _teacher_rows(
    request_id: str, now: float, probs: np.ndarray, ms_per_row: float
) -> list[dict[str, Any]]:
    teacher = probs.argmax(axis=1)
    return [
        {"request_id": request_id, "row": i, "ts": now, "teacher_class": int(teacher[i]),
         "teacher_proba": json.dumps(probs[i].tolist()), "teacher_ms": ms_per_row}
        for i in range(len(probs))
    ]  # fmt: skip


def _feedback_detail(field: str, msg: str, value: Any) -> dict[str, Any]:
    return {"loc": ["body", field], "msg": msg, "input": value, "type": "value_error"}
