"""Combination (MethodSpec → Objective), schedules, and refusal before training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml
from pydantic import ValidationError

from potstill.errors import MethodError
from potstill.methods import (
    BindContext,
    MethodSpec,
    Objective,
    applicability_reason,
    build_objective,
    check_applicable,
    create_method,
    get_method_class,
    parse_method_specs,
)
from potstill.methods import functional as PF
from potstill.types import Batch, Outputs

N_CLASSES = 5
CONTEXT = BindContext(n_train=64, n_classes=N_CLASSES, problem="classification")


def _logits_case(n: int = 8, seed: int = 0) -> tuple[Outputs, Outputs, Batch]:
    gen = torch.Generator().manual_seed(seed)
    s = torch.randn(n, N_CLASSES, generator=gen, requires_grad=True)
    t = torch.randn(n, N_CLASSES, generator=gen)
    e_s, e_t = (
        torch.randn(n, 4, generator=gen, requires_grad=True),
        torch.randn(n, 6, generator=gen),
    )
    y = torch.randint(0, N_CLASSES, (n,), generator=gen)
    return (Outputs(logits=s, embedding=e_s), Outputs(logits=t, embedding=e_t),
            Batch(x=None, y=y, index=torch.arange(n)))  # fmt: skip


def test_yaml_list_builds_a_weighted_objective() -> None:
    raw = yaml.safe_load("[{name: kd, weight: 1.0}, {name: rkd_distance, weight: 0.5}]")
    specs = [MethodSpec.model_validate(item) for item in raw]
    objective = build_objective(specs, label_weight=0.3, problem="classification")
    student, teacher, batch = _logits_case()
    objective.bind(student, teacher, CONTEXT)
    out = objective(student, teacher, batch)
    label = F.cross_entropy(student.logits, batch.y)
    kd = PF.kd_loss(student.logits, teacher.logits, 4.0)
    rkd = PF.rkd_distance_loss(student.embedding, teacher.embedding)
    assert set(out) == {"loss", "label", "kd", "rkd_distance", "rkd_distance.distance"}
    assert torch.allclose(out["label"], label)
    assert torch.allclose(out["kd"], kd)
    assert torch.allclose(out["rkd_distance"], 25.0 * rkd)  # the paper's λ_D inside the method
    assert torch.allclose(out["rkd_distance.distance"], rkd)
    assert torch.allclose(out["loss"], 0.3 * label + 1.0 * kd + 0.5 * 25.0 * rkd)
    assert out["loss"].requires_grad and not out["kd"].requires_grad  # components are for logs
    assert objective.name == "kd+rkd_distance" and objective.family == "combined"
    assert objective.requires == frozenset({"logits", "embedding"})
    assert len(objective.references) == 2


def test_regression_label_loss_is_mse() -> None:
    objective = build_objective([MethodSpec(name="kd_regression", weight=2.0)], label_weight=1.0,
                                problem="regression")  # fmt: skip
    s = torch.tensor([[1.0], [2.0], [3.0]], requires_grad=True)
    t = torch.tensor([[1.0], [1.0], [1.0]])
    y = torch.tensor([0.0, 2.0, 5.0])
    objective.bind(
        Outputs(logits=s),
        Outputs(logits=t),
        BindContext(n_train=3, n_classes=0, problem="regression"),
    )
    out = objective(Outputs(logits=s), Outputs(logits=t), Batch(x=None, y=y, index=None))
    assert float(out["label"]) == pytest.approx((1 + 0 + 4) / 3)
    assert float(out["kd_regression"]) == pytest.approx((0 + 1 + 4) / 3)
    assert float(out["loss"].detach()) == pytest.approx(5 / 3 + 2 * 5 / 3)
    assert objective.family == "response"


def test_scratch_objective_is_the_label_loss_alone() -> None:
    objective = build_objective([], label_weight=1.0, problem="classification")
    student, _teacher, batch = _logits_case()
    out = objective(student, Outputs(logits=torch.zeros(1)), batch)
    assert set(out) == {"loss", "label"}
    assert objective.name == "scratch" and objective.family == "baseline"


def test_objective_refusals() -> None:
    kd = create_method("kd")
    with pytest.raises(MethodError, match="Method 'kd' appears 2 times"):
        Objective(
            [(kd, 1.0), (create_method("kd"), 1.0)], label_weight=1.0, problem="classification"
        )
    with pytest.raises(
        MethodError, match=r"'weight' parameter of method 'kd' must be >= 0\. Got -1"
    ):
        Objective([(kd, -1.0)], label_weight=1.0, problem="classification")
    with pytest.raises(MethodError, match=r"'label_weight' parameter of Objective must be >= 0"):
        Objective([(kd, 1.0)], label_weight=-0.5, problem="classification")
    with pytest.raises(MethodError, match="'problem' parameter of Objective must be one of"):
        Objective([(kd, 1.0)], label_weight=1.0, problem="ranking")
    with pytest.raises(MethodError, match="nothing would be trained"):
        Objective([(kd, 0.0)], label_weight=0.0, problem="classification")


def test_method_spec_is_strict_and_frozen() -> None:
    with pytest.raises(
        MethodError, match=r"Unknown distillation method 'fitnets'\. Valid methods:"
    ):
        MethodSpec(name="fitnets")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        MethodSpec.model_validate({"name": "kd", "wieght": 1.0})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        MethodSpec(name="kd", weight=-1.0)
    spec = MethodSpec(name="kd", params={"temperature": 2.0})
    with pytest.raises(ValidationError, match="frozen"):
        spec.weight = 2.0  # type: ignore[misc]
    assert all(f.description for f in MethodSpec.model_fields.values())
    with pytest.raises(MethodError, match="'temperature' parameter of method 'kd' must be > 0"):
        build_objective([MethodSpec(name="kd", params={"temperature": 0})], label_weight=1.0,
                        problem="classification")  # fmt: skip


def test_parse_method_specs() -> None:
    assert [s.name for s in parse_method_specs("kd+rkd")] == ["kd", "rkd"]
    specs = parse_method_specs([{"name": "kd", "weight": 0.5}, "fitnet"])
    assert [(s.name, s.weight) for s in specs] == [("kd", 0.5), ("fitnet", 1.0)]
    with pytest.raises(MethodError, match="Cannot read methods"):
        parse_method_specs("kd+")


# ----------------------------------------------------------------------------- schedules


def test_fitnet_two_stage_schedule(make: Callable[..., Any]) -> None:
    case = make(get_method_class("fitnet"))
    objective = build_objective(
        [MethodSpec(name="fitnet", params={"stage1_epochs": 2}), MethodSpec(name="kd")],
        label_weight=1.0, problem="classification",
    )  # fmt: skip
    objective.bind(case.student, case.teacher, case.context)
    objective.set_epoch(1)  # stage 1: the hint alone
    out = objective(case.student, case.teacher, case.batch)
    assert set(out) == {"loss", "fitnet", "fitnet.hint"}
    assert torch.allclose(out["loss"], out["fitnet.hint"])
    objective.set_epoch(2)  # stage 2: label + KD, the hint off
    out = objective(case.student, case.teacher, case.batch)
    assert {"label", "kd"} <= set(out) and float(out["fitnet"]) == 0.0
    assert torch.allclose(out["loss"], out["label"] + out["kd"])


def test_dkd_warmup_scales_linearly(make: Callable[..., Any]) -> None:
    case = make(get_method_class("dkd"))
    method = create_method("dkd", warmup_epochs=4)
    method.bind(case.student, case.teacher, case.context)
    full = create_method("dkd")
    full.bind(case.student, case.teacher, case.context)
    ref = full(case.student, case.teacher, case.batch)["loss"]
    for epoch, factor in ((0, 0.25), (2, 0.75), (3, 1.0), (10, 1.0)):
        method.set_epoch(epoch)
        assert torch.allclose(method(case.student, case.teacher, case.batch)["loss"], factor * ref)
    with pytest.raises(MethodError, match="'epoch' parameter"):
        method.set_epoch(-1)


# ----------------------------------------------------------------------------- applicability

BLACK_BOX = frozenset({"logits"})
WHITE_BOX = frozenset({"logits", "hidden", "embedding"})


def test_black_box_teacher_refuses_feature_methods_before_training() -> None:
    with pytest.raises(MethodError) as err:
        check_applicable([MethodSpec(name="fitnet")], teacher_capabilities=BLACK_BOX,
                         student_capabilities=WHITE_BOX, problem="classification",
                         teacher_label="a black-box scikit-learn teacher")  # fmt: skip
    assert str(err.value) == (
        "Method 'fitnet' needs 'hidden' from the teacher, but a black-box scikit-learn teacher "
        "exposes only 'logits'. Use one of the methods these models allow instead: dist, dkd, kd."
    )


def test_applicability_reason_for_problem_and_student() -> None:
    caps = {"teacher_capabilities": WHITE_BOX, "student_capabilities": WHITE_BOX}
    reason = applicability_reason(["kd"], problem="regression", **caps)
    assert reason is not None and reason.startswith(
        "Method 'kd' applies to classification problems, but this system is a regression problem."
    )
    assert "kd_regression" in reason and "fitnet" in reason and "dkd" not in reason
    reason = applicability_reason(
        ["rkd"], teacher_capabilities=WHITE_BOX, student_capabilities=BLACK_BOX,
        problem="classification",
    )  # fmt: skip
    assert reason is not None and "needs 'embedding' from the student, but the student" in reason
    assert applicability_reason([create_method("kd"), "fitnet", MethodSpec(name="rkd")],
                                problem="classification", **caps) is None  # fmt: skip
    with pytest.raises(MethodError, match="'problem' parameter of check_applicable"):
        applicability_reason(["kd"], problem="ranking", **caps)


def test_a_combined_objective_trains_student_and_adapters() -> None:
    torch.manual_seed(0)
    x = torch.randn(64, 8)
    teacher_net = torch.nn.Sequential(
        torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3)
    )
    student_body, student_head = torch.nn.Linear(8, 4), torch.nn.Linear(4, 3)

    def outputs(body: torch.nn.Module, head: torch.nn.Module) -> Outputs:
        h = torch.tanh(body(x))
        return Outputs(logits=head(h), hidden=[h], embedding=h)

    with torch.no_grad():
        teacher = outputs(teacher_net[0], teacher_net[2])
    batch = Batch(x=x, y=teacher.logits.argmax(1), index=torch.arange(64))
    specs = parse_method_specs("kd+fitnet+rkd")
    objective = build_objective(specs, label_weight=0.5, problem="classification")
    objective.bind(outputs(student_body, student_head), teacher, CONTEXT)
    params = [*student_body.parameters(), *student_head.parameters(), *objective.parameters()]
    optimizer = torch.optim.Adam(params, lr=0.05)
    first = None
    for _ in range(60):
        out = objective(outputs(student_body, student_head), teacher, batch)
        optimizer.zero_grad()
        out["loss"].backward()
        optimizer.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in out.items()}
    last = {k: float(v.detach()) for k, v in out.items()}
    assert first is not None
    for key in ("loss", "kd", "fitnet", "rkd"):
        assert last[key] < 0.7 * first[key], (key, first, last)
