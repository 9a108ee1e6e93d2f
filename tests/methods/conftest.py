"""Fixtures: synthetic forward-pass outputs for any registered method, built from what it
requires (``make_case``), and a created-and-bound method (``bind_method``).

Student tensors are leaves with ``requires_grad`` (to see gradients arrive); teacher tensors
too (to prove none arrive). Shapes differ between student and teacher unless ``same=True``,
in which case the teacher is an exact copy of the student (for the zero-at-match check).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor

from potstill.methods import BindContext, Method, create_method
from potstill.types import Batch, Outputs

N_TRAIN = 32
N_CLASSES = 5

# (student shape, teacher shape) without the batch dimension, per kind of hidden feature
HIDDEN_SHAPES = {
    "vector": ((6,), (10,)),
    "map": ((4, 6, 6), (8, 8, 8)),
    "tokens": ((5, 6), (5, 12)),
}
ATTENTION_SHAPE = (2, 5, 5)  # heads, T, T: must match between student and teacher
VALUE_SHAPES = ((2, 5, 3), (2, 5, 4))
EMBEDDING_SHAPES = ((6,), (10,))


@dataclass
class Case:
    student: Outputs
    teacher: Outputs
    batch: Batch
    context: BindContext
    student_leaves: list[Tensor]
    teacher_leaves: list[Tensor]


def problem_of(cls: type[Method]) -> str:
    return "classification" if "classification" in cls.problems else "regression"


def _leaf(shape: tuple[int, ...], gen: torch.Generator, *, softmax: bool = False) -> Tensor:
    x = torch.randn(shape, generator=gen)
    if softmax:
        x = x.softmax(dim=-1)
    return x.requires_grad_(True)


def make_case(cls: type[Method], n: int = 8, *, same: bool = False, seed: int = 0) -> Case:
    gen = torch.Generator().manual_seed(seed)
    problem = problem_of(cls)
    s_leaves: list[Tensor] = []
    t_leaves: list[Tensor] = []

    def pair(
        s_shape: tuple[int, ...], t_shape: tuple[int, ...], **kw: bool
    ) -> tuple[Tensor, Tensor]:
        s = _leaf((n, *s_shape), gen, **kw)
        t = s.detach().clone().requires_grad_(True) if same else _leaf((n, *t_shape), gen, **kw)
        s_leaves.append(s)
        t_leaves.append(t)
        return s, t

    width = N_CLASSES if problem == "classification" else 1
    s_logits, t_logits = pair((width,), (width,))
    fields: dict[str, tuple[object, object]] = {}
    if "hidden" in cls.requires:
        layers = [
            pair(*HIDDEN_SHAPES[k]) for k in ("vector", "map", "tokens") if k in cls.hidden_kinds
        ]
        fields["hidden"] = ([s for s, _ in layers], [t for _, t in layers])
    if "attentions" in cls.requires or "values" in cls.requires:
        layers = [pair(ATTENTION_SHAPE, ATTENTION_SHAPE, softmax=True) for _ in range(2)]
        fields["attentions"] = ([s for s, _ in layers], [t for _, t in layers])
        values = [pair(*VALUE_SHAPES) for _ in range(2)]
        fields["values"] = ([s for s, _ in values], [t for _, t in values])
    if "embedding" in cls.requires:
        fields["embedding"] = pair(*EMBEDDING_SHAPES)
    student = Outputs(logits=s_logits, **{k: v[0] for k, v in fields.items()})  # type: ignore[arg-type]
    teacher = Outputs(logits=t_logits, **{k: v[1] for k, v in fields.items()})  # type: ignore[arg-type]
    if problem == "classification":
        y = torch.randint(0, N_CLASSES, (n,), generator=gen)
    else:
        y = torch.randn(n, generator=gen)
    index = torch.randperm(N_TRAIN, generator=gen)[:n]
    n_classes = N_CLASSES if problem == "classification" else 0
    context = BindContext(n_train=N_TRAIN, n_classes=n_classes, problem=problem)
    return Case(student, teacher, Batch(x=None, y=y, index=index), context, s_leaves, t_leaves)


def bound(name: str, case: Case, **params: object) -> Method:
    method = create_method(name, **params)
    method.bind(case.student, case.teacher, case.context)
    return method


@pytest.fixture
def make() -> Callable[..., Case]:
    """``make(cls, n=8, same=False, seed=0)`` → a :class:`Case` for that method class."""
    return make_case


@pytest.fixture
def bind_method() -> Callable[..., Method]:
    """``bind_method(name, case, **params)`` → the method, created and bound to ``case``."""
    return bound
