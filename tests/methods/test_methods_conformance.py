"""Conformance suite run on every registered method (like scikit-learn's check_estimator).

Each method gets synthetic outputs of the shapes it declares it needs (see
``conftest.py``) and must: give a finite scalar loss; send gradients to the student
and to every one of its adapters but never to the teacher; be 0 when student and teacher
outputs coincide (where the method defines that); be deterministic under a seed; work at
batch size 2; and refuse clearly when required outputs are missing or it is not bound.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch

from potstill.errors import MethodError
from potstill.methods import Method, create_method, get_method_class, list_methods
from potstill.types import Outputs

ALL = list_methods()
Maker = Callable[..., Any]
Binder = Callable[..., Method]


@pytest.mark.parametrize("name", ALL)
def test_finite_scalar_loss_and_components(name: str, make: Maker, bind_method: Binder) -> None:
    torch.manual_seed(0)
    case = make(get_method_class(name))
    out = bind_method(name, case)(case.student, case.teacher, case.batch)
    assert out["loss"].dim() == 0
    for key, value in out.items():
        assert torch.isfinite(value).all(), f"{name}: component {key} is not finite"


@pytest.mark.parametrize("name", ALL)
def test_gradients_reach_student_and_adapters_never_teacher(
    name: str, make: Maker, bind_method: Binder
) -> None:
    torch.manual_seed(0)
    case = make(get_method_class(name))
    method = bind_method(name, case)
    method(case.student, case.teacher, case.batch)["loss"].backward()
    grads = [leaf.grad for leaf in case.student_leaves if leaf.grad is not None]
    assert grads, f"{name}: no gradient reached the student"
    assert any(g.abs().sum() > 0 for g in grads), f"{name}: student gradient is all zero"
    assert all(torch.isfinite(g).all() for g in grads)
    for pname, param in method.named_parameters():
        assert param.grad is not None, f"{name}: adapter parameter {pname} got no gradient"
    assert all(leaf.grad is None for leaf in case.teacher_leaves), f"{name}: teacher got a gradient"


@pytest.mark.parametrize("name", ALL)
def test_zero_when_student_equals_teacher(name: str, make: Maker, bind_method: Binder) -> None:
    cls = get_method_class(name)
    if not cls.zero_at_match:
        pytest.skip(f"{name} does not define a zero at match (contrastive bound)")
    case = make(cls, same=True)
    loss = bind_method(name, case)(case.student, case.teacher, case.batch)["loss"]
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("name", ALL)
def test_not_zero_when_outputs_differ(name: str, make: Maker, bind_method: Binder) -> None:
    case = make(get_method_class(name))
    loss = bind_method(name, case)(case.student, case.teacher, case.batch)["loss"]
    assert abs(float(loss.detach())) > 1e-4


@pytest.mark.parametrize("name", ALL)
def test_deterministic_under_seed(name: str, make: Maker, bind_method: Binder) -> None:
    losses = []
    for _ in range(2):
        torch.manual_seed(123)
        case = make(get_method_class(name), seed=7)
        losses.append(
            float(bind_method(name, case)(case.student, case.teacher, case.batch)["loss"].detach())
        )
    assert losses[0] == losses[1]


@pytest.mark.parametrize("name", ALL)
def test_batch_size_two(name: str, make: Maker, bind_method: Binder) -> None:
    torch.manual_seed(0)
    case = make(get_method_class(name), n=2)
    loss = bind_method(name, case)(case.student, case.teacher, case.batch)["loss"]
    assert math.isfinite(float(loss.detach()))
    loss.backward()
    assert all(
        torch.isfinite(leaf.grad).all() for leaf in case.student_leaves if leaf.grad is not None
    )


@pytest.mark.parametrize("name", ALL)
def test_bind_is_idempotent(name: str, make: Maker, bind_method: Binder) -> None:
    torch.manual_seed(0)
    case = make(get_method_class(name))
    method = bind_method(name, case)
    params = [id(p) for p in method.parameters()]
    method.bind(case.student, case.teacher, case.context)
    assert [id(p) for p in method.parameters()] == params


@pytest.mark.parametrize("name", ALL)
def test_refuses_to_run_unbind_method(name: str, make: Maker, bind_method: Binder) -> None:
    case = make(get_method_class(name))
    with pytest.raises(MethodError, match=f"Method '{name}' is not bound"):
        create_method(name)(case.student, case.teacher, case.batch)


@pytest.mark.parametrize("name", [n for n in ALL if get_method_class(n).requires != {"logits"}])
@pytest.mark.parametrize("side", ["teacher", "student"])
def test_refuses_when_required_outputs_missing(
    name: str, side: str, make: Maker, bind_method: Binder
) -> None:
    case = make(get_method_class(name))
    black_box = Outputs(logits=case.teacher.logits if side == "teacher" else case.student.logits)
    student = black_box if side == "student" else case.student
    teacher = black_box if side == "teacher" else case.teacher
    missing = sorted(get_method_class(name).requires - {"logits"})[0]
    pattern = f"Method '{name}' needs .*'{missing}'.* from the {side}, but the {side} exposes"
    pattern += " only 'logits'"
    with pytest.raises(MethodError, match=pattern):
        create_method(name).bind(student, teacher, case.context)
    method = bind_method(name, case)  # bound properly, then fed a black box
    with pytest.raises(MethodError, match=pattern):
        method(student, teacher, case.batch)


@pytest.mark.parametrize("name", [n for n in ALL if get_method_class(n).requires == {"logits"}])
def test_response_methods_refuse_mismatched_classes(
    name: str, make: Maker, bind_method: Binder
) -> None:
    case = make(get_method_class(name))
    teacher = Outputs(logits=torch.zeros(8, 7))
    with pytest.raises(MethodError, match="same C"):
        create_method(name).bind(case.student, teacher, case.context)


@pytest.mark.parametrize("name", ALL)
def test_every_method_declares_its_paper(name: str, make: Maker, bind_method: Binder) -> None:
    cls = get_method_class(name)
    assert cls.family in ("response", "feature", "relation")
    assert cls.paper and cls.url.startswith("https://")
    assert cls.__doc__ and cls.__module__.startswith("potstill.methods")
