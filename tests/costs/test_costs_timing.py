"""The interleaved schedule and the stopping rule, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from potstill.costs.stats import StopRule
from potstill.costs.timing import Lane, cpu_timer, run_interleaved


def fake_timer(per_call_ns: dict[str, int], log: list[str]) -> Any:
    """A timer whose calls last a fixed time per lane and log which lane ran."""

    def timer(fn: Callable[[np.ndarray], Any], x: np.ndarray, n: int) -> np.ndarray:
        label = fn(x)
        log.extend([label] * n)
        return np.full(n, per_call_ns[label], dtype=np.int64)

    return timer


def lane(label: str) -> Lane:
    return Lane(label, lambda x, label=label: label, np.zeros((1, 1), np.float32))


def test_each_lane_runs_until_both_rules_hold_by_hand() -> None:
    # A: 1 ms per call → 500 calls to reach 0.5 s; B: 10 ms → 50 calls; min_calls 20.
    log: list[str] = []
    lanes = [lane("A"), lane("B")]
    rule = StopRule(min_calls=20, min_seconds=0.5)
    schedule = run_interleaved(lanes, rule, 10, fake_timer({"A": 1_000_000, "B": 10_000_000}, log))
    assert [ln.calls for ln in lanes] == [500, 50]
    assert schedule["blocks"] == {"A": 50, "B": 5}
    assert schedule["rounds"] == 50
    assert schedule["stop_reason"] == {"A": "both_rules_met", "B": "both_rules_met"}
    assert lanes[0].seconds == 0.5 and lanes[1].seconds == 0.5
    # Count rule binding: 1 µs calls need 20 calls (2 blocks) although 0.5 s is far off…
    fast = [lane("A")]
    run_interleaved(fast, StopRule(20, 0.0), 10, fake_timer({"A": 1000}, []))
    assert fast[0].calls == 20


def test_blocks_alternate_in_rotation_order() -> None:
    log: list[str] = []
    lanes = [lane("teacher"), lane("student"), lane("student2")]
    timer = fake_timer({"teacher": 3_000_000, "student": 1_000_000, "student2": 1_000_000}, log)
    run_interleaved(lanes, StopRule(min_calls=6, min_seconds=0.0), 3, timer)
    # Each needs 6 calls = 2 blocks of 3: T T T S S S U U U, twice.
    pattern = ["teacher"] * 3 + ["student"] * 3 + ["student2"] * 3
    assert log == pattern * 2


def test_finished_lanes_leave_the_rotation_and_the_cap_is_flagged() -> None:
    log: list[str] = []
    lanes = [lane("slow"), lane("fast")]
    rule = StopRule(min_calls=4, min_seconds=0.006, max_seconds=1.0)
    timer = fake_timer({"slow": 10_000_000, "fast": 1_000_000}, log)
    schedule = run_interleaved(lanes, rule, 2, timer)
    # slow: blocks of 2 × 10 ms; after 2 blocks it has 4 calls and 40 ms → leaves.
    # fast: blocks of 2 × 1 ms; needs 6 ms → 3 blocks, the last one alone.
    assert log == ["slow", "slow", "fast", "fast"] * 2 + ["fast", "fast"]
    assert schedule["blocks"] == {"slow": 2, "fast": 3}
    assert schedule["stop_reason"]["slow"] == "both_rules_met"
    capped = [lane("x")]
    out = run_interleaved(
        capped, StopRule(10**9, 100.0, max_seconds=0.05), 5, fake_timer({"x": 10_000_000}, [])
    )
    assert out["stop_reason"] == {"x": "max_seconds"} and capped[0].calls == 5


def test_cpu_timer_returns_one_positive_duration_per_call() -> None:
    calls: list[int] = []
    out = cpu_timer(lambda x: calls.append(1), np.zeros(1), 7)
    assert out.shape == (7,) and out.dtype == np.int64 and (out > 0).all() and len(calls) == 7
