"""The second half of a system run: benchmark every model together, price it, write records.

Whatever kind of system produced the students (a classifier, a regressor, a sentence
encoder), their cost is measured the same way: the teacher and every student of the system
in one interleaved session (rule 3 of the design), on eager, ONNX and INT8; dollars from
one price-catalog entry; a waterfall from teacher to the student's cheapest runtime; the
exported runtimes re-scored for quality; and, where the system has one, an outside
reference point (the INT8 MiniLM for the text systems) timed in the same session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from potstill.config import GridEntry, SystemSpec
from potstill.costs import (
    BenchTarget,
    PriceCatalog,
    cost_of,
    measure,
    runtime_predictor,
    saved_predictor,
    waterfall,
)
from potstill.costs.costmodel import usd_per_million
from potstill.costs.prices import PriceEntry
from potstill.errors import PotstillError
from potstill.evaluate import apply_gates, retention
from potstill.evaluate.sanity import retention_warnings
from potstill.models.hf import HFClassifier
from potstill.models.hf_io import save_pretrained
from potstill.models.predict import count_params
from potstill.models.teacher import Teacher
from potstill.study.environment import git_revision
from potstill.study.reference import Reference
from potstill.study.store import ResultStore
from potstill.study.teacher_check import system_warnings
from potstill.types import CostProfile, Quality, RunRecord, Task

if TYPE_CHECKING:  # system.py imports this module
    from potstill.study.system import SystemContext

__all__ = ["Cell", "bench_rows", "save_hf_layout", "write_records"]

log = logging.getLogger(__name__)

#: Scores an exported runtime's raw outputs (logits or embeddings) of the test rows.
RuntimeScore = Callable[[np.ndarray], float]


@dataclass
class Cell:
    """One grid cell of a system while it runs: its student, or why there is none."""

    entry: GridEntry
    family: str
    status: str = "ok"
    reason: str = ""
    student: torch.nn.Module | None = None
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)


def save_hf_layout(student: torch.nn.Module | None, folder: Path, tokenizer: Any) -> None:
    """A transformer student also in Hugging Face layout, in ``folder/hf``: safetensors, its
    config and the teacher's tokenizer, which ``transformers.AutoModel`` and potstill load."""
    hf = folder / "hf"
    if isinstance(student, HFClassifier) and not (hf / "config.json").is_file():
        save_pretrained(student, hf, tokenizer=tokenizer)


def bench_rows(X: np.ndarray, n: int) -> np.ndarray:
    """At least ``n`` real test rows for timing: a small test split is repeated to fill batches."""
    reps = -(-n // len(X))
    return np.concatenate([X] * reps)[:n] if reps > 1 else X[:n]


def _reference_costs(
    reference: Reference,
    profiles: Mapping[str, CostProfile],
    teacher: CostProfile,
    price: PriceEntry,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": reference.label,
        "target": reference.name,
        "note": reference.note,
        **reference.quality,
    }
    profile = next(iter(profiles.values()), None)
    if profile is None:
        return {**out, "measured": False}
    usd = usd_per_million(profile, price)
    return {
        **out,
        "measured": True,
        "runtime": profile.runtime,
        "p50_ms": profile.latency.p50_ms,
        "usd_per_million": usd,
        "reduction": 1.0 - usd / usd_per_million(teacher, price),
        "bytes_on_disk": profile.bytes_on_disk,
    }


def _rescore(
    target: BenchTarget, profile: CostProfile, test_X: np.ndarray, threads: int
) -> np.ndarray:
    """Outputs of the runtime ``profile`` timed, on the test rows: from the file the bench
    kept when there is one, else from a fresh build of that runtime."""
    predict = saved_predictor(profile, threads) or runtime_predictor(
        target, profile.runtime, threads=threads
    )
    return np.asarray(predict(test_X))


def _quantized_teacher(
    target: BenchTarget,
    profile: CostProfile | None,
    teacher: CostProfile,
    price: PriceEntry,
    score: RuntimeScore,
    test_X: np.ndarray,
    qualities: Mapping[str, Quality],
    threads: int,
) -> dict[str, Any] | None:
    """Quantisation alone: the teacher's own INT8 export, priced and re-scored, the cheap
    alternative every distilled student is up against."""
    if profile is None or target.module is None:
        return None
    try:
        outputs = _rescore(target, profile, test_X, threads)
    except PotstillError as exc:  # timed, but not re-runnable here: say so, keep the rest
        log.warning("the teacher's INT8 export could not be re-scored: %s", exc)
        return None
    value = score(np.asarray(outputs))
    usd, base = usd_per_million(profile, price), usd_per_million(teacher, price)
    first = next(iter(qualities.values()), None)
    kept = (
        float(retention(first.teacher.value, value, higher_is_better=first.higher_is_better))
        if first is not None
        else None
    )
    return {"runtime": "onnx-int8", "p50_ms": profile.latency.p50_ms, "usd_per_million": usd,
            "reduction": 1.0 - usd / base, "metric_value": value, "retention": kept}  # fmt: skip


def write_records(
    spec: SystemSpec,
    ctx: SystemContext,
    task: Task,
    teacher: Teacher,
    teacher_info: Mapping[str, Any],
    cells: list[Cell],
    qualities: Mapping[str, Quality],
    timings: dict[str, float],
    runtime_score: RuntimeScore,
    reference: Reference | None = None,
) -> list[RunRecord]:
    """Benchmark the teacher and the trained students of ``cells`` (``task`` holds the
    inputs the models take), price them, and write one record per cell."""
    fleet, store = ctx.fleet, ResultStore(ctx.out)
    ok = [c for c in cells if c.status == "ok" and c.student is not None]
    t0 = time.perf_counter()
    bench = spec.bench or fleet.bench
    # Token ids travel as float32 like every other input; HF models cast them back.
    test_X = task.test.X.astype(np.float32, copy=False)
    example = bench_rows(test_X, max(512, *bench.batch_sizes))
    teacher_target = BenchTarget(
        name="teacher",
        module=teacher.module,
        predict=None if teacher.module is not None else teacher.predict_fn(),
        example=example,
    )
    student_targets = {
        c.entry.label: BenchTarget(
            name=f"student:{c.entry.label}",
            module=c.student,
            example=example,
            path=ctx.out / "students" / spec.name / c.entry.label,
        )
        for c in ok
    }
    targets = [teacher_target, *student_targets.values()]
    if reference is not None and ok:
        targets.append(reference.target(example))
    # Keep the exported ONNX / INT8 files: they are the deployable artefacts.
    bench_cfg = bench.model_copy(update={"export_dir": ctx.out / "exports" / spec.name})
    profiles = measure(targets, bench_cfg) if ok else []
    timings["bench_s"] = time.perf_counter() - t0
    price = PriceCatalog.load(fleet.prices.override).get(fleet.prices.instance)
    by_target: dict[str, dict[str, CostProfile]] = {}
    for p in profiles:
        by_target.setdefault(p.model, {})[p.runtime] = p
    t_profiles = by_target.get("teacher", {})
    t_eager = t_profiles.get("eager") or t_profiles.get("native")
    ref_costs = None
    if reference is not None and t_eager is not None:
        ref_costs = _reference_costs(reference, by_target.get(reference.name, {}), t_eager, price)
    quantized = None
    if t_eager is not None:
        quantized = _quantized_teacher(
            teacher_target, t_profiles.get("onnx-int8"), t_eager, price, runtime_score, test_X,
            qualities, bench.threads,
        )  # fmt: skip
    records = []
    shared_warnings = system_warnings(task, teacher_info)
    for c in cells:
        s_profiles = by_target.get(f"student:{c.entry.label}", {})
        costs = None
        runtime_metric: dict[str, float] = {}
        if c.status == "ok" and t_eager is not None and "eager" in s_profiles:
            costs = cost_of(
                s_profiles["eager"],
                t_eager,
                price,
                target_qps=fleet.prices.target_qps,
                slo_ms=fleet.prices.slo_ms,
            )
            steps = waterfall(
                t_eager,
                s_profiles["eager"],
                s_profiles.get("onnx"),
                s_profiles.get("onnx-int8"),
                price,
            )
            extra = {**costs.extra, "waterfall": steps}
            if ref_costs is not None:
                extra["reference"] = ref_costs
            if quantized is not None:
                extra["quantized_teacher"] = quantized
            costs = replace(costs, extra=extra)
            for runtime in ("onnx", "onnx-int8"):
                if runtime in s_profiles:
                    target, profile = student_targets[c.entry.label], s_profiles[runtime]
                    outputs = _rescore(target, profile, test_X, bench.threads)
                    runtime_metric[runtime] = runtime_score(outputs)
        quality = qualities.get(c.entry.label)
        warnings = [*shared_warnings, *retention_warnings(quality)]
        gates = apply_gates(quality, spec.gates or fleet.gates) if quality is not None else []
        student_desc: dict[str, Any] = {}
        if c.student is not None:
            spec_fn = getattr(c.student, "spec", None)
            student_desc = {
                "params": count_params(c.student),
                "arch": spec_fn() if callable(spec_fn) else None,
                "runtime_metric": runtime_metric,
                **c.info,
            }
        records.append(
            RunRecord(
                system=spec.name,
                sector=task.sector,
                kind=task.kind,
                problem=task.problem,
                method=c.entry.label,
                family=c.family,
                status=c.status,  # type: ignore[arg-type]
                seed=fleet.seed,
                config_hash=ctx.config_hash,
                dataset=task.info,
                reason=c.reason,
                teacher={**teacher.describe(), **teacher_info},
                student=student_desc,
                quality=quality,
                profiles=[*t_profiles.values(), *s_profiles.values()],
                costs=costs,
                gates=gates,
                references=c.references,
                warnings=warnings,
                timings={**timings, **c.timings},
                environment=ctx.environment,
                git_revision=git_revision(),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )
        )
    for r in records:
        store.write(r)
    return records
