"""The grid of an embedding system: a sentence encoder distilled into a smaller one.

An embedding service has no labels, so the grid means something slightly different here,
and the records say so:

- ``scratch`` (no terms): the student as built — a layer-dropped copy initialised from the
  teacher's own layers (or the configured student) — with no training at all. It is the
  baseline distillation must beat: what dropping layers alone keeps.
- response terms (``kd`` on an embedding system resolves to ``kd_regression``): match the
  teacher's embedding, with the DistilBERT cosine loss plus the TinyBERT MSE.
- relation terms needing only the embedding (``rkd``, ``pkt``, ``cc``, …): on their own,
  keeping the geometry of each batch rather than the vectors themselves.
- anything else (hidden-state or attention methods, classification-only response
  methods) is recorded as not applicable, with what it would need.

A distilled cell trains in the one training loop (:mod:`potstill.train.embedding`): the
teacher's embeddings are the labels, and early stopping keeps the epoch whose pairwise
similarities on the validation texts agree best with the teacher's (Spearman). Quality is
retrieval fidelity on the test texts (:func:`potstill.evaluate.evaluate_embeddings`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from potstill.config import SystemPlan
from potstill.costs.environment import thread_limits
from potstill.errors import ModelError
from potstill.evaluate import evaluate_embeddings
from potstill.events import Stage, skipped_stage, stage
from potstill.methods import MethodSpec, method_info
from potstill.models.export import load_model, save_model
from potstill.models.hf.model import HFClassifier
from potstill.models.students import build_student
from potstill.models.teacher import Teacher
from potstill.models.text import embed_texts
from potstill.study.context import SystemContext
from potstill.study.failures import error_info, failure_reason, log_failure
from potstill.study.records import Cell, save_hf_layout
from potstill.train.embedding import VALIDATION_METRIC, embedding_objective, fit_embedding_student
from potstill.types import Quality, Task

__all__ = ["embedding_cells", "embedding_teacher", "recall_k"]

_RESPONSE = "kd_regression"


def recall_k(task: Task) -> int:
    """k of the task's ``recall@k`` metric."""
    name, _, k = task.metric.partition("@")
    if name != "recall" or not k.isdigit() or int(k) < 1:
        raise ModelError(
            f"An embedding system's metric must be 'recall@k' (k >= 1). "
            f"System '{task.name}' has metric '{task.metric}'."
        )
    return int(k)


def embedding_teacher(teacher: Teacher, system: str) -> HFClassifier:
    """The teacher's sentence encoder; a clear refusal for anything else."""
    module = teacher.module
    if not isinstance(module, HFClassifier) or not module.is_embedding_model:
        raise ModelError(
            f"System '{system}' is an embedding system, so its teacher must be a Hugging Face "
            "sentence-embedding model (a save_pretrained encoder without a head, e.g. teacher: "
            f"{{arch: minilm}}); got a {teacher.backend} teacher."
        )
    return module


def _losses(specs: list[MethodSpec]) -> tuple[dict[str, float], list[MethodSpec], str]:
    """(output-matching weights, relation specs, why not applicable or "")."""
    weights = {"cosine": 0.0, "mse": 0.0}
    relations: list[MethodSpec] = []
    for s in specs:
        if s.name == _RESPONSE:
            weights = {"cosine": s.weight, "mse": s.weight}
            continue
        info = method_info(s.name)
        vectors = "embedding" in info.problems  # declared in the registry: no classes needed
        if info.family != "relation" or not set(info.requires) <= {"embedding"} or not vectors:
            return (
                weights,
                relations,
                (
                    f"'{s.name}' needs {sorted(info.requires)} ({info.family}); an embedding system "
                    f"distils the sentence embedding only: '{_RESPONSE}' (kd) matches it with "
                    "cosine + MSE, relation methods on embeddings (rkd, pkt, cc, …) keep its geometry."
                ),
            )
        relations.append(s)
    return weights, relations, ""


def _train(
    cell: Cell,
    student: HFClassifier,
    splits: tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    weights: dict[str, float],
    relations: list[MethodSpec],
    plan: SystemPlan,
    folder: Path,
    st: Stage,
) -> None:
    """Fit ``student`` to the teacher's embeddings of the (training, validation) texts."""
    cfg = plan.train
    objective = embedding_objective(relations, cosine_weight=weights["cosine"],
                                    mse_weight=weights["mse"])  # fmt: skip
    with thread_limits(cfg.threads):
        result = fit_embedding_student(
            student, *splits, objective=objective, config=cfg, seed=plan.seed, stage=st,
            checkpoint=folder / "checkpoint.pt", description=f"{plan.spec.name}/{cell.entry.label}",
        )  # fmt: skip
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    st.outcome = f"{result.epochs_run} epochs, best val {VALIDATION_METRIC} {result.best_val:.4g}"
    cell.timings["train_s"] = result.seconds
    cell.timings["train_s_per_epoch"] = result.seconds_per_epoch
    cell.info.update(epochs=result.epochs_run, best_epoch=result.best_epoch,
                     history=result.history)  # fmt: skip


def embedding_cells(
    plan: SystemPlan,
    ctx: SystemContext,
    task: Task,
    teacher: Teacher,
    family: Callable[[list[MethodSpec]], str],
) -> tuple[list[Cell], dict[str, Quality], np.ndarray]:
    """Build, distil (or reload) and evaluate every cell of an embedding system on the
    encoded ``task``; returns the cells, their qualities and the teacher's test embeddings."""
    spec = plan.spec
    module = embedding_teacher(teacher, spec.name)
    k = recall_k(task)
    t_train, t_val, t_test = (embed_texts(module, s.X) for s in (task.train, task.val, task.test))
    splits = ((task.train.X, t_train), (task.val.X, t_val))
    cells, qualities = [], {}
    for entry in plan.grid:
        specs = entry.for_problem("embedding")
        cell = Cell(
            entry=entry, family=family(specs), references=[method_info(s.name).paper for s in specs]
        )
        cells.append(cell)
        weights, relations, reason = _losses(specs)
        if reason:
            cell.status, cell.reason = "not_applicable", reason
            skipped_stage(ctx.events, spec.name, "train", entry.label, reason)
            continue
        folder = ctx.out / "students" / spec.name / entry.label
        cell.info["losses"] = {**weights, **{s.name: s.weight for s in relations}}
        if not specs:
            cell.info["baseline"] = "no distillation: the student as built, untrained"
        try:
            with stage(ctx.events, spec.name, "train", entry.label) as st:
                if (folder / "model.json").is_file():
                    cell.student = load_model(folder)
                    cell.info["resumed"] = st.outcome = "trained model reloaded"
                else:
                    torch.manual_seed(plan.seed)  # every cell starts from the same weights
                    student = build_student(module, spec.student)
                    assert isinstance(student, HFClassifier)
                    if specs:
                        _train(cell, student, splits, weights, relations, plan, folder, st)
                    save_model(student.eval(), folder, extra={"system": spec.name,
                                                              "method": entry.label})  # fmt: skip
                    cell.student = student
                save_hf_layout(cell.student, folder, module.tokenizer)
            t0 = time.perf_counter()
            with stage(ctx.events, spec.name, "evaluate", entry.label):
                s_test = embed_texts(cell.student, task.test.X)
                qualities[entry.label] = evaluate_embeddings(t_test, s_test, plan.evaluate, k=k)
            cell.timings["evaluate_s"] = time.perf_counter() - t0
        except Exception as exc:  # one cell's failure never costs the others
            log_failure(f"{spec.name}/{entry.label}", exc)
            cell.status, cell.reason, cell.error = "failed", failure_reason(exc), error_info(exc)
            cell.student = None
    return cells, qualities, t_test
