"""Turn a system's dataset spec into a Task (the only place the study touches the data box).

:func:`load_task` reads the data; once the teacher is open, :func:`fit_to_teacher` brings
the inputs to the shape it takes (checked on two rows before anything is trained) and
:func:`encode_for_teacher` tokenises texts at the teacher's length. Both return what the
record says about it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from potstill.config import SystemSpec
from potstill.data import (
    builtin_spec,
    conform_inputs,
    encode_task,
    image_problem,
    infer_problem,
    load_builtin,
    load_image_arrays,
    load_image_folder,
    load_table,
    load_text_corpus,
)
from potstill.data.layout import format_shape
from potstill.data.split import hold_out
from potstill.data.text import count_truncated, encode_texts
from potstill.data.transfer import file_rows, make_transfer
from potstill.data.transfer_corpus import read_corpus
from potstill.data.unseen import unseen_rows
from potstill.errors import ConfigError, ModelError, PotstillError
from potstill.models.hf.model import HFClassifier
from potstill.models.inspection import expected_input_shape
from potstill.models.teacher import Teacher
from potstill.types import Kind, Problem, Sector, Task

__all__ = [
    "count_truncated",
    "encode_for_teacher",
    "encode_texts",
    "file_problem",
    "file_rows",
    "fit_to_teacher",
    "hold_out",
    "load_task",
    "make_transfer",
    "raw_features",
    "read_corpus",
    "spec_identity",
    "unseen_rows",
]

_GIVEN = "teacher.input_shape / --input-shape"


def spec_identity(spec: SystemSpec) -> tuple[Sector, Kind, Problem]:
    """(sector, kind, problem) of a system as its spec declares them, for the records of a
    system that failed before its data loaded: a built-in dataset's registered values;
    for a user's file the spec's sector (else "other"), "text" with a text column, and its
    declared problem (else "classification", the loader's default guess)."""
    ds = spec.dataset
    if ds.builtin is not None:
        known = builtin_spec(ds.builtin)
        return spec.sector or known.sector, known.kind, known.problem
    kind: Kind = "text" if ds.text_column is not None else "tabular"
    return spec.sector or "other", kind, ds.problem or "classification"


def raw_features(spec: SystemSpec) -> bool:
    """Whether features reach the models unencoded (a teacher file expects its own inputs)."""
    encode = spec.dataset.encode
    return encode is False or (encode is None and spec.teacher.path is not None)


def _load_images(spec: SystemSpec, *, seed: int, classes: Sequence[str] | None) -> Task:
    ds, shape = spec.dataset, spec.teacher.input_shape
    common: dict[str, Any] = dict(
        name=spec.name, sector=spec.sector or "other", seed=seed, max_rows=ds.max_rows,
        classes=ds.classes if classes is None else classes, split=ds.split,
    )  # fmt: skip
    if ds.images is not None:  # read at the teacher's (C, H, W) when it is given
        image = shape if shape is not None and len(shape) == 3 and shape[0] in (1, 3) else None
        size = ds.image_size or (image[1:] if image else None)
        channels = image[0] if image else None
        return load_image_folder(ds.images, size=size, channels=channels, **common)
    assert ds.path is not None and ds.problem != "embedding"  # guaranteed by DatasetSpec
    return load_image_arrays(
        ds.path, labels=ds.target or "y", sensitive=ds.sensitive, problem=ds.problem, **common
    )


def load_task(spec: SystemSpec, *, seed: int, classes: Sequence[str] | None = None) -> Task:
    """Load a built-in dataset or the user's file, honouring the spec's overrides.

    ``classes`` is the teacher's class order (default: the spec's ``classes``, else the
    labels sorted); a label outside it is refused with its row."""
    ds = spec.dataset
    if ds.builtin is not None:
        return load_builtin(ds.builtin, seed=seed, max_rows=ds.max_rows)
    if ds.is_images:
        return _load_images(spec, seed=seed, classes=classes)
    assert ds.path is not None  # guaranteed by DatasetSpec
    if ds.problem == "embedding":
        assert ds.text_column is not None  # guaranteed by DatasetSpec
        return load_text_corpus(
            ds.path,
            ds.text_column,
            name=spec.name,
            sector=spec.sector or "other",
            seed=seed if ds.split.seed is None else ds.split.seed,
            val_size=ds.split.val_share,
            test_size=ds.split.test_share,
            max_rows=ds.max_rows,
        )
    assert ds.target is not None  # guaranteed by DatasetSpec
    return load_table(
        ds.path,
        ds.target,
        problem=ds.problem,
        name=spec.name,
        sector=spec.sector or "other",
        sensitive=ds.sensitive,
        sensitive_is_feature=ds.sensitive_is_feature,
        text_column=ds.text_column,
        drop=ds.drop,
        positive_label=ds.positive_label,
        classes=ds.classes if classes is None else classes,
        seed=seed,
        split=ds.split,
        max_rows=ds.max_rows,
        encode=not raw_features(spec),
    )


def file_problem(spec: SystemSpec) -> Problem:
    """The problem a user's data poses, read before the task is built (so a teacher file can
    be opened first): an image folder classifies; an .npz or a table as its labels say."""
    ds = spec.dataset
    if ds.images is not None:
        return "classification"
    assert ds.path is not None  # a user's source: guaranteed by DatasetSpec
    if ds.is_images:
        assert ds.problem != "embedding"  # guaranteed by DatasetSpec
        return image_problem(ds.path, labels=ds.target or "y", problem=ds.problem)
    if ds.problem == "embedding":
        return "embedding"
    assert ds.target is not None  # guaranteed by DatasetSpec
    return infer_problem(ds.path, ds.target, ds.problem)


def _wanted_shape(spec: SystemSpec, teacher: Teacher) -> tuple[tuple[int, ...] | None, str]:
    given = tuple(spec.teacher.input_shape) if spec.teacher.input_shape else None
    declared = teacher.input_shape
    if given is not None and declared is not None and given != declared:
        raise ConfigError(
            f"System '{spec.name}': teacher.input_shape is {format_shape(given)} ({_GIVEN}), but "
            f"the ONNX file {spec.teacher.path} declares inputs of shape {format_shape(declared)}. "
            "Remove input_shape or correct it."
        )
    if given is not None:
        return given, _GIVEN
    return (declared, "declared by the ONNX file") if declared is not None else (None, "")


def _probe(task: Task, teacher: Teacher) -> None:
    """Run the teacher on two training rows; refuse with the data's shape if it cannot take
    them (the number of scores is checked with the class order, in ``teacher_check``)."""
    shape = format_shape(task.input_shape)
    try:
        teacher.predict_scores(task.train.X[:2])
    except PotstillError:
        raise
    except Exception as exc:  # a user's model raises its own runtime's errors (ORT, TorchScript)
        last = (str(exc).strip().splitlines() or [""])[-1][:300]
        cause = last if last.startswith(type(exc).__name__) else f"{type(exc).__name__}: {last}"
        module = teacher.module
        wants = None if module is None else expected_input_shape(module)
        expects = f"; it expects rows of shape {format_shape(wants)}" if wants else ""
        raise ModelError(
            f"System '{task.name}': the teacher cannot take the data's rows of shape {shape} "
            f"({cause}{expects}). If it takes images or another layout, give "
            "teacher.input_shape (CLI --input-shape), e.g. 1,28,28 for (N, 1, 28, 28) images."
        ) from exc


def fit_to_teacher(spec: SystemSpec, task: Task, teacher: Teacher) -> tuple[Task, dict[str, Any]]:
    """The task with inputs in the shape the teacher takes (``teacher.input_shape``, else the
    ONNX file's declared shape), checked on two rows for a teacher file; the record's entry."""
    if spec.teacher.max_length is not None and task.kind != "text":
        raise ConfigError(
            f"System '{spec.name}': teacher.max_length (--max-length) applies to text systems; "
            f"this one is {task.kind}. Remove it."
        )
    want, source = _wanted_shape(spec, teacher)
    note = ""
    if want is not None and (task.kind != "text" or spec.teacher.input_shape is not None):
        task, note = conform_inputs(task, want, source=source)
    if spec.teacher.path is not None and task.kind != "text":
        _probe(task, teacher)
    if task.kind == "text":
        return task, {}
    return task, {
        "input": {
            "shape": list(task.input_shape),
            "source": source or "the data's own shape",
            "rearranged": note or None,
        }
    }


def encode_for_teacher(
    spec: SystemSpec, task: Task, model: HFClassifier
) -> tuple[Task, dict[str, Any]]:
    """A text task tokenised at the teacher's ``max_length``; the record's entry says the
    length, where it came from and how many texts it cuts."""
    texts = np.concatenate([task.train.X, task.val.X, task.test.X])
    cut = count_truncated(texts, model.tokenizer, model.max_length)
    source = getattr(model, "max_length_source", "") or "unknown"
    if spec.teacher.max_length is not None:
        source = "teacher.max_length / --max-length"
    info = {"tokens": model.max_length, "source": source, "texts_cut": cut, "texts": len(texts)}
    encoded = encode_task(task, model.tokenizer, model.max_length)
    note = f"{encoded.info.note} Length from {source}; {cut} of {len(texts)} texts were longer and cut."
    encoded = dataclasses.replace(encoded, info=dataclasses.replace(encoded.info, note=note))
    return encoded, {"max_length": info}
