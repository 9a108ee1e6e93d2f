"""The second half of a system run: benchmark every model together, price it, write records.

Whatever kind of system produced the students (a classifier, a regressor, a sentence
encoder), their cost is measured the same way: the teacher and every student of the system
in one interleaved session (rule 3 of the design), the teacher on its native runtime and
the runtimes it converts to, the students on eager, ONNX and INT8; every exported runtime
re-scored for quality and judged before it may count (:mod:`potstill.study.deployments`);
dollars from one price-catalog entry; a waterfall whose steps name their runtimes; and,
where the system has one, an outside reference point (the INT8 MiniLM for the text
systems) timed in the same session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill.config import GridEntry, SystemPlan
from potstill.costs import BenchTarget, ExportCache, PriceCatalog, measure
from potstill.costs.costmodel import usd_per_million
from potstill.costs.environment import git_revision
from potstill.costs.extras import QuantizedTeacher, ReferenceCosts
from potstill.costs.prices import PriceEntry
from potstill.evaluate import GatesConfig, apply_gates
from potstill.evaluate.sanity import retention_warnings
from potstill.events import stage
from potstill.models.hf.io import save_pretrained
from potstill.models.hf.model import HFClassifier
from potstill.models.predict import count_params
from potstill.models.teacher import Teacher
from potstill.results.store import ResultStore
from potstill.study.context import SystemContext
from potstill.study.deployments import (
    Deployment,
    Scorer,
    TeacherBench,
    record_costs,
    student_deployments,
    teacher_bench,
    teacher_deployments,
)
from potstill.study.error_info import error_info, failure_reason, log_failure
from potstill.study.reference import Reference
from potstill.study.serving import write_serving_bundles
from potstill.study.student_cache import reuse_enabled
from potstill.study.teacher_check import system_warnings
from potstill.types import CostProfile, Costs, Quality, RunRecord, Task
from potstill.zoo.cache import default_cache_dir

__all__ = ["Cell", "bench_rows", "note_training", "save_hf_layout", "write_records"]

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
    error: dict[str, Any] | None = None  # a failed cell: type, message, traceback tail
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    cache_key: str = ""  # the student cache's key: set when the student may be reused


def note_training(cell: Cell, trained: dict[str, Any]) -> None:
    """What training did, into the cell: the same for a student trained now and one
    reloaded after an interruption (its model.json keeps it), so a resumed study's
    records equal an uninterrupted one's."""
    for key, name in (("seconds", "train_s"), ("seconds_per_epoch", "train_s_per_epoch")):
        if key in trained:
            cell.timings[name] = trained[key]
    for key, name in (("epochs_run", "epochs"), ("best_epoch", "best_epoch")):
        if key in trained:
            cell.info[name] = trained[key]
    if "teacher_cache" in trained:
        cell.info["teacher_cache"] = trained["teacher_cache"]


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
    head = ReferenceCosts(name=reference.label, target=reference.name, note=reference.note,
                          quality=reference.quality)  # fmt: skip
    profile = next(iter(profiles.values()), None)
    if profile is None:
        return head.to_dict()
    usd = usd_per_million(profile, price)
    return replace(
        head,
        measured=True,
        runtime=profile.runtime,
        p50_ms=profile.latency.p50_ms,
        usd_per_million=usd,
        reduction=1.0 - usd / usd_per_million(teacher, price),
        bytes_on_disk=profile.bytes_on_disk,
    ).to_dict()


def _quantized_teacher(
    deployments: Mapping[str, Deployment], native: Deployment, price: PriceEntry
) -> dict[str, Any] | None:
    """Quantisation alone: the teacher's own INT8 export, priced and re-scored, the cheap
    alternative every distilled student is up against."""
    dep = deployments.get("onnx-int8")
    if dep is None or dep.metric is None:
        return None
    usd, base = usd_per_million(dep.profile, price), usd_per_million(native.profile, price)
    return QuantizedTeacher(
        runtime="onnx-int8", p50_ms=dep.profile.latency.p50_ms, usd_per_million=usd,
        reduction=1.0 - usd / base, metric_value=dep.metric, retention=dep.retention,
        counted=dep.counted, reason=dep.reason, against=native.label,
    ).to_dict()  # fmt: skip


def _export_cache(ctx: SystemContext) -> ExportCache | None:
    """The exported ONNX / INT8 files kept across studies, beside the cached teachers and
    students (``<cache>/exports``); None when reuse is turned off."""
    return (
        ExportCache((ctx.cache_dir or default_cache_dir()) / "exports") if reuse_enabled() else None
    )


@dataclass
class _Session:
    """What one system's benchmark produced, shared by the records of its cells."""

    teacher: TeacherBench
    students: dict[str, BenchTarget]
    profiles: dict[str, dict[str, CostProfile]]
    test_X: np.ndarray
    threads: int


def _bench(
    plan: SystemPlan, ctx: SystemContext, task: Task, teacher: Teacher, ok: list[Cell],
    reference: Reference | None,
) -> _Session:  # fmt: skip
    """Time the teacher, every trained student and the reference in one session."""
    bench, name = plan.bench, plan.name
    # Token ids travel as float32 like every other input; HF models cast them back.
    test_X = task.test.X.astype(np.float32, copy=False)
    example = bench_rows(test_X, max(512, *bench.batch_sizes))
    t_bench = teacher_bench(teacher, example, tuple(bench.runtimes))
    students = {
        c.entry.label: BenchTarget(
            name=f"student:{c.entry.label}",
            module=c.student,
            example=example,
            path=ctx.out / "students" / name / c.entry.label,
        )
        for c in ok
    }
    targets = [t_bench.target, *students.values()]
    if reference is not None and ok:
        targets.append(reference.target(example))
    # Keep the exported ONNX / INT8 files: they are the deployable artefacts.
    bench_cfg = bench.model_copy(update={"export_dir": ctx.out / "exports" / name})
    by_target: dict[str, dict[str, CostProfile]] = {}
    with ctx.bench_guard(), stage(ctx.events, name, "bench") as st:
        for p in measure(targets, bench_cfg, stage=st, exports=_export_cache(ctx)) if ok else []:
            by_target.setdefault(p.model, {})[p.runtime] = p
        st.outcome = (
            "no trained student"
            if not ok
            else (f"{sum(map(len, by_target.values()))} model × runtime profiles")
        )
    return _Session(t_bench, students, by_target, test_X, bench.threads)


@dataclass
class _Pricing:
    """What every cell's pricing shares: the benchmark, the teacher's deployments, prices."""

    session: _Session
    t_scorer: Scorer
    t_deps: dict[str, Deployment]
    native: Deployment | None
    price: PriceEntry
    gates: GatesConfig
    teacher_metric: float | None
    extra: dict[str, Any]


def write_records(
    plan: SystemPlan,
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
    inputs the models take), judge and price every deployment, write one record per cell.
    A student whose pricing or re-scoring raises gets a ``failed`` record; the others are
    unaffected."""
    ok = [c for c in cells if c.status == "ok" and c.student is not None]
    t0 = time.perf_counter()
    session = _bench(plan, ctx, task, teacher, ok, reference)
    timings["bench_s"] = time.perf_counter() - t0
    pricing = _pricing(plan, ctx, session, qualities, runtime_score, reference)
    t_profiles = session.profiles.get("teacher", {})
    records = []
    for c in cells:
        s_profiles = session.profiles.get(f"student:{c.entry.label}", {})
        try:
            costs, s_deps = _price_cell(c, pricing, s_profiles, ctx.fleet.prices)
        except Exception as exc:  # one student's pricing never costs the system's records
            log_failure(f"{plan.name}/{c.entry.label} (pricing)", exc)
            reason = f"pricing or re-scoring this student failed: {failure_reason(exc)}"
            c.status, c.reason, c.error = "failed", reason, error_info(exc)
            costs, s_deps = None, {}
        records.append(_record(plan, ctx, task, teacher, teacher_info, c, qualities, timings,
                               costs, [*t_profiles.values(), *s_profiles.values()], s_deps))  # fmt: skip
    store = ResultStore(ctx.out)
    for r in records:
        store.write(r)
    write_serving_bundles(plan.spec, ctx.out, task, teacher, records)
    return records


def _pricing(
    plan: SystemPlan, ctx: SystemContext, session: _Session, qualities: Mapping[str, Quality],
    runtime_score: RuntimeScore, reference: Reference | None,
) -> _Pricing:  # fmt: skip
    """The teacher's deployments, judged and priced once for all the system's cells."""
    fleet = ctx.fleet
    price = PriceCatalog.load(fleet.prices.override).get(fleet.prices.instance)
    gates = plan.gates
    first = next(iter(qualities.values()), None)
    hib = first.higher_is_better if first is not None else True
    t_scorer = Scorer(session.teacher.target, session.test_X, session.threads, runtime_score, hib)
    t_deps = teacher_deployments(
        session.teacher, t_scorer, session.profiles.get("teacher", {}), gates
    )
    native = t_deps.get(session.teacher.native)
    extra: dict[str, Any] = {}
    if native is not None:
        if reference is not None:
            ref_profiles = session.profiles.get(reference.name, {})
            extra["reference"] = _reference_costs(reference, ref_profiles, native.profile, price)
        if (quantized := _quantized_teacher(t_deps, native, price)) is not None:
            extra["quantized_teacher"] = quantized
    teacher_metric = first.teacher.value if first is not None else None
    return _Pricing(session, t_scorer, t_deps, native, price, gates, teacher_metric, extra)


def _price_cell(
    c: Cell, p: _Pricing, s_profiles: dict[str, CostProfile], prices: Any
) -> tuple[Costs | None, dict[str, Deployment]]:
    """One cell's student deployments (re-scored on every runtime) and its costs."""
    s_deps: dict[str, Deployment] = {}
    if c.status == "ok" and c.entry.label in p.session.students and p.native is not None:
        scorer = replace(p.t_scorer, target=p.session.students[c.entry.label])
        s_deps = student_deployments(scorer, s_profiles, p.teacher_metric, p.gates)
    costs = record_costs(p.session.teacher, p.t_deps, s_deps, p.price,
                         target_qps=prices.target_qps, slo_ms=prices.slo_ms)  # fmt: skip
    if costs is not None and p.extra:
        costs = replace(costs, extra={**costs.extra, **p.extra})
    return costs, s_deps


def _record(
    plan: SystemPlan, ctx: SystemContext, task: Task, teacher: Teacher,
    teacher_info: Mapping[str, Any], c: Cell, qualities: Mapping[str, Quality],
    timings: Mapping[str, float], costs: Costs | None, profiles: list[CostProfile],
    deployments: Mapping[str, Deployment],
) -> RunRecord:  # fmt: skip
    quality = qualities.get(c.entry.label)
    judged = quality is not None and c.status == "ok"  # a failed record passes no gate
    gates = apply_gates(quality, plan.gates) if judged and quality else []
    student_desc: dict[str, Any] = {}
    if c.student is not None:
        spec_fn = getattr(c.student, "spec", None)
        student_desc = {
            "params": count_params(c.student),
            "arch": spec_fn() if callable(spec_fn) else None,
            "runtime_metric": {
                r: d.metric for r, d in deployments.items() if r != "eager" and d.metric is not None
            },
            **c.info,
        }
    return RunRecord(
        system=plan.name,
        sector=task.sector,
        kind=task.kind,
        problem=task.problem,
        method=c.entry.label,
        family=c.family,
        status=c.status,  # type: ignore[arg-type]
        seed=plan.seed,
        config_hash=ctx.config_hash,
        system_hash=ctx.system_hashes.get(plan.name, ""),
        variant=plan.variant.model_dump() if plan.variant is not None else None,
        dataset=replace(task.info, n_classes=task.n_classes),
        reason=c.reason,
        error=c.error,
        teacher={**teacher.describe(), **teacher_info},
        student=student_desc,
        quality=quality,
        profiles=profiles,
        costs=costs,
        gates=gates,
        references=c.references,
        warnings=[*system_warnings(task, teacher_info), *retention_warnings(quality)],
        timings={**timings, **c.timings},
        environment=ctx.environment,
        git_revision=git_revision(),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
