"""Before any training: is the user's teacher answering the question the task asks?

A teacher given as a file was trained elsewhere, on its own class order and inputs. It is
opened before the task is built, and checked before a student is trained:

1. **Class order.** Class ``k`` of the task is the teacher's output column ``k``: the
   order comes from ``dataset.classes`` (``--classes``) when given, else from the teacher
   (:meth:`~potstill.models.teacher.Teacher.class_labels`); the task is built in that
   order, and a label the teacher does not know is refused with its row.
2. **Empty cells.** Rows with empty cells reach the teacher as NaN; a teacher that fails
   on them or returns non-finite scores is refused, naming the columns.
3. **Better than trivial.** The teacher's metric on labelled rows must beat the trivial
   predictor's (:func:`~potstill.evaluate.sanity.teacher_vs_trivial`); otherwise the run
   is refused with what that usually means, unless ``teacher.allow_weak``.

Everything measured goes into the record (``teacher.classes``, ``teacher.check``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from potstill.config import SystemSpec
from potstill.errors import DataError, ModelError
from potstill.evaluate.sanity import TeacherCheck, teacher_vs_trivial
from potstill.events import EventSink, ignore, stage
from potstill.models.teacher import Teacher
from potstill.study.tasks import file_problem, fit_to_teacher, load_task
from potstill.train.config import TrainConfig
from potstill.types import Task
from potstill.zoo.recipes import file_teacher, get_teacher

__all__ = ["check_teacher", "open_task_and_teacher", "system_warnings"]

log = logging.getLogger(__name__)

#: Below this many validation rows, the training rows are scored too.
_MIN_ROWS = 50


def _class_order(
    spec: SystemSpec, teacher: Teacher
) -> tuple[tuple[str, ...] | None, dict[str, Any]]:
    """The class order to build the task in, and where it comes from."""
    own = teacher.class_labels()
    info: dict[str, Any] = {"teacher_labels": list(own) if own else None}
    if spec.dataset.classes:
        return tuple(spec.dataset.classes), {**info, "source": "dataset.classes"}
    if own is None:
        return None, {**info, "source": "data labels, sorted (the teacher does not say)"}
    return own, {**info, "source": f"teacher ({teacher.backend})"}


def open_task_and_teacher(
    spec: SystemSpec, *, seed: int, train_cfg: TrainConfig, cache_dir: Path | None,
    timings: dict[str, float], events: EventSink = ignore,
) -> tuple[Task, Teacher, dict[str, Any]]:  # fmt: skip
    """The system's task and teacher, checked. A teacher file on a user's data is opened
    first (as the problem the labels imply), so the task is built in its class order and a
    label it does not know is refused with its row; the inputs are then brought to the
    shape it takes (:func:`~potstill.study.tasks.fit_to_teacher`). Each step is a stage of
    ``events`` (``data``, ``teacher``, and ``teacher check`` for a file)."""
    ds = spec.dataset
    t0 = time.perf_counter()
    if spec.teacher.path is None or ds.builtin is not None or ds.problem == "embedding":
        with stage(events, spec.name, "data") as st:
            task = load_task(spec, seed=seed)
            st.outcome = _rows(task)
        timings["load_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with stage(events, spec.name, "teacher") as st:
            teacher, info = get_teacher(spec.name, task, spec.teacher, seed=seed,
                                        train_cfg=train_cfg, cache_dir=cache_dir, stage=st)  # fmt: skip
            task, fitted = fit_to_teacher(spec, task, teacher)
            st.outcome = st.outcome or ("cached" if info.get("cached") else "loaded")
        timings["teacher_s"] = time.perf_counter() - t0
        return task, teacher, {**info, **fitted}
    with stage(events, spec.name, "teacher") as st:
        problem = file_problem(spec)
        teacher = file_teacher(spec.teacher, problem)
        st.outcome = f"loaded {teacher.backend} from {spec.teacher.path.name}"
    timings["teacher_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with stage(events, spec.name, "data") as st:
        order, classes = _class_order(spec, teacher) if problem == "classification" else (None, {})
        task = load_task(spec, seed=seed, classes=order)
        st.outcome = _rows(task)
    timings["load_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if classes:
        classes["order"] = list(task.class_names)
    with stage(events, spec.name, "teacher", "check"):
        task, fitted = fit_to_teacher(spec, task, teacher)
        checked = check_teacher(task, teacher, spec.teacher.allow_weak, classes)
    info = {"source": str(spec.teacher.path), "cached": False, "user_file": True, **fitted,
            **checked}  # fmt: skip
    timings["teacher_s"] += time.perf_counter() - t0
    return task, teacher, info


def _rows(task: Task) -> str:
    return f"{len(task.train)}/{len(task.val)}/{len(task.test)} rows train/val/test"


def _nan_columns(task: Task, rows: np.ndarray) -> list[str]:
    cols = np.flatnonzero(np.isnan(rows).any(axis=0))
    names = task.feature_names
    return [names[c] if c < len(names) else str(c) for c in cols]


def _check_empty_cells(task: Task, teacher: Teacher) -> int:
    """Score every row with an empty cell; refuse a teacher that cannot. Returns their count."""
    if task.kind != "tabular":
        return 0
    X = np.concatenate([s.X for s in (task.train, task.val, task.test)])
    rows = X[np.isnan(X).any(axis=1)]
    if len(rows) == 0:
        return 0
    columns = ", ".join(repr(c) for c in _nan_columns(task, rows))
    fix = (
        f"Empty cells are in column(s) {columns} and reach a teacher given as a file as NaN. "
        "Fill them the way the teacher expects, export the teacher with its imputer (e.g. a "
        "scikit-learn pipeline with SimpleImputer through skl2onnx), or list the columns in "
        "'drop' (--drop)."
    )
    try:
        scores = np.asarray(teacher.predict_scores(rows), dtype=np.float64)
    except Exception as exc:  # the user's model decides how it fails; say what it was fed
        raise ModelError(
            f"System '{task.name}': the teacher fails on the {len(rows)} row(s) with empty "
            f"cells ({type(exc).__name__}: {exc}). {fix}"
        ) from exc
    bad = int((~np.isfinite(scores.reshape(len(rows), -1))).any(axis=1).sum())
    if bad:
        raise ModelError(
            f"System '{task.name}': the teacher returns non-finite scores (NaN or inf) for "
            f"{bad} of the {len(rows)} row(s) with empty cells. {fix}"
        )
    return len(rows)


def _labelled_rows(task: Task) -> tuple[np.ndarray, np.ndarray, str]:
    if len(task.val) >= _MIN_ROWS:
        return task.val.X, task.val.y, "val"
    X = np.concatenate([task.train.X, task.val.X])
    return X, np.concatenate([task.train.y, task.val.y]), "train+val"


def _check_outputs(task: Task, scores: np.ndarray, classes: dict[str, Any]) -> None:
    if task.problem == "classification" and (scores.ndim != 2 or scores.shape[1] != task.n_classes):
        width = scores.shape[1] if scores.ndim == 2 else 1
        raise ModelError(
            f"System '{task.name}': the teacher gives {width} score column(s), but the task has "
            f"{task.n_classes} classes {list(task.class_names)} (order from {classes['source']}). "
            "Check the target column, or give the teacher's classes in output order "
            "(classes: [...] / --classes)."
        )


def _weak_message(task: Task, check: TeacherCheck, classes: dict[str, Any]) -> str:
    labels = classes.get("teacher_labels")
    said = f"the teacher's own labels are {labels}" if labels else "the teacher names no labels"
    order = (
        f" the class order differs from the teacher's outputs (the task's classes in order: "
        f"{list(task.class_names)}, from {classes['source']}; {said}; give the right order "
        "with classes: [...] / --classes);"
        if task.problem == "classification"
        else ""
    )
    return (
        f"System '{task.name}': the teacher scores {check.metric} {check.teacher:.4g} on the "
        f"{check.rows} {check.split} rows, no better than a trivial predictor ({check.trivial_predictor}: "
        f"{check.metric} {check.trivial:.4g}). This usually means the data does not match the "
        f"teacher:{order} the target column is not the one the teacher predicts; or the "
        f"features reach it in another order or encoding than it was trained on (columns: "
        f"{', '.join(task.feature_names[:12])}{', …' if len(task.feature_names) > 12 else ''}). "
        "If the teacher really is this weak, set teacher.allow_weak: true "
        "(CLI: --allow-weak-teacher) to distil it anyway."
    )


def check_teacher(
    task: Task, teacher: Teacher, allow_weak: bool, classes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Refuse a teacher that cannot score the rows with empty cells, gives the wrong number
    of columns, or is no better than a trivial predictor (unless ``allow_weak``); returns
    what to record (``classes``, ``rows_with_empty_cells``, ``check``)."""
    info: dict[str, Any] = {"classes": classes} if classes else {}
    info["rows_with_empty_cells"] = _check_empty_cells(task, teacher)
    X, y, split = _labelled_rows(task)
    scores = np.asarray(teacher.predict_scores(X), dtype=np.float64)
    _check_outputs(task, scores, classes or {"source": "the data"})
    check = teacher_vs_trivial(task, scores, y, split=split)
    info["check"] = {**check.to_dict(), "allowed_weak": False}
    if not check.better:
        if not allow_weak:
            raise DataError(_weak_message(task, check, classes or {}))
        info["check"]["allowed_weak"] = True
        log.warning(
            "%s: the teacher is no better than a trivial predictor (%s %.4g vs %.4g); "
            "distilling it anyway (teacher.allow_weak)",
            task.name, check.metric, check.teacher, check.trivial,
        )  # fmt: skip
    return info


def system_warnings(task: Task, teacher_info: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Record warnings every record of a system carries: a weak teacher distilled anyway,
    and a teacher file tested on rows potstill chose (it may have been trained on them)."""
    out: list[dict[str, Any]] = []
    check = teacher_info.get("check") or {}
    if check.get("allowed_weak"):
        out.append({
            "code": "weak_teacher",
            "message": f"The teacher ({check['metric']} {check['teacher']:.4g}) is no better "
            f"than a trivial predictor ({check['trivial']:.4g}); distilled anyway "
            "(teacher.allow_weak).",
        })  # fmt: skip
    if teacher_info.get("user_file") and task.info.split.get("how") == "fractions":
        out.append({
            "code": "test_rows_may_be_seen",
            "message": "The test rows were drawn by potstill from the same file; the teacher "
            "was trained elsewhere and may have seen some of them, which flatters the teacher "
            "and the students. Name the test rows (dataset.split.test / --test-data, or "
            "split.column / --split-column).",
        })  # fmt: skip
    return out
