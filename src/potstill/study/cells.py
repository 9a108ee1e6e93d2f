"""Which grid cells of a system can run: each cell's method family and, before anything is
trained, whether its methods apply to this teacher, student and problem."""

from __future__ import annotations

from typing import Any

import torch

from potstill.errors import MethodError
from potstill.methods import applicability_reason, get_method_class, method_info
from potstill.methods.base import feature_kind
from potstill.models.teacher import Teacher
from potstill.study.records import Cell
from potstill.types import Task

__all__ = ["family_of", "hidden_kind", "plan_cells", "refuse_if_nothing_applies"]


_NO_TRANSFER = (
    "pseudo_label needs rows without labels for the teacher to label: give the system a "
    "'transfer' set or a dataset.labelled_fraction below 1."
)


def family_of(specs: list[Any]) -> str:
    if not specs:
        return "baseline"
    families = {method_info(s.name).family for s in specs}
    return families.pop() if len(families) == 1 else "combined"


def hidden_kind(teacher: Teacher, task: Task) -> str | None:
    """ "vector", "tokens" or "map": the kind of the teacher's hidden features, by a probe
    (a torch module's hooked layer, or an ONNX teacher's tapped tensor)."""
    names = teacher.hidden_layer_names()
    if not names:
        return None
    out = teacher.outputs(torch.from_numpy(task.train.X[:2]), hidden=names[:1])
    assert out.hidden is not None
    return feature_kind(out.hidden[0], where="teacher")


def plan_cells(
    grid: list[Any],
    task: Task,
    teacher: Teacher,
    student_caps: frozenset[str],
    has_transfer: bool = False,
) -> list[Cell]:
    """A cell per grid entry, ``not_applicable`` (with the reason) where the teacher, the
    student or the problem lacks what a method needs, or a ``pseudo_label`` cell has no
    transfer set to label (``has_transfer``)."""
    probed = hidden_kind(teacher, task)
    cells = []
    for entry in grid:
        specs = entry.for_problem(task.problem)
        pseudo = bool(getattr(entry, "pseudo_label", False))
        cell = Cell(
            entry=entry,
            family="pseudo_label" if pseudo else family_of(specs),
            references=[method_info(s.name).paper for s in specs],
        )
        reason = (
            applicability_reason(
                specs,
                teacher_capabilities=teacher.capabilities,
                student_capabilities=student_caps,
                problem=task.problem,
                hidden_kind=probed,
            )
            if specs
            else None
        )
        if reason:
            cell.status, cell.reason = "not_applicable", _with_note(reason, specs, teacher)
        elif pseudo and not has_transfer:
            cell.status, cell.reason = "not_applicable", _NO_TRANSFER
        cells.append(cell)
    return cells


def _with_note(reason: str, specs: list[Any], teacher: Teacher) -> str:
    """The reason, followed by why the teacher lacks what a method needs (a tree ensemble
    whose leaves cannot be read, say) when the teacher can tell."""
    lacking = any(get_method_class(s.name).requires - teacher.capabilities for s in specs)
    note = teacher.engine.missing_note() if lacking else None
    return f"{reason} {note}" if note else reason


def refuse_if_nothing_applies(cells: list[Cell], teacher: Teacher) -> None:
    """``distill``: every requested method is inapplicable → refuse, naming each reason."""
    distilled = [c for c in cells if c.family != "baseline"]
    if not distilled or any(c.status != "not_applicable" for c in distilled):
        return
    reasons = "\n".join(f"  - {c.entry.label}: {c.reason}" for c in distilled)
    raise MethodError(
        f"None of the requested methods applies to this {teacher.backend} teacher "
        f"(it exposes {', '.join(sorted(teacher.capabilities))}):\n{reasons}\n"
        "Choose a method whose requirements the teacher meets ('potstill methods' lists "
        "what each one requires); response methods such as kd need only the outputs."
    )
