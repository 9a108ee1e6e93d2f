"""Prometheus metrics of a serving student, and the live gauges behind them.

Counters and the latency histogram are updated on the request path (constant time). The
drift and agreement gauges are computed when ``/metrics`` is scraped, over the most recent
``window`` rows held in memory: PSI of every input and of the student's score against
the reference profile's bins, and the share of recent shadowed rows where student and
teacher agree. ``potstill monitor`` judges the same statistics with calibrated thresholds.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

from potstill.errors import missing_dependency

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
except ImportError as exc:  # the [serve] extra
    raise missing_dependency("prometheus-client", extra="serve", purpose="potstill serve") from exc

from potstill.evaluate.drift import (
    CategoricalReference,
    NumericReference,
    Reference,
    bin_counts,
    psi,
    smoothed_shares,
)

__all__ = ["LiveMetrics", "window_psi"]

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def window_psi(ref: Reference, values: np.ndarray) -> float:
    """PSI of ``values`` against a reference (categories: on smoothed category shares)."""
    if isinstance(ref, NumericReference):
        return float(psi(np.asarray(ref.shares), bin_counts(values, ref.edges) / len(values)))
    assert isinstance(ref, CategoricalReference)
    counts = np.bincount(ref.codes(values.tolist()), minlength=len(ref.categories) + 1)
    expected = smoothed_shares(np.append(np.asarray(ref.shares) * ref.n, 0.0))
    return float(psi(expected, smoothed_shares(counts)))


class LiveMetrics:
    """One registry per server (tests run several in a process)."""

    def __init__(self, inputs: list[Reference], score: Reference | None, window: int) -> None:
        r = self.registry = CollectorRegistry()
        self.duration = Histogram(
            "potstill_request_duration_seconds", "Time to answer a request, by endpoint.",
            ["endpoint"], registry=r, buckets=_BUCKETS,
        )  # fmt: skip
        self.predictions = Counter(
            "potstill_predictions", "Rows predicted by the student.", registry=r
        )
        self.errors = Counter(
            "potstill_errors",
            "Failures by kind: validation (422), store, internal (500), teacher (shadow only).",
            ["kind"],
            registry=r,
        )
        self.shadow_agreement = Gauge(
            "potstill_shadow_agreement",
            "Share of recent shadowed rows where student and teacher predict the same class.",
            registry=r,
        )
        self.shadow_dropped = Counter(
            "potstill_shadow_dropped",
            "Sampled requests dropped because the teacher's queue was full.",
            registry=r,
        )
        self.shadow_rows = Counter(
            "potstill_shadow_rows", "Rows scored by the teacher.", registry=r
        )
        self.feedback = Counter("potstill_feedback", "Labels received on /v1/feedback.", registry=r)
        self.feature_psi = Gauge(
            "potstill_feature_psi",
            "PSI of each input (and of the student's score) over the recent rows, on the "
            "reference profile's bins.",
            ["feature"],
            registry=r,
        )
        self._breaker_metrics(r)
        self._inputs, self._score = inputs, score
        self._rows: deque[np.ndarray] = deque(maxlen=window)
        self._scores: deque[float] = deque(maxlen=window)
        self._agree: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()

    def _breaker_metrics(self, r: CollectorRegistry) -> None:
        """Who answered, and the circuit breaker's state and judged windows."""
        self.answers = Counter(
            "potstill_answers",
            "Requests answered, by the model whose output was returned (the teacher answers "
            "while the circuit breaker is open).",
            ["model"],
            registry=r,
        )
        self.breaker_open = Gauge(
            "potstill_breaker_open",
            "1 while the circuit breaker routes traffic to the teacher, 0 while the student "
            "answers, -1 when the breaker is off.",
            registry=r,
        )
        self.breaker_open.set(-1)
        self.breaker_windows = Counter(
            "potstill_breaker_windows",
            "Windows judged by the circuit breaker, by verdict (good or bad).",
            ["verdict"],
            registry=r,
        )

    def observe_rows(self, X: np.ndarray, scores: np.ndarray) -> None:
        self.predictions.inc(len(X))
        with self._lock:
            self._rows.extend(X)
            self._scores.extend(scores.tolist())

    def observe_shadow(self, agree: np.ndarray) -> None:
        self.shadow_rows.inc(len(agree))
        with self._lock:
            self._agree.extend(agree.tolist())

    def render(self) -> bytes:
        """Refresh the live gauges, then the whole registry in the text format."""
        with self._lock:
            rows = np.asarray(self._rows, dtype=np.float64) if self._rows else None
            scores = np.asarray(self._scores, dtype=np.float64)
            agree = list(self._agree)
        if rows is not None:
            for j, ref in enumerate(self._inputs):
                self.feature_psi.labels(feature=ref.name).set(window_psi(ref, rows[:, j]))
        if self._score is not None and len(scores):
            self.feature_psi.labels(feature=self._score.name).set(window_psi(self._score, scores))
        self.shadow_agreement.set(float(np.mean(agree)) if agree else float("nan"))
        return generate_latest(self.registry)
