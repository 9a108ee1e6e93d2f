"""One candidate of a search, end to end: build the student, train it, deploy it on its
runtime, and measure what it keeps on the **validation** split and what it costs.

The test split is never touched here: every number a search compares comes from the
validation rows (quality, and the rows the harness times). Quality is measured on the
deployed runtime's own outputs (an INT8 student is judged as INT8), with the system's
evaluation settings, and judged by its gates; the price comes from the same harness as a
study's, with its quick preset, and the same price-catalog entry.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill.auto.space import Candidate
from potstill.config import FleetConfig, SystemSpec
from potstill.costs import BenchConfig, BenchTarget, PriceCatalog, PriceEntry, measure
from potstill.costs.costmodel import usd_per_million
from potstill.data.text import encode_texts, is_encoded
from potstill.errors import BenchError, ConfigError
from potstill.evaluate import EvalConfig, GatesConfig, apply_gates, evaluate_pair, metric_value
from potstill.methods import build_objective
from potstill.models.arch.cnn import SmallCNN
from potstill.models.arch.mlp import MLP
from potstill.models.export import load_model, save_model
from potstill.models.hf.model import HFClassifier
from potstill.models.predict import count_params, logits_to_scores
from potstill.models.sizing import TeacherSize, sized_student, teacher_size
from potstill.models.teacher import Teacher
from potstill.study.deployments import rescore
from potstill.study.llm_text import is_llm_teacher
from potstill.study.records import bench_rows
from potstill.study.tasks import encode_for_teacher, raw_features
from potstill.study.teacher_check import open_task_and_teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.distill import train
from potstill.types import CostProfile, Task

__all__ = ["Measurement", "SearchContext", "measure_usd", "open_context", "run_candidate"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    """What one candidate kept (validation) and cost (quick harness) at one rung."""

    rung: int
    epochs: int
    retention: float
    metric: float
    usd_per_million: float
    p99_ms: float
    params: int
    gates: dict[str, str]  # gate name -> "pass" | "fail" | "not measured"
    violations: dict[str, float]  # constraint name -> amount over its limit (<= 0 meets it)
    train_s: float = 0.0
    measure_s: float = 0.0

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.violations.values())

    @property
    def meets_slo(self) -> bool:
        return self.violations.get("p99_slo", 0.0) <= 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class SearchContext:
    """A system opened once for its whole search: data, teacher, settings, price."""

    spec: SystemSpec
    fleet: FleetConfig
    task: Task
    teacher: Teacher
    size: TeacherSize
    teacher_val: float
    price: PriceEntry
    gates: GatesConfig
    bench: BenchConfig
    evaluate: EvalConfig
    folder: Path
    cache: TeacherOutputCache = field(default_factory=TeacherOutputCache)
    teacher_info: dict[str, Any] = field(default_factory=dict)
    #: A text system: the raw strings (quality is measured on them; ``task`` holds the
    #: token ids training and timing use) and the teacher's model (its tokenizer).
    raw_task: Task | None = None
    text_model: HFClassifier | None = None

    @property
    def quality_task(self) -> Task:
        return self.raw_task if self.raw_task is not None else self.task


def _encode(spec: SystemSpec, task: Task, teacher: Teacher) -> tuple[Task, HFClassifier | None]:
    """A text task tokenised once with its Hugging Face teacher's tokenizer (as a study
    does); other tasks unchanged. An LLM or tokenizer-less teacher is refused."""
    if task.kind != "text":
        return task, None
    model = teacher.module
    if is_llm_teacher(teacher) or not isinstance(model, HFClassifier) or model.tokenizer is None:
        raise ConfigError(
            f"System '{spec.name}': 'potstill select' searches tabular, image and text "
            f"classification or regression systems with a Hugging Face encoder teacher; this "
            f"one is {task.kind} ({task.problem}) with a {teacher.backend} teacher. Use "
            "'potstill study' with a grid for it."
        )
    return encode_for_teacher(spec, task, model)[0], model


def open_context(
    spec: SystemSpec, fleet: FleetConfig, folder: Path, *, resamples: int,
    cache_dir: Path | None = None,
) -> SearchContext:  # fmt: skip
    """Open ``spec``'s task and teacher (checked as a study does) for a search into ``folder``."""
    plan = fleet.plan_for(spec)
    raw, teacher, info = open_task_and_teacher(
        spec, seed=plan.seed, train_cfg=plan.train, cache_dir=cache_dir, timings={}
    )
    if raw.problem == "embedding":
        raise ConfigError(
            f"System '{spec.name}': 'potstill select' does not search embedding systems "
            f"({raw.kind}). Use 'potstill study' with a grid for it."
        )
    task, text_model = _encode(spec, raw, teacher)
    evaluate = plan.evaluate
    bench = plan.bench.with_quick_counts().model_copy(
        update={"slo_ms": fleet.prices.slo_ms, "target_qps": fleet.prices.target_qps}
    )
    teacher_val = metric_value(raw.metric, raw.val.y, teacher.predict_scores(raw.val.X))
    return SearchContext(
        spec=spec, fleet=fleet, task=task, teacher=teacher, size=teacher_size(teacher),
        teacher_val=teacher_val,
        price=PriceCatalog.load(fleet.prices.override).get(fleet.prices.instance),
        gates=plan.gates, bench=bench,
        evaluate=evaluate.model_copy(update={"n_resamples": min(evaluate.n_resamples, resamples)}),
        folder=folder, cache=TeacherOutputCache(spill_dir=folder / "cache"), teacher_info=info,
        raw_task=raw if text_model is not None else None, text_model=text_model,
    )  # fmt: skip


def _new_student(ctx: SearchContext, cand: Candidate) -> torch.nn.Module:
    torch.manual_seed(ctx.fleet.seed)
    student, _ = sized_student(
        ctx.teacher, cand.student(ctx.spec.student), input_shape=ctx.task.input_shape,
        n_outputs=ctx.task.n_outputs, size=ctx.size,
    )  # fmt: skip
    if isinstance(student, SmallCNN):  # it standardises the images it serves itself
        student.fit_input_scaling(torch.from_numpy(ctx.task.train.X))
    elif isinstance(student, MLP) and raw_features(ctx.spec):
        task = ctx.task
        impute = any(bool(np.isnan(s.X).any()) for s in (task.train, task.val))
        scaled = MLP.from_spec(
            {**student.spec(), "standardize_inputs": True, "impute_inputs": impute}
        )
        scaled.load_state_dict(student.state_dict(), strict=False)
        scaled.fit_input_scaling(torch.from_numpy(task.train.X))
        student = scaled
    return student


def _train(
    ctx: SearchContext, cand: Candidate, epochs: int, previous: Path | None, label: str
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A new student trained ``epochs`` epochs, or the previous rung's trained on."""
    student = load_model(previous) if previous is not None else _new_student(ctx, cand)
    specs = cand.methods()
    objective = build_objective(specs, label_weight=cand.label_weight, problem=ctx.task.problem)
    base = ctx.fleet.plan_for(ctx.spec).train
    cfg = base.model_copy(
        update={"epochs": epochs, "lr": cand.lr, "label_weight": cand.label_weight,
                "patience": max(base.patience, epochs)}
    )  # fmt: skip
    result = train(
        student, ctx.task, objective=objective, config=cfg,
        teacher=ctx.teacher if specs else None, seed=ctx.fleet.seed, cache=ctx.cache,
        description=label,
    )  # fmt: skip
    return student, {k: v for k, v in result.__dict__.items() if k != "history"}


def _profile(ctx: SearchContext, target: BenchTarget, cand: Candidate, out: Path) -> CostProfile:
    cfg = ctx.bench.model_copy(
        update={"runtimes": (cand.runtime,), "threads": cand.threads, "export_dir": out}
    )
    profiles = measure([target], cfg)
    if not profiles:
        raise BenchError(
            f"{target.name} could not be deployed on {cand.runtime} (see the log); the "
            "candidate is dropped."
        )
    return profiles[0]


def _example(ctx: SearchContext) -> np.ndarray:
    """Validation rows for timing (the test split is kept for the final choice)."""
    val_X = ctx.task.val.X.astype(np.float32, copy=False)
    return bench_rows(val_X, max(512, *ctx.bench.batch_sizes))


def _encoded(ctx: SearchContext, X: np.ndarray) -> np.ndarray:
    """Rows as the deployed student takes them: raw strings of a text system tokenised
    (token ids travel as float32 like every input; HF models cast them back)."""
    model = ctx.text_model
    if model is None or is_encoded(X):
        return X
    assert model.tokenizer is not None  # checked when the context was opened
    return encode_texts(X, model.tokenizer, model.max_length)


def measure_usd(ctx: SearchContext, student: torch.nn.Module, cand: Candidate, out: Path) -> float:
    """$ per 1M predictions of ``student`` deployed as ``cand`` says (one quick session)."""
    target = BenchTarget(name=f"candidate:{out.name}", module=student, example=_example(ctx))
    return usd_per_million(_profile(ctx, target, cand, out), ctx.price)


def _violations(ctx: SearchContext, gates: list[Any], p99_ms: float) -> dict[str, float]:
    """Each gate as a constraint (<= 0 meets it), and the p99 SLO of batch-1 calls."""
    out: dict[str, float] = {}
    for g in gates:
        if g.status != "fail":
            out[g.name] = 0.0
        elif g.value is None or not math.isfinite(g.value):
            out[g.name] = 1.0
        else:
            over = g.threshold - g.value if g.name.startswith("min_") else g.value - g.threshold
            out[g.name] = max(float(over), 1e-9)
    out["p99_slo"] = p99_ms - ctx.fleet.prices.slo_ms
    return out


def run_candidate(
    ctx: SearchContext, cand: Candidate, *, rung: int, epochs: int, folder: Path,
    previous: Path | None = None, previous_epochs: int = 0,
) -> Measurement:  # fmt: skip
    """Train ``cand`` to ``epochs`` (on from ``previous``, trained ``previous_epochs``),
    save it in ``folder`` and measure it on validation rows on its runtime."""
    t0 = time.perf_counter()
    student, trained = _train(ctx, cand, epochs - previous_epochs, previous, folder.name)
    save_model(student, folder, extra={"system": ctx.spec.name, "method": "auto",
                                       "train": {**trained, "epochs_run": epochs}})  # fmt: skip
    t1 = time.perf_counter()
    target = BenchTarget(name=f"candidate:{folder.name}", module=student, example=_example(ctx))
    profile = _profile(ctx, target, cand, folder / "exports")
    problem = ctx.task.problem

    def predict(X: np.ndarray) -> np.ndarray:
        rows = _encoded(ctx, X).astype(np.float32, copy=False)
        raw = rescore(target, profile, rows, cand.threads)
        return logits_to_scores(torch.from_numpy(raw), problem).numpy().astype(np.float64)

    val_task = dataclasses.replace(ctx.quality_task, test=ctx.quality_task.val)
    quality = evaluate_pair(val_task, ctx.teacher.predict_scores, predict, ctx.evaluate)
    gates = apply_gates(quality, ctx.gates)
    p99 = float(profile.latency.p99_ms)
    return Measurement(
        rung=rung, epochs=epochs, retention=float(quality.retention.value),
        metric=float(quality.student.value),
        usd_per_million=usd_per_million(profile, ctx.price), p99_ms=p99,
        params=count_params(student), gates={g.name: g.status for g in gates},
        violations=_violations(ctx, gates, p99), train_s=t1 - t0,
        measure_s=time.perf_counter() - t1,
    )  # fmt: skip
