"""The student is sized from its teacher, and is never larger than it unless asked.

A teacher's size is what it learned: a network's parameters (torch parameters, the values
of an ONNX graph's initialisers) or, for a tree ensemble, ``2 × splits + leaves`` (a
feature and a threshold per split, a value per leaf; :mod:`potstill.models.trees`). The
MLP student of a black-box teacher — and the small CNN student of an ONNX or TorchScript
CNN on images, and the student of an MLP or ensemble teacher when ``target_params`` is
set — gets ``student.target_params`` when it is set, else ``width × the
teacher's size``; a teacher whose size cannot be read (a custom predict callable) gets
``width ×`` :data:`UNKNOWN_TEACHER_SIZE`, and the record says so. Any student with more
parameters than its teacher is refused unless ``student.allow_larger`` is true, which puts
a warning in the record and the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from potstill.errors import ConfigError
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP, mlp_param_count
from potstill.models.arch.mobilenet import ImageClassifier
from potstill.models.predict import count_params
from potstill.models.students import (
    StudentSpec,
    build_student,
    student_for_blackbox,
    student_for_images,
)
from potstill.models.teacher import Teacher

__all__ = [
    "UNKNOWN_TEACHER_SIZE",
    "TeacherSize",
    "check_student_size",
    "student_budget",
    "teacher_size",
]

#: The size assumed for a teacher whose size cannot be read (so width 0.5 → 20,000).
UNKNOWN_TEACHER_SIZE = 40_000

_SOURCES = {
    "onnx": "values of the ONNX graph's initialisers and ai.onnx.ml coefficients",
    "torch": "torch parameters",
    "hf": "torch parameters",
}


@dataclass(frozen=True)
class TeacherSize:
    """How big a teacher is: ``count`` in ``unit``, and how it was counted (``source``)."""

    count: int | None
    unit: str  # "parameters" | "learned tree numbers" | "unknown"
    source: str

    def describe(self) -> dict[str, Any]:
        return {"count": self.count, "unit": self.unit, "source": self.source}


def teacher_size(teacher: Teacher) -> TeacherSize:
    """The teacher's size, from its modules, ONNX initialisers or trees."""
    if teacher.module is not None:
        return TeacherSize(count_params(teacher.module), "parameters", "torch parameters")
    desc = teacher.describe()
    params, trees = desc.get("params"), desc.get("trees")
    if isinstance(trees, dict):
        extra = f" + {params:,} other learned ONNX values" if params else ""
        source = (
            f"{trees['splits']:,} splits × 2 + {trees['leaves']:,} leaves of "
            f"{trees['trees']:,} trees{extra}"
        )
        return TeacherSize(int(trees["learned"]) + int(params or 0), "learned tree numbers", source)
    if isinstance(params, int) and params > 0:
        source = _SOURCES.get(teacher.backend, f"parameters a {teacher.backend} teacher reports")
        return TeacherSize(params, "parameters", source)
    kind = desc.get("architecture", {}).get("type", teacher.backend)
    return TeacherSize(None, "unknown", f"a {kind} teacher: neither parameters nor trees to count")


def student_budget(spec: StudentSpec, size: TeacherSize) -> tuple[int, str]:
    """The parameter budget of a black-box teacher's MLP student, and the rule it came from."""
    if spec.target_params is not None:
        return spec.target_params, "student.target_params"
    if size.count is not None:
        rule = f"width {spec.width:g} × {size.count:,} teacher {size.unit} ({size.source})"
        return max(1, round(spec.width * size.count)), rule
    rule = (
        f"width {spec.width:g} × {UNKNOWN_TEACHER_SIZE:,}, the size assumed for a teacher "
        f"whose size cannot be read ({size.source})"
    )
    return max(1, round(spec.width * UNKNOWN_TEACHER_SIZE)), rule


def check_student_size(n_student: int, size: TeacherSize, spec: StudentSpec) -> str | None:
    """Refuse a student larger than its teacher unless ``spec.allow_larger``; then return
    the warning to record. None when the student is not larger (or the teacher's size is
    unknown, which the record states through ``size``)."""
    if size.count is None or n_student <= size.count:
        return None
    what = f"{n_student:,} parameters, more than its teacher's {size.count:,} {size.unit} ({size.source})"
    if spec.allow_larger:
        return f"The student has {what}; accepted because student.allow_larger is true."
    raise ConfigError(
        f"The student would have {what}. A student is never larger than its teacher unless "
        "asked: lower student.width (CLI: --width), student.target_params or student.hidden, "
        "or set student.allow_larger: true (CLI: --allow-larger) to accept it with a warning "
        "in the record and "
        "the report."
    )


def _mlp_to_budget(teacher: Teacher, spec: StudentSpec, input_shape: Sequence[int]) -> bool:
    """An MLP or ensemble teacher on flat rows with ``target_params`` set: its student is an
    MLP sized to that target, as a black box's is (width and depth are not used)."""
    flat_mlp = isinstance(teacher.module, MLP | DeepEnsemble) and len(input_shape) == 1
    return flat_mlp and spec.target_params is not None


def sized_student(
    teacher: Teacher,
    spec: StudentSpec,
    *,
    input_shape: Sequence[int],
    n_outputs: int,
    size: TeacherSize | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """A randomly initialised student for ``teacher`` and how it was sized (the record's
    ``student.sizing``): a white box's student from its own layers (:func:`build_student`),
    a black box's MLP from :func:`student_budget`. Refused (``ConfigError``) when larger
    than the teacher unless ``spec.allow_larger``; then ``sizing["warning"]`` says so."""
    size = size or teacher_size(teacher)
    sizing: dict[str, Any] = {"teacher": size.describe()}
    if len(input_shape) == 3 and not isinstance(teacher.module, ImageClassifier):
        budget, rule = student_budget(spec, size)  # an ONNX or TorchScript CNN: a small CNN
        student: nn.Module = student_for_images(input_shape, n_outputs, spec, budget)
        sizing.update(rule=rule, budget=budget)
    elif teacher.module is not None and not _mlp_to_budget(teacher, spec, input_shape):
        student = build_student(teacher.module, spec, input_shape=input_shape, n_outputs=n_outputs)
        sizing["rule"] = (
            "student.hidden"
            if spec.hidden is not None
            else f"width {spec.width:g} and depth {spec.depth:g} of the teacher"
        )
    else:
        budget, rule = student_budget(spec, size)
        d_in = int(np.prod(input_shape))
        smallest = mlp_param_count(d_in, [1, 1], n_outputs)
        at_most = spec.target_params is None  # a fraction of the teacher: never above it
        student = student_for_blackbox(d_in, n_outputs, max(budget, smallest), at_most=at_most)
        sizing.update(rule=rule, budget=budget)
        if budget < smallest:
            sizing["note"] = f"budget below the smallest MLP student ({smallest:,}): that one"
    sizing["params"] = count_params(student)
    warning = check_student_size(sizing["params"], size, spec)
    if warning is not None:
        sizing["warning"] = warning
    return student, sizing
