"""From measured throughput to money and capacity, with every assumption written down.

``$ per 1M predictions = usd_per_hour / (3600 × sustainable throughput per instance) × 1e6``

*Scaling assumption* (stated in every ``Costs.extra``): a CPU profile measured with ``t``
threads is one replica; an instance with ``v`` vCPUs runs ``v / t`` such replicas, so its
throughput is the measured throughput × ``v / t`` (linear scaling, no contention, the
instance's cores as fast as the measuring machine's). A CUDA profile is one replica per
GPU: throughput × the instance's accelerator count. Sustainable throughput is the
offline (best batch) throughput. Capacity under a latency bound comes from the server
scenario: the largest Poisson rate one replica serves with p99 <= SLO, times replicas.
A month is 730 hours.

The waterfall separates the levers: teacher → student on the teacher's runtime is what
distillation saved, → student (ONNX Runtime) what the runtime saved, → student (INT8)
what quantization saved. Every step names the runtime it was measured on, and a step
whose re-scored quality failed its check is shown with its cost but never counted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from potstill.costs.extras import WaterfallStep
from potstill.costs.intervals import cost_reduction_interval
from potstill.costs.prices import PriceEntry
from potstill.errors import PriceError
from potstill.types import CostProfile, Costs

__all__ = [
    "HOURS_PER_MONTH",
    "RUNTIME_LABELS",
    "Step",
    "capacity_per_instance",
    "cost_of",
    "runtime_label",
    "usd_per_million",
    "waterfall",
    "waterfall_of",
]

HOURS_PER_MONTH = 730.0


def _replicas(profile: CostProfile, entry: PriceEntry) -> tuple[float, str]:
    """Replicas of the measured configuration one instance runs, and why."""
    device = profile.environment.get("device", "cpu")
    if device == "cuda":
        if entry.accelerator_count < 1:
            raise PriceError(
                f"'{profile.model}' ({profile.runtime}) was measured on CUDA but instance "
                f"'{entry.id}' has no accelerator. Choose a GPU instance or measure on CPU."
            )
        return float(entry.accelerator_count), (
            f"one replica per GPU: {entry.accelerator_count} × the throughput measured on "
            f"{profile.environment.get('gpu', 'one GPU')} (instance GPU: {entry.accelerator})"
        )
    threads = int(profile.settings.get("threads", profile.environment.get("threads", 1)))
    ratio = entry.vcpus / threads
    return ratio, (
        f"linear vCPU scaling: {entry.vcpus} vCPUs / {threads} thread(s) measured = {ratio:g} "
        f"replicas per instance, each as fast as on the measuring CPU "
        f"({profile.environment.get('cpu', 'unknown')})"
        + ("; the instance's accelerator is left unused" if entry.accelerator else "")
    )


def usd_per_million(profile: CostProfile, entry: PriceEntry) -> float:
    """Dollars per one million predictions at the profile's sustainable throughput."""
    replicas, _ = _replicas(profile, entry)
    throughput = profile.throughput * replicas
    if not throughput > 0:
        raise PriceError(
            f"'{profile.model}' ({profile.runtime}) has throughput {profile.throughput!r}; "
            "a cost needs a positive measured throughput."
        )
    return entry.usd_per_hour / (3600.0 * throughput) * 1e6


def _max_qps_one_replica(profile: CostProfile, slo_ms: float) -> float:
    """Largest Poisson rate one replica serves with p99 <= ``slo_ms`` (server scenario)."""
    server = profile.extra.get("server")
    if not server:
        raise PriceError(
            f"'{profile.model}' ({profile.runtime}) has no server scenario to size capacity "
            "under an SLO; measure it with BenchConfig(server=True)."
        )
    if math.isclose(float(server["slo_ms"]), slo_ms):
        return float(server["max_qps"])
    points = [(0.0, profile.latency.p99_ms)] + [
        (float(p["qps"]), float(p["p99_ms"])) for p in server["curve"]
    ]
    best = 0.0
    for (q0, l0), (q1, l1) in itertools.pairwise(points):
        if l1 <= slo_ms:
            best = q1
        elif l0 <= slo_ms:  # crosses between the two points: interpolate linearly
            best = q0 + (q1 - q0) * (slo_ms - l0) / (l1 - l0)
            break
        else:
            break
    return best


def capacity_per_instance(
    profile: CostProfile, entry: PriceEntry, slo_ms: float | None = None
) -> tuple[float, str]:
    """Predictions per second one instance sustains (under ``slo_ms`` if given), and how."""
    replicas, _ = _replicas(profile, entry)
    if slo_ms is None:
        return profile.throughput * replicas, (
            f"offline throughput at batch {profile.throughput_batch} × replicas (no latency bound)"
        )
    return _max_qps_one_replica(profile, slo_ms) * replicas, (
        f"server scenario: largest Poisson rate with p99 <= {slo_ms:g} ms, batch 1, × replicas"
    )


def _sizing(
    profile: CostProfile, entry: PriceEntry, target_qps: float, slo_ms: float | None
) -> dict[str, Any]:
    capacity, basis = capacity_per_instance(profile, entry, slo_ms)
    instances = math.ceil(target_qps / capacity) if capacity > 0 else None
    return {
        "capacity_qps_per_instance": capacity,
        "capacity_basis": basis,
        "instances": instances,
        "monthly_usd": instances * entry.usd_per_hour * HOURS_PER_MONTH if instances else None,
        "reason": "" if instances else f"the SLO of {slo_ms} ms cannot be met by one replica",
    }


def cost_of(
    student: CostProfile,
    teacher: CostProfile,
    entry: PriceEntry,
    *,
    target_qps: float | None = None,
    slo_ms: float | None = None,
) -> Costs:
    """Money and capacity of ``student`` against ``teacher`` on instance ``entry``.

    See the module docstring for the formula and the scaling assumption; both are copied
    into ``Costs.extra``. With ``target_qps`` the extra also holds instances needed (under
    the p99 ``slo_ms`` if given), monthly cost at that load (730 h) and its reduction.
    """
    student_usd = usd_per_million(student, entry)
    teacher_usd = usd_per_million(teacher, entry)
    s_rep, s_why = _replicas(student, entry)
    t_rep, t_why = _replicas(teacher, entry)
    memory = None  # peak memory compares like with like only: the same runtime both sides
    same_runtime = student.runtime == teacher.runtime
    if student.peak_memory_mb and teacher.peak_memory_mb and same_runtime:
        memory = 1.0 - student.peak_memory_mb / teacher.peak_memory_mb
    extra: dict[str, Any] = {
        "formula": "usd_per_hour / (3600 * throughput * replicas_per_instance) * 1e6",
        "scaling_assumption": {"student": s_why, "teacher": t_why},
        "replicas_per_instance": {"student": s_rep, "teacher": t_rep},
        "throughput_per_instance": {
            "student": student.throughput * s_rep,
            "teacher": teacher.throughput * t_rep,
        },
        "student": {"model": student.model, "runtime": student.runtime},
        "teacher": {"model": teacher.model, "runtime": teacher.runtime},
        "hours_per_month": HOURS_PER_MONTH,
        "target_qps": target_qps,
        "slo_ms": slo_ms,
    }
    if target_qps is not None:
        if not target_qps > 0:
            raise PriceError(
                f"The 'target_qps' parameter of cost_of must be > 0. Got {target_qps!r} instead."
            )
        s_size = _sizing(student, entry, target_qps, slo_ms)
        t_size = _sizing(teacher, entry, target_qps, slo_ms)
        extra["sizing"] = {"student": s_size, "teacher": t_size}
        extra["instances"] = {"student": s_size["instances"], "teacher": t_size["instances"]}
        extra["monthly_usd"] = {"student": s_size["monthly_usd"], "teacher": t_size["monthly_usd"]}
        s_month, t_month = s_size["monthly_usd"], t_size["monthly_usd"]
        extra["monthly_reduction"] = 1.0 - s_month / t_month if s_month and t_month else None
    return Costs(
        instance=entry.as_record(),
        usd_per_million=student_usd,
        teacher_usd_per_million=teacher_usd,
        reduction=1.0 - student_usd / teacher_usd,
        latency_reduction=1.0 - student.latency.p50_ms / teacher.latency.p50_ms,
        memory_reduction=memory,
        extra=extra,
        cost_reduction=cost_reduction_interval(student, teacher, t_rep / s_rep),
    )


#: How each runtime is named in waterfall labels and reports.
RUNTIME_LABELS = {
    "eager": "eager PyTorch",
    "compile": "torch.compile",
    "onnx": "ONNX Runtime",
    "onnx-int8": "ONNX Runtime INT8",
    "native": "its own runtime",
}


def runtime_label(runtime: str) -> str:
    """``"ONNX Runtime"`` for ``"onnx"``: the name a report gives a runtime."""
    return RUNTIME_LABELS.get(runtime, runtime)


@dataclass(frozen=True)
class Step:
    """One bar of a waterfall: a model on one runtime, and whether its saving may count.

    ``profile`` None: the runtime was not measured. ``counted`` False: it was measured but
    failed its quality check (``reason``; ``metric`` and ``retention`` say by how much), so
    it is shown with its cost and never counted as a saving.
    """

    label: str
    lever: str
    profile: CostProfile | None
    runtime_label: str = ""
    counted: bool = True
    reason: str = ""
    metric: float | None = None
    retention: float | None = None


def _step_row(step: Step, entry: PriceEntry) -> WaterfallStep:
    profile = step.profile
    return WaterfallStep(
        step=step.label,
        lever=step.lever,
        measured=profile is not None,
        counted=profile is not None and step.counted,
        status="not measured" if profile is None else "ok" if step.counted else "failed",
        runtime_label=step.runtime_label,
        metric=step.metric,
        retention=step.retention,
        reason=step.reason,
        usd_per_million=None if profile is None else usd_per_million(profile, entry),
        model=None if profile is None else profile.model,
        runtime=None if profile is None else profile.runtime,
    )


def waterfall_of(steps: Sequence[Step], entry: PriceEntry) -> list[dict[str, Any]]:
    """$ per 1M predictions at each step and what each counted step saved
    (:class:`~potstill.costs.extras.WaterfallStep` in its JSON form).

    The first step is the baseline and must be measured. A step that is not measured or
    failed its quality check saves nothing; the next counted step is compared with the
    last counted one, so the counted savings add up to the last counted step's reduction.
    """
    if not steps or steps[0].profile is None:
        raise PriceError("A waterfall starts from a measured baseline (the teacher's profile).")
    rows = [_step_row(s, entry) for s in steps]
    base = previous = float(rows[0].usd_per_million or 0.0)
    out = []
    for row in rows:
        if row.counted and row.usd_per_million is not None:
            usd = row.usd_per_million
            row = replace(row, saved_usd_per_million=previous - usd,
                          saved_fraction_of_teacher=(previous - usd) / base,
                          cumulative_reduction=1.0 - usd / base)  # fmt: skip
            previous = usd
        out.append(row.to_dict())
    return out


def waterfall(
    teacher: CostProfile,
    student_eager: CostProfile,
    student_onnx: CostProfile | None,
    student_int8: CostProfile | None,
    entry: PriceEntry,
) -> list[dict[str, Any]]:
    """The classic four levers, every step labelled with its runtime: teacher → student
    on the same runtime (distillation) → ONNX Runtime (runtime) → INT8 (quantization).

    A step whose profile is None (runtime skipped) is kept with ``measured: False`` and
    the next measured step is compared with the last measured one. The study builds its
    waterfalls with :func:`waterfall_of`, which also marks steps that failed a quality check.
    """
    t_label, s_label = runtime_label(teacher.runtime), runtime_label(student_eager.runtime)
    steps = [
        Step(f"teacher ({t_label})", "baseline", teacher, t_label),
        Step(f"student ({s_label})", "distillation", student_eager, s_label),
        Step("student (ONNX Runtime)", "runtime", student_onnx, "ONNX Runtime"),
        Step("student (ONNX Runtime INT8)", "quantization", student_int8, "ONNX Runtime INT8"),
    ]
    return waterfall_of(steps, entry)
