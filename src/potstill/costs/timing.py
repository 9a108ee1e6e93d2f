"""The timing loop: per-call clocks and the interleaved block schedule.

Teacher and students are timed in one process, taking turns in blocks of
``block_calls`` calls (round-robin over every model × runtime still timing), so slow
drift of the machine (thermal state, a neighbour's load) lands on all of them alike.
Each model × runtime leaves the rotation once its stopping rule is met; the rotation, the
number of blocks each got and why each stopped are returned for the record.

Clocks: on CPU ``time.perf_counter_ns`` around each call (the loop body adds well under
a microsecond; ``benchmarks/bench_stability.py`` measures it); on CUDA a pair of CUDA
events per call, synchronised at the end of each block.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from potstill.costs.contention import BlockGuard
from potstill.costs.footprint import RaplMeter
from potstill.costs.stats import StopRule
from potstill.events import Stage

__all__ = ["CallProgress", "Lane", "Timer", "cpu_timer", "cuda_timer", "run_interleaved"]

#: ``timer(fn, x, n)`` calls ``fn(x)`` n times and returns each call's duration in ns.
Timer = Callable[[Callable[[np.ndarray], Any], np.ndarray, int], np.ndarray]


def cpu_timer(fn: Callable[[np.ndarray], Any], x: np.ndarray, n: int) -> np.ndarray:
    """Wall-clock nanoseconds of each of ``n`` calls ``fn(x)``."""
    out = np.empty(n, dtype=np.int64)
    clock = time.perf_counter_ns
    for i in range(n):
        start = clock()
        fn(x)
        out[i] = clock() - start
    return out


def cuda_timer(fn: Callable[[np.ndarray], Any], x: np.ndarray, n: int) -> np.ndarray:
    """CUDA-event nanoseconds of each of ``n`` calls (includes host↔device copies)."""
    import torch

    starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
    for i in range(n):
        starts[i].record()
        fn(x)
        ends[i].record()
    torch.cuda.synchronize()
    return np.array(
        [s.elapsed_time(e) * 1e6 for s, e in zip(starts, ends, strict=True)], dtype=np.int64
    )


@dataclass
class Lane:
    """One model × runtime in the rotation, with its input batch and what it collected."""

    label: str
    predict: Callable[[np.ndarray], Any]
    x: np.ndarray
    chunks: list[np.ndarray] = field(default_factory=list)
    calls: int = 0
    nanoseconds: int = 0  # integer sum, so the duration rule never suffers rounding
    blocks: int = 0
    stop_reason: str | None = None
    energy_joules: float = 0.0

    @property
    def seconds(self) -> float:
        """Timed seconds so far (sum of per-call durations)."""
        return self.nanoseconds / 1e9

    def samples_ms(self) -> np.ndarray:
        """Every timed call of this lane, in the order measured, in milliseconds."""
        if not self.chunks:
            return np.empty(0, dtype=np.float64)
        return np.concatenate(self.chunks).astype(np.float64) / 1e6

    def block_ms_per_prediction(self) -> list[float]:
        """Each block's mean milliseconds per prediction (its calls × the batch size), in
        the order measured: block k ran in round k of the rotation."""
        size = max(1, len(self.x))
        return [float(c.sum()) / 1e6 / (len(c) * size) for c in self.chunks if len(c)]


def run_interleaved(
    lanes: Sequence[Lane],
    rule: StopRule,
    block_calls: int,
    timer: Timer = cpu_timer,
    energy: RaplMeter | None = None,
    on_block: Callable[[Lane, int], None] | None = None,
    guard: BlockGuard | None = None,
) -> dict[str, Any]:
    """Time every lane in round-robin blocks until each meets ``rule``; fill the lanes.

    ``on_block(lane, calls)`` is told of each block as it ends (outside the timed calls).
    ``guard`` re-times a block measured under contention (:mod:`.contention`); only the
    kept timing counts. Returns the schedule for the record: rotation order, blocks per
    lane, stop reasons.
    """
    active = list(lanes)
    rounds = 0
    while active:
        rounds += 1
        for lane in list(active):
            one_block = partial(_time_block, lane, timer, block_calls, energy)
            block, joules = one_block() if guard is None else guard.run(lane.label, one_block)
            lane.energy_joules += joules
            lane.chunks.append(block)
            lane.calls += len(block)
            lane.nanoseconds += int(block.sum())
            lane.blocks += 1
            lane.stop_reason = rule.reason(lane.calls, lane.seconds)
            if lane.stop_reason is not None:
                active.remove(lane)
            if on_block is not None:
                on_block(lane, len(block))
    return {
        "rotation": [lane.label for lane in lanes],
        "block_calls": block_calls,
        "rounds": rounds,
        "blocks": {lane.label: lane.blocks for lane in lanes},
        "stop_reason": {lane.label: lane.stop_reason for lane in lanes},
        "rule": {
            "min_calls": rule.min_calls,
            "min_seconds": rule.min_seconds,
            "max_seconds": rule.max_seconds,
            "seconds": "sum of timed call durations",
        },
    }


def _time_block(
    lane: Lane, timer: Timer, calls: int, energy: RaplMeter | None
) -> tuple[np.ndarray, float]:
    """One block of ``lane``: each call's nanoseconds, and the joules spent (0 without RAPL)."""
    before = energy.read_uj() if energy is not None and energy.available else None
    times = timer(lane.predict, lane.x, calls)
    if before is None or energy is None:
        return times, 0.0
    return times, energy.delta_joules(before, energy.read_uj())


class CallProgress:
    """Timed calls done of those planned in one timing phase, for a run's ``bench`` stage.

    A lane times until *both* stopping rules hold, so the plan is re-estimated from each
    lane's speed so far: ``max(min_calls, min_seconds / seconds per call)`` rounded up to
    whole blocks (capped by ``max_seconds``). Reported about twenty times per phase; pass it
    as ``run_interleaved``'s ``on_block``.
    """

    def __init__(
        self, stage: Stage | None, lanes: Sequence[Lane], rule: StopRule, block: int, phase: str
    ) -> None:
        self.stage, self.lanes, self.rule, self.block, self.phase = stage, lanes, rule, block, phase
        self._reported = 0

    def planned(self, lane: Lane) -> int:
        """The calls ``lane`` is expected to make in all (its calls so far once stopped)."""
        if lane.stop_reason is not None:
            return lane.calls
        need = self.rule.min_calls
        if lane.calls and lane.seconds > 0:
            per_call = lane.seconds / lane.calls
            need = max(need, math.ceil(self.rule.min_seconds / per_call))
            if self.rule.max_seconds is not None:
                need = min(need, math.ceil(self.rule.max_seconds / per_call))
        return max(math.ceil(need / self.block) * self.block, lane.calls)

    def __call__(self, lane: Lane, calls: int) -> None:
        if self.stage is None:
            return
        done = sum(other.calls for other in self.lanes)
        planned = sum(self.planned(other) for other in self.lanes)
        finished = all(other.stop_reason is not None for other in self.lanes)
        if done - self._reported < planned / 20 and not finished:
            return
        self._reported = done
        self.stage.update(done, planned, unit="call", detail=f"{self.phase}: {lane.label}")
