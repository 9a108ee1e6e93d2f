"""Costs under noise: the bootstrap interval of a ratio over interleaved blocks, the
contention guard, and the fields every measured profile and cost carry."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from potstill.costs import BenchConfig, cost_of, measure
from potstill.costs import contention as contention_mod
from potstill.costs.contention import BlockGuard, ContentionConfig
from potstill.costs.intervals import cost_reduction_interval
from potstill.costs.prices import PriceEntry
from potstill.costs.stats import StopRule, expanded_tail, ratio_interval, scale_interval
from potstill.costs.target import BenchTarget
from potstill.costs.timing import Lane, run_interleaved


def test_wide_noise_reads_as_a_tie() -> None:
    rng = np.random.default_rng(1)
    teacher = 1.0 + rng.normal(0, 0.5, 20).clip(-0.9, None)
    student = 0.95 + rng.normal(0, 0.5, 20).clip(-0.9, None)
    ci = ratio_interval(student, teacher, paired=False)
    assert ci["low"] < 1.0 < ci["high"]
    assert ci["tie"] and ci["reduction_low"] < 0.0 < ci["reduction_high"]


def test_a_clear_gap_is_not_a_tie() -> None:
    rng = np.random.default_rng(2)
    teacher = 1.0 + rng.normal(0, 0.02, 20)
    student = 0.6 + rng.normal(0, 0.02, 20)
    ci = ratio_interval(student, teacher)
    assert not ci["tie"] and ci["high"] < 1.0
    assert ci["low"] <= ci["ratio"] <= ci["high"]
    assert ci["ratio"] == pytest.approx(student.mean() / teacher.mean())
    assert ci["reduction"] == pytest.approx(1 - ci["ratio"])


def test_pairing_by_round_removes_the_machines_drift() -> None:
    # The machine drifts a lot from round to round; the student is 10 % faster in each.
    drift = np.linspace(0.5, 3.0, 30)
    rng = np.random.default_rng(3)
    teacher = drift * (1 + rng.normal(0, 0.01, 30))
    student = 0.9 * drift * (1 + rng.normal(0, 0.01, 30))
    assert not ratio_interval(student, teacher, paired=True)["tie"]
    assert ratio_interval(student, teacher, paired=False)["tie"]


def test_unequal_series_pair_the_shared_rounds_only() -> None:
    ci = ratio_interval([1.0, 1.1, 0.9, 1.0, 1.05], [2.0, 2.1, 1.9])
    assert ci["rounds"] == 3 and ci["blocks"] == [5, 3] and ci["paired"]
    with pytest.raises(ValueError, match=">= 2 blocks"):
        ratio_interval([1.0], [1.0, 2.0])


def test_scaling_by_a_known_factor_moves_the_tie() -> None:
    ci = ratio_interval([0.5, 0.52, 0.48, 0.5], [1.0, 1.02, 0.98, 1.0])
    doubled = scale_interval(ci, 2.0)
    assert doubled["ratio"] == pytest.approx(2 * ci["ratio"])
    assert doubled["low"] == pytest.approx(2 * ci["low"])
    assert doubled["reduction"] == pytest.approx(1 - 2 * ci["ratio"])


def _clocks(cpu_per_attempt: list[float]) -> tuple[Callable[[], float], Callable[[], float]]:
    """A wall clock that advances 1 s per attempt and a CPU clock ``cpu_per_attempt[i]``."""
    wall = itertools.count()
    cpu_steps = iter(cpu_per_attempt)
    state = {"cpu": 0.0, "reads": 0}

    def cpu() -> float:
        state["reads"] += 1
        if state["reads"] % 2 == 0:  # the reading after the block
            state["cpu"] += next(cpu_steps)
        return state["cpu"]

    return cpu, lambda: float(next(wall))


def test_a_contended_block_is_retimed_then_kept_and_counted() -> None:
    cpu, wall = _clocks([0.2, 0.3, 0.1, 0.95])
    guard = BlockGuard(
        ContentionConfig(min_cpu_ratio=0.7, retries=2), cpu_clock=cpu, wall_clock=wall
    )
    calls: list[int] = []
    guard.run("A", lambda: calls.append(1))  # 0.2, 0.3, 0.1: two re-timings, kept contended
    guard.run("A", lambda: calls.append(1))  # 0.95: fine at once
    seen = guard.lanes["A"]
    assert len(calls) == 4
    assert (seen.remeasured, seen.kept_contended) == (2, 1)
    assert seen.cpu_ratios == pytest.approx([0.1, 0.95])


def test_a_block_that_recovers_is_not_kept_contended() -> None:
    cpu, wall = _clocks([0.2, 0.9])
    guard = BlockGuard(
        ContentionConfig(min_cpu_ratio=0.7, retries=2), cpu_clock=cpu, wall_clock=wall
    )
    guard.run("A", lambda: None)
    assert (guard.lanes["A"].remeasured, guard.lanes["A"].kept_contended) == (1, 0)
    summary = guard.summary(["A"], threads=1)
    assert summary["blocks_remeasured"] == 1 and summary["blocks_kept_contended"] == 0


def test_load_above_the_cores_flags_the_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = contention_mod.cpu_count()
    monkeypatch.setattr(contention_mod, "read_load", lambda: cores + 3.0)
    guard = BlockGuard(ContentionConfig(min_cpu_ratio=0.0))
    guard.run("A", lambda: None)
    summary = guard.summary(["A"], threads=1)
    assert summary["loaded"] and summary["load_1min"]["max"] == cores + 3.0
    monkeypatch.setattr(contention_mod, "read_load", lambda: cores - 0.5)
    quiet = BlockGuard(ContentionConfig(min_cpu_ratio=0.0))
    quiet.run("A", lambda: None)
    assert not quiet.summary(["A"], threads=1)["loaded"]


def test_the_interleaved_loop_keeps_only_the_retimed_block() -> None:
    cpu, wall = _clocks([0.1, 1.0] + [1.0] * 10)
    guard = BlockGuard(
        ContentionConfig(min_cpu_ratio=0.5, retries=3), cpu_clock=cpu, wall_clock=wall
    )
    timings = iter([np.full(2, 999_000, np.int64)] + [np.full(2, 1000, np.int64)] * 10)
    lane = Lane("A", lambda x: None, np.zeros((1, 1), np.float32))
    run_interleaved([lane], StopRule(4, 0.0), 2, lambda fn, x, n: next(timings), guard=guard)
    assert lane.blocks == 2 and lane.calls == 4
    assert lane.nanoseconds == 4000  # the contended 999 µs timing was dropped
    assert guard.lanes["A"].remeasured == 1


def _pair(make_mlp: Callable[..., Any], rows: np.ndarray) -> list[BenchTarget]:
    return [
        BenchTarget("teacher", module=make_mlp(64, 0), example=rows),
        BenchTarget("student", module=make_mlp(4, 1), example=rows),
    ]


def test_every_profile_and_cost_carries_blocks_contention_and_interval(
    make_mlp: Callable[..., Any], rows: np.ndarray, quick: BenchConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(contention_mod, "read_load", lambda: 1000.0)
    config = quick.model_copy(update={"runtimes": ("eager",)})
    teacher, student = measure(_pair(make_mlp, rows), config)
    for p in (teacher, student):
        blocks = p.extra["blocks"]
        assert len(blocks["latency_ms"]) == p.settings["interleave"]["blocks"][f"{p.model}/eager"]
        assert blocks["offline_batch"] == p.throughput_batch
        assert p.extra["contention"]["loaded"] and "load>cores" in p.latency.flags
        assert p.extra["contention"]["load_1min"]["max"] == 1000.0
        assert p.extra["contention"]["blocks"] >= len(blocks["latency_ms"])
    entry = PriceEntry(
        id="c", provider="aws", instance="c6i.xlarge", region="us-east-1", usd_per_hour=0.17,
        vcpus=4, memory_gib=8, source="https://aws.amazon.com/ec2/pricing/on-demand/",
        date=dt.date(2024, 6, 1),
    )  # fmt: skip
    costs = cost_of(student, teacher, entry)
    ci = costs.cost_reduction
    assert ci is not None
    assert ci["value"] == pytest.approx(costs.reduction)
    assert ci["level"] == 0.95 and ci["low"] <= ci["high"]
    assert ci["tie"] == (ci["low"] <= 0.0 <= ci["high"])
    assert set(ci["latency"]) >= {"value", "low", "high", "tie"}
    assert ci["contention"]["teacher"]["loaded"]


def test_no_interval_without_blocks(
    make_mlp: Callable[..., Any], rows: np.ndarray, quick: BenchConfig
) -> None:
    teacher, student = measure(
        _pair(make_mlp, rows), quick.model_copy(update={"runtimes": ("eager",)})
    )
    old = replace(student, extra={k: v for k, v in student.extra.items() if k != "blocks"})
    assert cost_reduction_interval(old, teacher, 1.0) is None


def test_few_blocks_widen_the_interval_to_the_bootstraps_extremes() -> None:
    assert expanded_tail(0.95, 4) < 0.001  # four blocks: about the extremes
    assert 0.02 < expanded_tail(0.95, 200) < 0.025  # many: the plain 2.5 %
    rng = np.random.default_rng(4)
    x, y = 1.0 + rng.normal(0, 0.2, 4), 1.0 + rng.normal(0, 0.2, 4)
    assert ratio_interval(x, y)["tie"]
