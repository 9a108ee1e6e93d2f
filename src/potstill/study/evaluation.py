"""A system's trained students measured on the raw test rows, each paired with scratch.

Quality comes from :func:`potstill.evaluate.evaluate_pair` (or, for a student the student
cache gave back and evaluated the same way before, from :mod:`potstill.study.eval_cache`);
every student's test scores are kept beside the records so a verdict can be recombined
over seeds; a cell whose evaluation raises fails alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from potstill.config import SystemPlan
from potstill.evaluate import evaluate_pair
from potstill.events import Stage, stage
from potstill.models.predict import predict_scores
from potstill.models.teacher import Teacher
from potstill.models.text import text_predictor
from potstill.study.context import SystemContext
from potstill.study.error_info import error_info, failure_reason, log_failure
from potstill.study.eval_cache import evaluation_key, rows_digest
from potstill.study.records import Cell
from potstill.study.student_cache import SystemTraining
from potstill.study.versus import (
    predictions_path,
    save_test_scores,
    student_test_scores,
    with_versus_scratch,
)
from potstill.types import Problem, Quality, Task, record_key

__all__ = ["evaluate_cells", "fail_cell", "predictor_of"]


def predictor_of(module: torch.nn.Module, problem: Problem, text_model: Any = None) -> Any:
    if text_model is not None:  # raw strings in, through the teacher's tokenizer
        return text_predictor(module, text_model.tokenizer, text_model.max_length, problem)
    return lambda X: predict_scores(module, X, problem=problem)


def fail_cell(cell: Cell, system: str, exc: Exception) -> None:
    log_failure(f"{system}/{cell.entry.label}", exc)
    cell.status, cell.reason, cell.error = "failed", failure_reason(exc), error_info(exc)
    cell.student = None


def _evaluate_cell(
    c: Cell,
    raw_task: Task,
    teacher: Teacher,
    predictor: Any,
    config: Any,
    training: SystemTraining,
    st: Stage,
    rows: str | None,
) -> tuple[Quality, np.ndarray]:
    """One cell's quality and test scores: read back when the same student was evaluated
    the same way before (:mod:`potstill.study.eval_cache`; ``rows``: the digest of the
    rows it reads), measured otherwise."""

    def measure() -> tuple[Quality, np.ndarray]:
        quality = evaluate_pair(raw_task, teacher.predict_scores, predictor, config, stage=st)
        return quality, student_test_scores(raw_task, predictor, "student")

    student = c.cache_key
    if training.evaluations is None or not student or rows is None:
        return measure()
    key = evaluation_key(student, rows, raw_task, config)
    quality, scores, hit = training.evaluations.evaluate(key, measure)
    if hit:
        c.info["evaluation_cache"] = "hit"
        st.outcome = "evaluation reused from the cache (same student, rows and settings)"
    return quality, scores


def evaluate_cells(
    cells: list[Cell],
    plan: SystemPlan,
    ctx: SystemContext,
    raw_task: Task,
    teacher: Teacher,
    training: SystemTraining,
    text_model: Any,
) -> dict[str, Quality]:
    """Quality of every trained cell on the raw test rows, each distilled one paired with
    the from-scratch student (test scores kept); a cell whose evaluation raises fails alone."""
    qualities, scores, config, name = {}, {}, plan.evaluate, plan.name
    rows = None if training.evaluations is None else rows_digest(raw_task)  # once per system
    for c in cells:
        if c.status != "ok" or c.student is None:
            continue
        label = c.entry.label
        predictor = predictor_of(c.student, raw_task.problem, text_model)
        try:
            with stage(ctx.events, name, "evaluate", label) as st:
                qualities[label], scores[label] = _evaluate_cell(
                    c, raw_task, teacher, predictor, config, training, st, rows
                )
                path = predictions_path(ctx.out, record_key(name, label))
                save_test_scores(path, raw_task.test.y, scores[label], metric=raw_task.metric)
        except Exception as exc:
            qualities.pop(label, None)
            scores.pop(label, None)
            fail_cell(c, name, exc)
    baseline = next((c.entry.label for c in cells if c.family == "baseline"), None)
    return with_versus_scratch(qualities, scores, baseline, raw_task, config)
