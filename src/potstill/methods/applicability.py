"""Refuse a method before training when the models cannot give what it needs.

A black-box teacher (scikit-learn, XGBoost, ONNX) exposes only ``logits``; feature- and
relation-based methods need its hidden layers or embeddings. Finding that out after the
data is loaded and the student built wastes a run, and finding it inside a loss gives a
confusing traceback, so the study asks here first. ``applicability_reason`` returns the
reason (for "not applicable" records); ``check_applicable`` raises it as a MethodError.
"""

from __future__ import annotations

from collections.abc import Iterable

from potstill._validation import check_choice
from potstill.errors import MethodError
from potstill.methods.base import Method
from potstill.methods.objective import PROBLEMS, MethodSpec
from potstill.methods.registry import get_method_class, list_methods

__all__ = ["applicability_reason", "applicable_methods", "check_applicable"]

MethodLike = MethodSpec | Method | str | type[Method]


def _method_class(method: MethodLike) -> type[Method]:
    if isinstance(method, MethodSpec):
        return get_method_class(method.name)
    if isinstance(method, str):
        return get_method_class(method)
    if isinstance(method, Method):
        return type(method)
    return method


def _kind_ok(cls: type[Method], hidden_kind: str | None) -> bool:
    """A method on hidden layers needs the models' kind of feature (vector, tokens, map)."""
    return hidden_kind is None or "hidden" not in cls.requires or hidden_kind in cls.hidden_kinds


def applicable_methods(
    *,
    teacher_capabilities: frozenset[str],
    student_capabilities: frozenset[str],
    problem: str,
    hidden_kind: str | None = None,
) -> list[str]:
    """Names of the registered methods these models and this problem allow.

    ``hidden_kind`` ("vector", "tokens" or "map"), when known, also rules out methods
    defined for another kind of hidden feature (e.g. attention transfer needs maps).
    """
    have = teacher_capabilities & student_capabilities
    return [
        name
        for name in list_methods()
        if problem in (cls := get_method_class(name)).problems
        and cls.requires <= have
        and _kind_ok(cls, hidden_kind)
    ]


def applicability_reason(
    methods: Iterable[MethodLike],
    *,
    teacher_capabilities: frozenset[str],
    student_capabilities: frozenset[str],
    problem: str,
    teacher_label: str = "the teacher",
    hidden_kind: str | None = None,
) -> str | None:
    """Why the first inapplicable method cannot be used, or ``None`` when all can.

    ``teacher_label`` names the teacher in the message, e.g. "a black-box scikit-learn teacher";
    ``hidden_kind`` is the models' kind of hidden feature when known (see applicable_methods).
    """
    check_choice(problem, "problem", owner="check_applicable", choices=PROBLEMS, error=MethodError)
    alternatives = applicable_methods(
        teacher_capabilities=teacher_capabilities,
        student_capabilities=student_capabilities,
        problem=problem,
        hidden_kind=hidden_kind,
    )
    instead = (
        f"Use one of the methods these models allow instead: {', '.join(alternatives)}."
        if alternatives
        else "No registered method applies to these models."
    )
    for method in methods:
        cls = _method_class(method)
        if problem not in cls.problems:
            kinds = " and ".join(sorted(cls.problems))
            return (
                f"Method '{cls.name}' applies to {kinds} problems, but this system is a "
                f"{problem} problem. {instead}"
            )
        for side, caps in (
            (teacher_label, teacher_capabilities),
            ("the student", student_capabilities),
        ):
            missing = sorted(cls.requires - caps)
            if missing:
                needs = ", ".join(repr(m) for m in missing)
                exposes = ", ".join(repr(c) for c in sorted(caps)) or "nothing"
                return (
                    f"Method '{cls.name}' needs {needs} from {_strip_article(side)}, but "
                    f"{side} exposes only {exposes}. {instead}"
                )
        if not _kind_ok(cls, hidden_kind):
            kinds = " or ".join(sorted(cls.hidden_kinds))
            return (
                f"Method '{cls.name}' distils {kinds} hidden features, but these models' hidden "
                f"layers are {hidden_kind}s. {instead}"
            )
    return None


def _strip_article(label: str) -> str:
    """'a black-box teacher' → 'the teacher'; 'the student' stays."""
    return "the student" if label == "the student" else "the teacher"


def check_applicable(
    methods: Iterable[MethodLike],
    *,
    teacher_capabilities: frozenset[str],
    student_capabilities: frozenset[str],
    problem: str,
    teacher_label: str = "the teacher",
    hidden_kind: str | None = None,
) -> None:
    """Raise :class:`MethodError` naming the method and what is missing, before training."""
    reason = applicability_reason(
        methods,
        teacher_capabilities=teacher_capabilities,
        student_capabilities=student_capabilities,
        problem=problem,
        teacher_label=teacher_label,
        hidden_kind=hidden_kind,
    )
    if reason is not None:
        raise MethodError(reason)
