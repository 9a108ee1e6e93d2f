"""The circuit breaker: after N consecutive bad windows of live traffic, the teacher answers.

Design: the server judges its own store on a timer (a daemon thread), with the very
checks of ``potstill monitor`` (:func:`potstill.serve.monitor.judge_window`: drift above
its calibrated threshold, agreement below the study's interval, live accuracy below the
gate). The alternative — ``potstill monitor --trip URL`` run by cron — needs a second
process to be scheduled, kept alive and authorised to flip the server, and trips nothing
when it is not running; the in-process timer has no such failure mode and reads the same
rows the server just committed.

- Windows are consecutive, non-overlapping runs of ``window_rows`` predictions, starting
  after the newest prediction the store held when the server started. A window is judged
  once its newest row is ``SETTLE_S`` old (the shadow teacher's answers have landed), with
  whatever feedback labels have arrived by then.
- Closed: ``open_after`` consecutive bad windows open the breaker. Open: requests are
  answered by the teacher (the student still predicts and is stored, so its windows are
  still judged, now with the teacher's answer on every row); ``close_after`` consecutive
  good windows close it again. ``POST /v1/breaker`` opens or closes it by hand (the
  counts restart).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine  # the [serve] extra (monitor's import says so when absent)

from potstill.evaluate.drift_calibration import Thresholds, calibrate
from potstill.serve.metrics import LiveMetrics
from potstill.serve.monitor import judge_window, judging_context, load_rows

__all__ = ["SETTLE_S", "BreakerState", "CircuitBreaker"]

log = logging.getLogger(__name__)

#: Age a window's newest row must reach before the window is judged.
SETTLE_S = 2.0
_MAX_WINDOWS_PER_STEP = 20
_ALPHA = 0.002
_RESAMPLES = 2000


@dataclass
class BreakerState:
    """The counting rule, without threads or I/O."""

    open_after: int
    close_after: int
    open: bool = False
    bad: int = 0  # consecutive bad windows while closed
    good: int = 0  # consecutive good windows while open

    def record(self, bad: bool) -> bool:
        """Count one judged window; True when the breaker opened or closed."""
        if self.open:
            self.good = 0 if bad else self.good + 1
            if self.good >= self.close_after:
                self.open, self.good = False, 0
                return True
        else:
            self.bad = self.bad + 1 if bad else 0
            if self.bad >= self.open_after:
                self.open, self.bad = True, 0
                return True
        return False

    def force(self, open_: bool) -> bool:
        changed, self.open, self.bad, self.good = open_ != self.open, open_, 0, 0
        return changed


class CircuitBreaker:
    """Judges the server's store every ``interval`` seconds (see the module doc)."""

    def __init__(
        self, engine: Engine, study: dict[str, Any], names: list[str], metrics: LiveMetrics, *,
        open_after: int, close_after: int, window_rows: int, interval: float,
    ) -> None:  # fmt: skip
        self.engine, self.metrics = engine, metrics
        self.state = BreakerState(open_after, close_after)
        self.window_rows, self.interval = window_rows, interval
        self._ctx = judging_context(study, names, _ALPHA, None)
        self._thresholds: Thresholds | None = None
        newest = load_rows(engine, limit=1)
        self._after = int(newest.seq[-1]) if len(newest) else 0
        self._judged = 0
        self._windows: deque[dict[str, Any]] = deque(maxlen=10)
        self._transitions: deque[dict[str, Any]] = deque(maxlen=20)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        metrics.breaker_open.set(0)
        self._thread = threading.Thread(target=self._run, name="potstill-breaker", daemon=True)
        self._thread.start()

    @property
    def is_open(self) -> bool:
        return self.state.open

    def set_open(self, open_: bool, reason: str) -> dict[str, Any]:
        with self._lock:
            if self.state.force(open_):
                self._transition(reason)
        return self.status()

    def status(self) -> dict[str, Any]:
        with self._lock:
            s = self.state
            return {"enabled": True, "open": s.open, "answering": "teacher" if s.open else "student",
                    "consecutive_bad": s.bad, "consecutive_good": s.good,
                    "open_after": s.open_after, "close_after": s.close_after,
                    "window_rows": self.window_rows, "windows_judged": self._judged,
                    "calibrated": self._thresholds is not None,
                    "last_windows": list(self._windows), "transitions": list(self._transitions)}  # fmt: skip

    def step(self) -> int:
        """Judge every complete, settled window not judged yet; how many were judged."""
        if self._thresholds is None:
            refs = list(self._ctx["refs"].values())
            self._thresholds = calibrate(refs, self.window_rows, alpha=_ALPHA,
                                         n_resamples=_RESAMPLES)  # fmt: skip
        rows = load_rows(
            self.engine, after_seq=self._after, limit=self.window_rows * _MAX_WINDOWS_PER_STEP
        )
        settled = int((rows.ts <= time.time() - SETTLE_S).cumprod().sum())  # a leading run
        for k in range(settled // self.window_rows):
            window = rows.take(slice(k * self.window_rows, (k + 1) * self.window_rows))
            entry = judge_window(self._judged, window, self._ctx, self._thresholds)
            self._record(entry)
            self._after = int(window.seq[-1])
        return settled // self.window_rows

    def _record(self, entry: dict[str, Any]) -> None:
        bad = bool(entry["alarms"])
        self.metrics.breaker_windows.labels(verdict="bad" if bad else "good").inc()
        with self._lock:
            self._judged += 1
            self._windows.append({"index": entry["index"], "rows": entry["rows"],
                                  "first_seq": entry["first_seq"], "last_seq": entry["last_seq"],
                                  "bad": bad, "alarms": entry["alarms"][:5]})  # fmt: skip
            if self.state.record(bad):
                what = "bad" if self.state.open else "good"
                count = self.state.open_after if self.state.open else self.state.close_after
                self._transition(f"{count} consecutive {what} window(s)")

    def _transition(self, reason: str) -> None:
        open_ = self.state.open
        self.metrics.breaker_open.set(1 if open_ else 0)
        self._transitions.append({"ts": time.time(), "open": open_, "reason": reason,
                                  "after_window": self._judged - 1})  # fmt: skip
        log.warning("circuit breaker %s: %s", "OPEN (the teacher answers)" if open_ else
                    "closed (the student answers)", reason)  # fmt: skip

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.step()
            except Exception:  # a failed check must not stop the timer; logged, retried
                log.exception("circuit breaker: the check failed; retrying")

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
