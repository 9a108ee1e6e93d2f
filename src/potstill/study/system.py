"""One system of a fleet, end to end: data → teacher → students → quality → cost → records.

The paper's protocol per production system: measure the teacher's cost, distil with each
family, re-measure. Every student of a system starts from the same initial weights and is
trained by the same loop, so the from-scratch baseline is a fair control. All models of a
system are benchmarked together, interleaved, in one session (rule 3 of the design), so the
teacher and its students see the same machine state. Trained students are saved as they
finish and records are written atomically: an interrupted system resumes where it stopped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill.config import FleetConfig, GridEntry, SystemSpec
from potstill.costs import BenchTarget, PriceCatalog, cost_of, measure, runtime_predictor, waterfall
from potstill.data.text import encode_task
from potstill.errors import ModelError, PotstillError
from potstill.evaluate import apply_gates, evaluate_pair, metric_value
from potstill.methods import applicability_reason, build_objective, method_info
from potstill.methods.base import feature_kind
from potstill.models.export import load_model, save_model
from potstill.models.hf import HFClassifier
from potstill.models.hooks import FeatureTap
from potstill.models.mlp import MLP
from potstill.models.predict import count_params, logits_to_scores, predict_scores
from potstill.models.students import build_student, student_for_blackbox
from potstill.models.teacher import Teacher
from potstill.models.text import text_predictor
from potstill.models.zoo import get_teacher
from potstill.study.environment import git_revision
from potstill.study.store import ResultStore
from potstill.study.tasks import load_task, raw_features
from potstill.train.cache import TeacherOutputCache
from potstill.train.distill import train
from potstill.types import CostProfile, Problem, RunRecord, Task

__all__ = ["SystemContext", "run_system"]

log = logging.getLogger(__name__)


@dataclass
class SystemContext:
    """What a system run needs besides its spec: the fleet, the output folder, the hash."""

    fleet: FleetConfig
    out: Path
    config_hash: str
    environment: dict[str, Any]
    cache_dir: Path | None = None
    progress: bool = True
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class _Cell:
    entry: GridEntry
    family: str
    status: str = "ok"
    reason: str = ""
    student: torch.nn.Module | None = None
    info: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)


def _family(specs: list[Any]) -> str:
    if not specs:
        return "baseline"
    families = {method_info(s.name).family for s in specs}
    return families.pop() if len(families) == 1 else "combined"


def _bench_rows(X: np.ndarray, n: int) -> np.ndarray:
    """At least ``n`` real test rows for timing: a small test split is repeated to fill batches."""
    reps = -(-n // len(X))
    return np.concatenate([X] * reps)[:n] if reps > 1 else X[:n]


def _hidden_kind(teacher: Teacher, task: Task) -> str | None:
    """ "vector", "tokens" or "map": the kind of the teacher's hidden features, by a probe."""
    module = teacher.module
    names = getattr(module, "hidden_layer_names", None)
    if module is None or not callable(names) or not names():
        return None
    module.eval()
    with FeatureTap(module, hidden=[names()[0]]) as tap, torch.no_grad():
        out = tap(torch.from_numpy(task.train.X[:2]))
    assert out.hidden is not None
    return feature_kind(out.hidden[0], where="teacher")


def _predictor(module: torch.nn.Module, problem: Problem, text_model: Any = None) -> Any:
    if text_model is not None:  # raw strings in, through the teacher's tokenizer
        return text_predictor(module, text_model.tokenizer, text_model.max_length, problem)
    return lambda X: predict_scores(module, X, problem=problem)


def _encode_text(task: Task, teacher: Teacher) -> tuple[Task, Any]:
    """(task with token ids, the teacher's HF model) for text; (task, None) otherwise."""
    if task.kind != "text":
        return task, None
    model = teacher.module
    if not isinstance(model, HFClassifier) or model.tokenizer is None:
        raise ModelError(
            f"System '{task.name}' is a text system, so its teacher must be a Hugging Face "
            f"model with its tokenizer (a save_pretrained folder); got a {teacher.backend} teacher."
        )
    return encode_task(task, model.tokenizer, model.max_length), model


def _make_student(teacher: Teacher, task: Task, spec: SystemSpec, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # every cell of a system starts from the same initial weights
    if teacher.module is not None:
        return build_student(
            teacher.module, spec.student, input_shape=task.input_shape, n_outputs=task.n_outputs
        )
    target = spec.student.target_params or 20_000
    return student_for_blackbox(
        int(np.prod(task.input_shape)), task.n_outputs, target_params=target
    )


def _with_input_scaling(student: torch.nn.Module, task: Task) -> torch.nn.Module:
    """Raw features (a teacher file's inputs): the student standardises them itself."""
    if not isinstance(student, MLP):
        return student
    scaled = MLP.from_spec({**student.spec(), "standardize_inputs": True})
    scaled.load_state_dict(student.state_dict(), strict=False)
    scaled.fit_input_scaling(torch.from_numpy(task.train.X))
    return scaled


def _train_cell(
    cell: _Cell,
    task: Task,
    teacher: Teacher,
    spec: SystemSpec,
    ctx: SystemContext,
    cache: TeacherOutputCache,
) -> None:
    fleet = ctx.fleet
    folder = ctx.out / "students" / spec.name / cell.entry.label
    cfg = spec.train or fleet.train
    specs = cell.entry.for_problem(task.problem)
    if (folder / "model.json").is_file():
        cell.student = load_model(folder)
        cell.info["resumed"] = "trained model reloaded"
        return
    student = _make_student(teacher, task, spec, fleet.seed)
    if raw_features(spec):
        student = _with_input_scaling(student, task)
    objective = build_objective(specs, label_weight=cfg.label_weight, problem=task.problem)
    result = train(
        student,
        task,
        objective=objective,
        config=cfg,
        teacher=teacher if specs else None,
        seed=fleet.seed,
        checkpoint=folder / "checkpoint.pt",
        cache=cache,
        description=f"{spec.name}/{cell.entry.label}",
        progress=ctx.progress,
    )
    save_model(
        student,
        folder,
        extra={
            "system": spec.name,
            "method": cell.entry.label,
            "train": {k: v for k, v in result.__dict__.items() if k != "history"},
        },
    )
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    cell.student = student
    cell.timings["train_s"] = result.seconds
    cell.timings["train_s_per_epoch"] = result.seconds_per_epoch
    cell.info.update(
        epochs=result.epochs_run, best_epoch=result.best_epoch, teacher_cache=result.teacher_cache
    )


def run_system(spec: SystemSpec, ctx: SystemContext) -> list[RunRecord]:
    """Run every grid cell of one system and write its records; skip finished ones."""
    fleet, store = ctx.fleet, ResultStore(ctx.out)
    grid = spec.grid or fleet.grid
    keys = [f"{spec.name}__{g.label}".replace("/", "_").replace("+", "-") for g in grid]
    if all(store.exists(k) for k in keys):
        log.info("%s: all %d records present, skipped", spec.name, len(keys))
        return []
    t0 = time.perf_counter()
    task = load_task(spec, seed=fleet.seed)
    timings = {"load_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    teacher, teacher_info = get_teacher(
        spec.name,
        task,
        spec.teacher,
        seed=fleet.seed,
        train_cfg=spec.train or fleet.train,
        cache_dir=ctx.cache_dir,
    )
    timings["teacher_s"] = time.perf_counter() - t0
    # Text is tokenised once with the teacher's tokenizer: training and timing run on the
    # ids; quality is measured on the raw strings (text robustness perturbs the strings).
    raw_task, task, text_model = task, *_encode_text(task, teacher)
    cache = TeacherOutputCache(
        spill_dir=ctx.out / "cache", in_memory_mb=fleet.train.cache_in_memory_mb
    )
    cells: list[_Cell] = []
    student_caps = frozenset({"logits", "hidden", "embedding"})
    if text_model is not None:
        student_caps |= {"attentions", "values"}
    hidden_kind = _hidden_kind(teacher, task)
    for entry in grid:
        specs = entry.for_problem(task.problem)
        cell = _Cell(
            entry=entry,
            family=_family(specs),
            references=[method_info(s.name).paper for s in specs],
        )
        reason = (
            applicability_reason(
                specs,
                teacher_capabilities=teacher.capabilities,
                student_capabilities=student_caps,
                problem=task.problem,
                hidden_kind=hidden_kind,
            )
            if specs
            else None
        )
        if reason:
            cell.status, cell.reason = "not_applicable", reason
        else:
            try:
                _train_cell(cell, task, teacher, spec, ctx, cache)
            except (PotstillError, FloatingPointError) as exc:
                cell.status, cell.reason = "failed", str(exc)
        cells.append(cell)

    ok = [c for c in cells if c.status == "ok" and c.student is not None]
    t0 = time.perf_counter()
    qualities = {}
    for c in ok:
        assert c.student is not None
        qualities[c.entry.label] = evaluate_pair(
            raw_task,
            teacher.predict_scores,
            _predictor(c.student, task.problem, text_model),
            spec.evaluate or fleet.evaluate,
        )
    timings["evaluate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench = spec.bench or fleet.bench
    # Token ids travel as float32 like every other input; HF models cast them back.
    test_X = task.test.X.astype(np.float32, copy=False)
    example = _bench_rows(test_X, max(512, *bench.batch_sizes))
    teacher_target = BenchTarget(
        name="teacher",
        module=teacher.module,
        predict=None if teacher.module is not None else teacher.predict_fn(),
        example=example,
        path=None,
    )
    targets = [teacher_target] + [
        BenchTarget(
            name=f"student:{c.entry.label}",
            module=c.student,
            predict=None,
            example=example,
            path=ctx.out / "students" / spec.name / c.entry.label,
        )
        for c in ok
    ]
    # Keep the exported ONNX / INT8 files: they are the deployable artefacts.
    bench_cfg = bench.model_copy(update={"export_dir": ctx.out / "exports" / spec.name})
    profiles = measure(targets, bench_cfg) if ok else []
    timings["bench_s"] = time.perf_counter() - t0
    catalog = PriceCatalog.load(fleet.prices.override)
    price = catalog.get(fleet.prices.instance)
    by_target: dict[str, dict[str, CostProfile]] = {}
    for p in profiles:
        by_target.setdefault(p.model, {})[p.runtime] = p
    t_profiles = by_target.get("teacher", {})
    t_eager = t_profiles.get("eager") or t_profiles.get("native")
    records = []
    for c in cells:
        s_profiles = by_target.get(f"student:{c.entry.label}", {})
        costs = None
        quality = qualities.get(c.entry.label)
        extra_q: dict[str, Any] = {}
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
            costs = replace(costs, extra={**costs.extra, "waterfall": steps})
            for runtime in ("onnx", "onnx-int8"):
                if runtime in s_profiles:
                    target = next(t for t in targets if t.name == f"student:{c.entry.label}")
                    logits = runtime_predictor(target, runtime, threads=bench.threads)(test_X)
                    scores = logits_to_scores(
                        torch.from_numpy(np.asarray(logits)), task.problem
                    ).numpy()
                    extra_q[runtime] = metric_value(task.metric, task.test.y, scores)
        gates = apply_gates(quality, spec.gates or fleet.gates) if quality is not None else []
        student_desc: dict[str, Any] = {}
        if c.student is not None:
            spec_fn = getattr(c.student, "spec", None)
            student_desc = {
                "params": count_params(c.student),
                "arch": spec_fn() if callable(spec_fn) else None,
                "runtime_metric": extra_q,
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
                timings={**timings, **c.timings},
                environment=ctx.environment,
                git_revision=git_revision(),
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )
        )
    for r in records:
        store.write(r)
    return records
