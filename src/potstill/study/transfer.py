"""A system's labelled rows and transfer set, made once before its cells train.

``dataset.labelled_fraction`` keeps the labels of a seeded (stratified, for
classification) share of the training rows; the rest join the transfer set without
their labels. The teacher is the one opened on every label (a historical model), and the
scratch student trains on the labelled rows alone. ``transfer`` adds rows from a file or
synthesised from the training rows (:mod:`potstill.data.transfer`); for a text system, the
texts of an unlabelled corpus (:mod:`potstill.study.transfer_corpus`). The teacher labels
the whole transfer set once (:func:`potstill.train.transfer.teacher_labels`, through the
system's teacher-output cache); each cell then takes what its grid entry asks for:
distilled cells the rows and the teacher's outputs on them, the ``pseudo_label`` cell the
teacher's hard labels, scratch nothing. The record says what was used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from potstill.config import GridEntry, SystemPlan
from potstill.errors import ConfigError, DataError
from potstill.models.hf.model import HFClassifier
from potstill.models.teacher import Teacher
from potstill.study.records import Cell
from potstill.study.tasks import file_rows, hold_out, make_transfer  # the study's way into data
from potstill.study.transfer_corpus import corpus_rows
from potstill.train.cache import TeacherOutputCache
from potstill.train.transfer import TransferRows, teacher_labels
from potstill.types import Split, Task

__all__ = ["SystemRows", "labelled_rows", "system_rows"]


@dataclass(frozen=True)
class SystemRows:
    """The rows a system's cells train on: the labelled task and the transfer set."""

    task: Task
    transfer: TransferRows | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def for_cell(self, entry: GridEntry, distilled: bool) -> TransferRows | None:
        """The transfer rows ``entry`` trains on: soft targets for a distilled cell, hard
        labels for ``pseudo_label``, none for scratch or ``transfer: false``."""
        if self.transfer is None:
            return None
        if entry.pseudo_label:
            return self.transfer.as_pseudo_labels()
        return self.transfer if distilled and entry.transfer else None

    def take(self, cell: Cell) -> TransferRows | None:
        """The transfer rows ``cell`` trains on, noting in its record what it used."""
        distilled = bool(cell.entry.for_problem(self.task.problem))
        if self.info:
            cell.info["transfer"] = self.cell_info(cell.entry, distilled)
        return self.for_cell(cell.entry, distilled)

    def cell_info(self, entry: GridEntry, distilled: bool) -> dict[str, Any]:
        """The record's ``transfer`` entry for ``entry`` (empty without a transfer set)."""
        if not self.info:
            return {}
        rows = self.for_cell(entry, distilled)
        used = "none" if rows is None else ("hard labels" if rows.pseudo_label else "soft targets")
        return {**self.info, "used": used}


def _split(split: Split, rows: np.ndarray) -> Split:
    sensitive = None if split.sensitive is None else split.sensitive[rows]
    return replace(split, X=split.X[rows], y=split.y[rows], sensitive=sensitive)


def labelled_rows(task: Task, fraction: float, seed: int) -> tuple[Task, np.ndarray]:
    """(the task with only its labelled training rows, the inputs of the others): a seeded
    ``fraction`` of the rows, stratified by class for classification."""
    if fraction >= 1:
        return task, task.train.X[:0]
    rows = np.arange(len(task.train.y))
    try:
        kept, unlabelled = hold_out(
            rows, task.train.y, 1 - fraction, seed=seed,
            stratify=task.problem == "classification", class_names=task.class_names,
        )  # fmt: skip
    except DataError as exc:
        n_kept = len(rows) - math.ceil((1 - fraction) * len(rows))
        raise DataError(
            f"System '{task.name}': dataset.labelled_fraction {fraction:g} of its {len(rows)} "
            f"training rows keeps {n_kept} labelled row(s): too few for a draw stratified by "
            f"its {len(np.unique(task.train.y))} classes. Raise labelled_fraction."
        ) from exc
    return replace(task, train=_split(task.train, kept)), task.train.X[unlabelled]


def _refuse_unsupported(plan: SystemPlan, task: Task) -> None:
    if task.problem == "embedding":
        raise ConfigError(
            f"System '{plan.name}': transfer sets and dataset.labelled_fraction apply to "
            "classification and regression systems, not to embedding ones. Remove them."
        )
    if plan.train.nproc > 1:
        raise ConfigError(
            f"System '{plan.name}': train.nproc is {plan.train.nproc}, and a transfer set "
            "(or dataset.labelled_fraction < 1) trains in one process only. Set train.nproc: 1."
        )
    if plan.transfer is not None and task.kind == "text" and plan.transfer.kind != "file":
        raise ConfigError(
            f"System '{plan.name}' is a text system: transfer kind '{plan.transfer.kind}' "
            "makes table or image rows. For texts, give kind 'file' with an unlabelled corpus "
            f"(a .txt file, one text per line, or a CSV, JSONL or Parquet file with the text "
            f"column '{task.feature_names[0]}'); dataset.labelled_fraction < 1 also hands the "
            "unlabelled training texts to the teacher."
        )


def _made_rows(
    plan: SystemPlan, task: Task, teacher: Teacher, text_model: HFClassifier | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """The rows the ``transfer`` section gives (none without one) and, for a file, the
    record's account of the rows it read and dropped as already known (``corpus`` for a
    text corpus, ``file_rows`` for a table)."""
    spec = plan.transfer
    if spec is None:
        return task.train.X[:0], {}
    if task.kind == "text":
        rows, corpus = corpus_rows(spec, task, teacher, text_model)
        return rows.astype(task.train.X.dtype, copy=False), {"corpus": corpus}
    if spec.kind == "file":
        splits = {"train": task.train.X, "val": task.val.X, "test": task.test.X}
        rows, account = file_rows(spec, splits, task.feature_names)
        return rows, {"file_rows": account}
    made = make_transfer(spec, task.train.X, seed=plan.seed)
    return made.astype(task.train.X.dtype, copy=False), {}


def system_rows(
    plan: SystemPlan,
    task: Task,
    teacher: Teacher,
    cache: TeacherOutputCache,
    text_model: HFClassifier | None = None,
) -> SystemRows:
    """The labelled rows and the teacher-labelled transfer set of one system (the task
    unchanged and no transfer set when neither is asked for). A text system's corpus is
    tokenised with ``text_model``'s tokenizer, as its training texts were."""
    fraction, spec = plan.spec.dataset.labelled_fraction, plan.transfer
    if spec is None and fraction >= 1:
        return SystemRows(task)
    _refuse_unsupported(plan, task)
    labelled, unlabelled = labelled_rows(task, fraction, plan.seed)
    made, corpus = _made_rows(plan, task, teacher, text_model)
    X_t = np.concatenate([unlabelled, made])
    y_t, state = teacher_labels(teacher, labelled.train.X, X_t, cache, task.problem)
    info: dict[str, Any] = {
        "labelled_fraction": fraction,
        "labelled_rows": len(labelled.train.y),
        "unlabelled_rows": len(unlabelled),
        "kind": None if spec is None else spec.kind,
        "size": None if spec is None else (spec.size if spec.kind == "file" else spec.multiple),
        "parameters": {} if spec is None else spec.parameters(),
        "path": None if spec is None or spec.path is None else str(spec.path),
        "transfer_rows": len(made),
        "teacher_labelled_rows": len(X_t),
        "teacher_labels_cache": state,
        **corpus,
    }
    return SystemRows(labelled, TransferRows(X_t, y_t, teacher_cache=state), info)
