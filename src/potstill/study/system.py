"""One system of a fleet, end to end: data → teacher → students → quality → cost → records.

The paper's protocol per production system: measure the teacher's cost, distil with each
family, re-measure. Every student of a system starts from the same initial weights and is
trained by the same loop, so the from-scratch baseline is a fair control. All models of a
system are benchmarked together, interleaved, in one session (rule 3 of the design), so the
teacher and its students see the same machine state. Trained students are saved as they
finish and records are written atomically: an interrupted system resumes where it stopped.

A failure never costs the rest (:mod:`potstill.study.failures`): an exception in a cell
fails that cell, an exception anywhere else in the system fails each of its cells, and
both are written as ``failed`` records with the error; a rerun retries them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from potstill.config import SystemPlan, SystemSpec
from potstill.errors import ModelError, PotstillError, StoreError
from potstill.evaluate import metric_value, retrieval_recall
from potstill.events import Stage, skipped_stage, stage
from potstill.methods import build_objective
from potstill.models.arch.cnn import SmallCNN
from potstill.models.arch.mlp import MLP
from potstill.models.export import load_model, load_model_info, save_model
from potstill.models.hf.model import HFClassifier
from potstill.models.predict import logits_to_scores
from potstill.models.sizing import TeacherSize, sized_student, teacher_size
from potstill.models.teacher import Teacher
from potstill.results.store import ResultStore
from potstill.study.cells import family_of, plan_cells, refuse_if_nothing_applies
from potstill.study.context import SystemContext
from potstill.study.embedding import embedding_cells, embedding_teacher, recall_k
from potstill.study.evaluation import evaluate_cells, fail_cell
from potstill.study.failures import (
    failed_system_records,
    log_failure,
)
from potstill.study.llm_records import run_llm_students_system
from potstill.study.llm_text import encode_for_llm, is_llm_teacher, student_template
from potstill.study.records import Cell, note_training, save_hf_layout, write_records
from potstill.study.reference import int8_reference, wants_int8_reference
from potstill.study.resume import write_marker
from potstill.study.student_cache import SystemTraining, student_key, system_training
from potstill.study.tasks import encode_for_teacher, raw_features
from potstill.study.teacher_check import open_task_and_teacher
from potstill.study.transfer import SystemRows, system_rows
from potstill.train.distill import train
from potstill.types import RunRecord, Task, record_key

__all__ = ["SystemContext", "run_system", "system_done"]

log = logging.getLogger(__name__)


def _encode_text(
    spec: SystemSpec, task: Task, teacher: Teacher
) -> tuple[Task, Any, dict[str, Any]]:
    """(task with token ids, the teacher's HF model, the record's max_length entry) for
    text; (task, None, {}) otherwise."""
    if task.kind != "text":
        return task, None, {}
    if is_llm_teacher(teacher):
        return encode_for_llm(spec, task, teacher)
    model = teacher.module
    if not isinstance(model, HFClassifier) or model.tokenizer is None:
        raise ModelError(
            f"System '{task.name}' is a text system, so its teacher must be a Hugging Face "
            f"model with its tokenizer (a save_pretrained folder); got a {teacher.backend} teacher."
        )
    encoded, info = encode_for_teacher(spec, task, model)
    return encoded, model, info


def _make_student(
    teacher: Teacher, task: Task, spec: SystemSpec, seed: int, size: TeacherSize
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A fresh student, the same initial weights in every cell of a system, and how it was
    sized; refused when larger than its teacher unless ``student.allow_larger``."""
    torch.manual_seed(seed)  # every cell of a system starts from the same initial weights
    return sized_student(
        teacher, spec.student, input_shape=task.input_shape, n_outputs=task.n_outputs, size=size
    )


def _teacher_size(
    teacher: Teacher, template: Teacher, task: Task, spec: SystemSpec, seed: int
) -> TeacherSize:
    """The teacher's size; a student (made from ``template``) larger than it is refused
    here, before any training (or, with ``student.allow_larger``, its warning is said once)."""
    size = teacher_size(teacher)
    _, sizing = _make_student(template, task, spec, seed, size)
    if "warning" in sizing:
        log.warning("%s: %s", spec.name, sizing["warning"])
    return size


def _with_input_scaling(student: torch.nn.Module, task: Task) -> torch.nn.Module:
    """Raw features (a teacher file's inputs): the student standardises them itself, and
    fills empty cells with the training medians when the data has any."""
    if not isinstance(student, MLP):
        return student
    impute = any(bool(np.isnan(s.X).any()) for s in (task.train, task.val, task.test))
    spec = {**student.spec(), "standardize_inputs": True, "impute_inputs": impute}
    scaled = MLP.from_spec(spec)
    scaled.load_state_dict(student.state_dict(), strict=False)
    scaled.fit_input_scaling(torch.from_numpy(task.train.X))
    return scaled


def _system_training(
    plan: SystemPlan, ctx: SystemContext, task: Task, teacher: Teacher, info: dict[str, Any],
    template: Teacher,
) -> SystemTraining:  # fmt: skip
    """The teacher's outputs cache, its size (a too-large student is refused here) and the
    students earlier studies trained."""
    size = _teacher_size(teacher, template, task, plan.spec, plan.seed)
    return system_training(ctx.out / "cache", ctx.cache_dir, plan.train.cache_in_memory_mb,
                           (teacher, info), size)  # fmt: skip


def _train_cell(
    cell: Cell,
    teacher: Teacher,
    plan: SystemPlan,
    ctx: SystemContext,
    training: SystemTraining,
    st: Stage,
    rows: SystemRows,
    template: Teacher,
) -> None:
    spec, cfg, task = plan.spec, plan.train, rows.task
    folder = ctx.out / "students" / spec.name / cell.entry.label
    specs = cell.entry.for_problem(task.problem)
    transfer = rows.take(cell)
    student, cell.info["sizing"] = _make_student(template, task, spec, plan.seed, training.size)
    if (folder / "model.json").is_file():
        cell.student = load_model(folder)
        cell.info["resumed"] = st.outcome = "trained model reloaded"
        note_training(cell, load_model_info(folder).get("extra", {}).get("train", {}))
        return
    if isinstance(student, SmallCNN):  # it standardises the images it serves itself
        student.fit_input_scaling(torch.from_numpy(task.train.X))
    elif raw_features(spec):
        student = _with_input_scaling(student, task)
    key, name = "", f"{spec.name}-{cell.entry.label}"
    if training.students is not None and training.teacher_digest is not None:
        key = student_key(training.teacher_digest, task, specs, cfg, plan.seed, student, transfer)
        cell.cache_key = key
        if training.students.fetch(key, name, folder):
            cell.student = load_model(folder)
            cell.info["student_cache"] = "hit"
            st.outcome = "trained student reused from the cache (same key)"
            note_training(cell, load_model_info(folder).get("extra", {}).get("train", {}))
            return
    objective = build_objective(specs, label_weight=cfg.label_weight, problem=task.problem)
    result = train(
        student,
        task,
        objective=objective,
        config=cfg,
        teacher=teacher if specs else None,
        seed=plan.seed,
        checkpoint=folder / "checkpoint.pt",
        cache=training.outputs,
        description=f"{spec.name}/{cell.entry.label}",
        stage=st,
        transfer=transfer,
    )
    st.outcome = f"{result.epochs_run} epochs, best val {task.metric} {result.best_val:.4g}"
    trained = {k: v for k, v in result.__dict__.items() if k != "history"}
    save_model(
        student, folder, extra={"system": spec.name, "method": cell.entry.label, "train": trained}
    )
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    if training.students is not None and key:
        training.students.store(key, name, folder)
    cell.student = student
    note_training(cell, trained)


@dataclass
class _Opened:
    """How far a system got: its task once loaded (failed records then describe it), and
    whether training began (after which no error is "refused before work")."""

    task: Task | None = None
    working: bool = False


def _finished(store: ResultStore, keys: list[str]) -> bool:
    """Every record present, readable and not failed (a failed run is retried)."""
    for key in keys:
        if not store.exists(key):
            return False
        try:
            if store.read(key).get("status") == "failed":
                return False
        except StoreError as exc:
            log.warning("%s; it is recomputed", exc)
            return False
    return True


def system_done(spec: SystemSpec, ctx: SystemContext) -> bool:
    """Whether every record of ``spec`` is in the study and none failed: such a system is
    skipped (an executor need not even start it)."""
    keys = [record_key(spec.name, g.label) for g in ctx.fleet.plan_for(spec).grid]
    return _finished(ResultStore(ctx.out), keys)


def run_system(spec: SystemSpec, ctx: SystemContext) -> list[RunRecord]:
    """Run every grid cell of one system and write its records; skip a finished system.

    Whatever fails is written as ``failed`` records (one per cell the failure reached) and
    returned like any other record; with ``ctx.fail_fast`` a ``PotstillError`` outside the
    cells propagates instead (``potstill distill`` refuses bad input with exit code 2).
    """
    plan = ctx.fleet.plan_for(spec)
    if system_done(spec, ctx):
        log.info("%s: all %d records present, skipped", spec.name, len(plan.grid))
        return []
    state = _Opened()
    try:
        return _run_system(plan, ctx, state)
    except Exception as exc:
        if ctx.fail_fast and isinstance(exc, PotstillError) and not state.working:
            raise  # bad input, refused before any student was trained
        log_failure(f"system {spec.name}", exc)
        records = failed_system_records(
            plan,
            state.task,
            exc,
            config_hash=ctx.config_hash,
            system_hash=ctx.system_hashes.get(spec.name, ""),
            environment=ctx.environment,
        )
        store = ResultStore(ctx.out)
        for record in records:
            store.write(record)
        return records


def _run_system(plan: SystemPlan, ctx: SystemContext, state: _Opened) -> list[RunRecord]:
    spec, timings = plan.spec, dict[str, float]()
    task, teacher, teacher_info = open_task_and_teacher(
        spec, seed=plan.seed, train_cfg=plan.train, cache_dir=ctx.cache_dir,
        timings=timings, events=ctx.events,
    )  # fmt: skip
    state.task = task
    if spec.student.llm is not None:
        state.working = True
        return run_llm_students_system(plan, ctx, task, teacher, teacher_info, timings)
    # Text is tokenised once with the teacher's tokenizer: training and timing run on the
    # ids; quality is measured on the raw strings (text robustness perturbs the strings).
    raw_task, (task, text_model, text_info) = task, _encode_text(spec, task, teacher)
    teacher_info = {**teacher_info, **text_info}
    if task.problem == "embedding":
        return _run_embedding_system(plan, ctx, task, teacher, teacher_info, timings)
    student_caps = frozenset({"logits", "hidden", "embedding"})
    if text_model is not None:
        student_caps |= {"attentions", "values"}
    template = student_template(teacher, text_model)
    training = _system_training(plan, ctx, task, teacher, teacher_info, template)
    rows = system_rows(plan, task, teacher, training.outputs, text_model)
    cells = plan_cells(list(plan.grid), task, teacher, student_caps, rows.transfer is not None)
    if ctx.fail_fast:
        refuse_if_nothing_applies(cells, teacher)
    write_marker(ctx.out, spec.name, ctx.system_hashes.get(spec.name, ""))
    state.working = True
    for cell in cells:
        if cell.status == "not_applicable":
            skipped_stage(ctx.events, spec.name, "train", cell.entry.label, cell.reason)
            continue
        try:
            with stage(ctx.events, spec.name, "train", cell.entry.label) as st:
                _train_cell(cell, teacher, plan, ctx, training, st, rows, template)
            if text_model is not None:
                folder = ctx.out / "students" / spec.name / cell.entry.label
                save_hf_layout(cell.student, folder, text_model.tokenizer)
        except Exception as exc:  # one cell's failure never costs the others
            fail_cell(cell, spec.name, exc)

    t0 = time.perf_counter()
    qualities = evaluate_cells(cells, plan, ctx, raw_task, teacher, training, text_model)
    timings["evaluate_s"] = time.perf_counter() - t0

    def runtime_score(logits: np.ndarray) -> float:
        scores = logits_to_scores(torch.from_numpy(logits), task.problem).numpy()
        return metric_value(task.metric, task.test.y, scores)

    reference = None
    if text_model is not None and qualities and wants_int8_reference(spec, task):
        first = next(iter(qualities.values()))
        with stage(ctx.events, spec.name, "reference"):
            reference = int8_reference(task, text_model, runtime_score, first.teacher.value,
                                       higher_is_better=first.higher_is_better)  # fmt: skip
    return write_records(
        plan, ctx, task, teacher, teacher_info, cells, qualities, timings, runtime_score, reference
    )


def _run_embedding_system(
    plan: SystemPlan,
    ctx: SystemContext,
    task: Task,
    teacher: Teacher,
    teacher_info: dict[str, Any],
    timings: dict[str, float],
) -> list[RunRecord]:
    """An embedding system: its own grid semantics (:mod:`potstill.study.embedding`), the
    same bench, costs and records as every other system."""
    write_marker(ctx.out, plan.name, ctx.system_hashes.get(plan.name, ""))
    cells, qualities, t_test = embedding_cells(plan, ctx, task, teacher, family_of)
    k = recall_k(task)

    def runtime_score(embeddings: np.ndarray) -> float:
        return retrieval_recall(t_test, embeddings, k)

    reference = None
    if qualities and wants_int8_reference(plan.spec, task):
        module = embedding_teacher(teacher, plan.name)
        reference = int8_reference(task, module, runtime_score, 1.0, higher_is_better=True)
    return write_records(
        plan, ctx, task, teacher, teacher_info, cells, qualities, timings, runtime_score, reference
    )
