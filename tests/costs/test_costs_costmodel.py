"""$ per 1M predictions, capacity, monthly cost and the waterfall against hand sums."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from potstill.costs import PriceEntry, capacity_per_instance, cost_of, usd_per_million, waterfall
from potstill.errors import PriceError
from potstill.types import CostProfile, LatencyStats

SOURCE = "https://aws.amazon.com/ec2/pricing/on-demand/"
CPU = PriceEntry(
    id="c",
    provider="aws",
    instance="c6i.xlarge",
    region="us-east-1",
    usd_per_hour=0.17,
    vcpus=4,
    memory_gib=8,
    source=SOURCE,
    date=dt.date(2024, 6, 1),
)
GPU = PriceEntry(
    id="g",
    provider="aws",
    instance="g4dn.xlarge",
    region="us-east-1",
    usd_per_hour=0.526,
    vcpus=4,
    memory_gib=16,
    accelerator="NVIDIA T4",
    accelerator_count=1,
    source=SOURCE,
    date=dt.date(2024, 6, 1),
)


def profile(
    throughput: float,
    p50: float,
    *,
    threads: int = 1,
    runtime: str = "eager",
    peak: float | None = None,
    device: str = "cpu",
    server: Any = None,
) -> CostProfile:
    lat = LatencyStats(p50, p50, p50, p50 * 2, p50, 0.01, 1000)
    return CostProfile(
        model="m",
        runtime=runtime,
        batch_size=1,
        latency=lat,
        throughput=throughput,
        throughput_batch=32,
        peak_memory_mb=peak,
        params=10,
        bytes_on_disk=40,
        flops_per_sample=20.0,
        environment={"device": device, "cpu": "test cpu"},
        settings={"threads": threads},
        extra={"server": server} if server else {},
    )


def test_usd_per_million_by_hand() -> None:
    # 1000 pred/s on 1 thread × 4 vCPUs = 4000 pred/s per instance;
    # 0.17 $/h / (3600 s × 4000) × 1e6 = 0.0118055… $ per 1M predictions.
    assert usd_per_million(profile(1000.0, 1.0), CPU) == pytest.approx(0.17 / 14_400_000 * 1e6)
    # Measured with 2 threads: only 2 replicas fit on 4 vCPUs.
    assert usd_per_million(profile(1000.0, 1.0, threads=2), CPU) == pytest.approx(
        0.17 / (3600 * 2000) * 1e6
    )


def test_cost_of_reductions_and_sizing_by_hand() -> None:
    student = profile(1000.0, 1.0, peak=100.0)
    teacher = profile(250.0, 4.0, peak=400.0)
    costs = cost_of(student, teacher, CPU, target_qps=10_000.0)
    assert costs.usd_per_million == pytest.approx(0.0118055556)
    assert costs.teacher_usd_per_million == pytest.approx(0.0472222222)
    assert costs.reduction == pytest.approx(0.75)
    assert costs.latency_reduction == pytest.approx(0.75)
    assert costs.memory_reduction == pytest.approx(0.75)
    assert costs.instance["source"] == SOURCE and costs.instance["date"] == "2024-06-01"
    # 10 000 QPS: student 4000/instance → 3 instances; teacher 1000/instance → 10.
    assert costs.extra["instances"] == {"student": 3, "teacher": 10}
    assert costs.extra["monthly_usd"]["student"] == pytest.approx(3 * 0.17 * 730)
    assert costs.extra["monthly_usd"]["teacher"] == pytest.approx(10 * 0.17 * 730)
    assert costs.extra["monthly_reduction"] == pytest.approx(0.7)
    assert (
        "linear vCPU scaling: 4 vCPUs / 1 thread(s)" in costs.extra["scaling_assumption"]["student"]
    )


def test_capacity_under_an_slo_uses_the_server_scenario() -> None:
    server = {"slo_ms": 10.0, "max_qps": 600.0, "curve": [
        {"qps": 100.0, "p99_ms": 3.0}, {"qps": 500.0, "p99_ms": 8.0},
        {"qps": 900.0, "p99_ms": 20.0}]}  # fmt: skip
    p = profile(1000.0, 1.0, server=server)  # latency p99 = 2 ms at zero load
    assert capacity_per_instance(p, CPU, 10.0)[0] == pytest.approx(4 * 600.0)
    # Another SLO interpolates the curve: 14 ms lies halfway from (500, 8) to (900, 20).
    assert capacity_per_instance(p, CPU, 14.0)[0] == pytest.approx(4 * 700.0)
    assert capacity_per_instance(p, CPU, 2.5)[0] == pytest.approx(4 * 50.0)  # (0,2)→(100,3)
    assert capacity_per_instance(p, CPU, 1.0)[0] == 0.0
    costs = cost_of(p, p, CPU, target_qps=5000.0, slo_ms=10.0)
    assert costs.extra["instances"]["student"] == 3  # ceil(5000 / 2400)
    unmeetable = cost_of(p, p, CPU, target_qps=5000.0, slo_ms=1.0)
    assert unmeetable.extra["instances"]["student"] is None
    with pytest.raises(PriceError, match="no server scenario"):
        cost_of(profile(1.0, 1.0), p, CPU, target_qps=10.0, slo_ms=5.0)


def test_devices_and_instances_must_match() -> None:
    gpu_profile = profile(5000.0, 0.2, device="cuda")
    assert usd_per_million(gpu_profile, GPU) == pytest.approx(0.526 / (3600 * 5000) * 1e6)
    with pytest.raises(PriceError, match="has no accelerator"):
        usd_per_million(gpu_profile, CPU)
    assert (
        "accelerator is left unused"
        in cost_of(profile(1, 1), profile(1, 1), GPU).extra["scaling_assumption"]["student"]
    )
    with pytest.raises(PriceError, match="positive measured throughput"):
        usd_per_million(profile(0.0, 1.0), CPU)
    with pytest.raises(PriceError, match="'target_qps' parameter of cost_of must be > 0"):
        cost_of(profile(1, 1), profile(1, 1), CPU, target_qps=0.0)


def test_waterfall_attributes_each_lever() -> None:
    # $/1M ∝ 1 / throughput: teacher 100, student eager 400, ONNX 800, INT8 1000 pred/s.
    steps = waterfall(
        profile(100.0, 10.0),
        profile(400.0, 2.5),
        profile(800.0, 1.0, runtime="onnx"),
        profile(1000.0, 1.0, runtime="onnx-int8"),
        CPU,
    )
    unit = 0.17 / 3600 * 1e6 / 4  # $/1M at 1 prediction/s per replica
    usd = [s["usd_per_million"] for s in steps]
    assert usd == pytest.approx([unit / 100, unit / 400, unit / 800, unit / 1000])
    assert [s["lever"] for s in steps] == ["baseline", "distillation", "runtime", "quantization"]
    saved = [s["saved_fraction_of_teacher"] for s in steps]
    assert saved == pytest.approx([0.0, 0.75, 0.125, 0.025])
    assert steps[-1]["cumulative_reduction"] == pytest.approx(0.9)
    assert sum(saved) == pytest.approx(steps[-1]["cumulative_reduction"])


def test_waterfall_keeps_a_skipped_step_and_bridges_it() -> None:
    steps = waterfall(
        profile(100.0, 10.0),
        profile(400.0, 2.5),
        None,
        profile(1000.0, 1.0, runtime="onnx-int8"),
        CPU,
    )
    assert steps[2]["measured"] is False and steps[2]["usd_per_million"] is None
    assert steps[3]["saved_fraction_of_teacher"] == pytest.approx(0.15)  # 0.25 → 0.10


def test_measured_profiles_price_end_to_end(
    teacher: Any, student: Any, rows: Any, quick: Any
) -> None:
    from potstill.costs import BenchTarget, PriceCatalog, measure

    profiles = measure(
        [BenchTarget("teacher", teacher, None, rows), BenchTarget("student", student, None, rows)],
        quick.model_copy(update={"target_qps": 50.0}),
    )
    by_key = {(p.model, p.runtime): p for p in profiles}
    entry = PriceCatalog.load().get("c6i.xlarge")
    t, s = by_key[("teacher", "eager")], by_key[("student", "eager")]
    costs = cost_of(s, t, entry, target_qps=1000.0, slo_ms=quick.slo_ms)
    expected = 0.17 / (3600 * s.throughput * 4) * 1e6  # 4 vCPUs / 1 thread
    assert costs.usd_per_million == pytest.approx(expected)
    assert costs.reduction == pytest.approx(
        1 - costs.usd_per_million / costs.teacher_usd_per_million
    )
    assert costs.extra["instances"]["student"] >= 1
    steps = waterfall(t, s, by_key[("student", "onnx")], by_key[("student", "onnx-int8")], entry)
    assert [st["measured"] for st in steps] == [True] * 4
    assert steps[-1]["cumulative_reduction"] == pytest.approx(
        sum(st["saved_fraction_of_teacher"] for st in steps)
    )
    assert s.extra["server"]["target_qps"] == 50.0


def test_memory_reduction_compares_the_same_runtime_only() -> None:
    """An ONNX Runtime teacher's peak memory against an eager student's is no reduction."""
    student = profile(1000.0, 1.0, peak=100.0, runtime="eager")
    teacher = profile(250.0, 4.0, peak=400.0, runtime="onnx")
    assert cost_of(student, teacher, CPU).memory_reduction is None
    teacher = profile(250.0, 4.0, peak=400.0, runtime="eager")
    assert cost_of(student, teacher, CPU).memory_reduction == pytest.approx(0.75)
