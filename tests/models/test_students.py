"""StudentSpec, build_student, student_for_blackbox, build_from_spec."""

from __future__ import annotations

import json

import pytest
import torch
from pydantic import ValidationError
from torch import nn

from potstill.errors import ConfigError, ModelError
from potstill.models.arch.cnn import SmallCNN, cnn_for_budget
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP, mlp_param_count
from potstill.models.arch.mobilenet import ImageClassifier, MobileNetV2
from potstill.models.predict import count_params
from potstill.models.students import (
    StudentSpec,
    build_from_spec,
    build_student,
    student_for_blackbox,
)


def test_student_spec_validates_and_forbids_unknown_keys() -> None:
    assert StudentSpec().width == 0.5 and StudentSpec().depth == 0.5
    for bad in ({"width": 0}, {"depth": 1.5}, {"hidden": []}, {"hidden": [4, 0]}, {"wdth": 0.5}):
        with pytest.raises(ValidationError):
            StudentSpec(**bad)  # type: ignore[arg-type]
    spec = StudentSpec(width=0.25)
    with pytest.raises(ValidationError):
        spec.width = 0.5  # type: ignore[misc]
    assert all(f.description for f in StudentSpec.model_fields.values())


def test_mlp_teacher_gives_narrower_shallower_mlp() -> None:
    teacher = MLP(10, [64, 48, 32, 16], 3, dropout=0.1)
    student = build_student(teacher, StudentSpec(width=0.5, depth=0.5))
    assert isinstance(student, MLP)
    # depth 4 → 2 layers, uniform map (4→2) keeps teacher layers 1 and 3: widths 48, 16 → ×0.5
    assert student.hidden == [24, 8]
    assert (student.in_features, student.out_features, student.dropout) == (10, 3, 0.1)
    assert count_params(student) < count_params(teacher)


def test_width_and_depth_one_copy_the_teacher_shape() -> None:
    teacher = MLP(6, [9, 7], 2)
    assert build_student(teacher, StudentSpec(width=1.0, depth=1.0)).spec() == teacher.spec()


def test_ensemble_teacher_width_is_relative_to_one_member() -> None:
    teacher = DeepEnsemble([MLP(6, [20, 10], 4) for _ in range(3)])
    student = build_student(teacher, StudentSpec(width=0.5, depth=1.0), input_shape=(6,))
    assert isinstance(student, MLP) and student.hidden == [10, 5]
    assert count_params(student) < count_params(teacher) / 3


def test_explicit_hidden_overrides_and_works_for_any_teacher() -> None:
    student = build_student(None, StudentSpec(hidden=[5, 3]), in_features=4, n_outputs=2)
    assert isinstance(student, MLP) and student.hidden == [5, 3]
    with pytest.raises(ConfigError, match="needs in_features"):
        build_student(nn.Linear(4, 2), StudentSpec(hidden=[5]))
    with pytest.raises(ModelError, match="cannot size a student for a NoneType"):
        build_student(None, StudentSpec(), in_features=4)
    with pytest.raises(ConfigError, match="disagree"):
        build_student(MLP(4, [5], 2), StudentSpec(), in_features=4, input_shape=(5,))


def test_opaque_torch_teacher_gets_a_parameter_budget() -> None:
    # 4*100 + 100 + 100*2 + 2 = 702 parameters; width*depth = 0.25 → budget round(175.5) = 176
    opaque = nn.Sequential(nn.Linear(4, 100), nn.ReLU(), nn.Linear(100, 2))
    student = build_student(opaque, StudentSpec(), input_shape=(4,), n_outputs=2)
    assert student.spec() == student_for_blackbox(4, 2, 176).spec()  # type: ignore[operator]
    explicit = build_student(opaque, StudentSpec(target_params=1000), in_features=4, n_outputs=2)
    assert explicit.spec() == student_for_blackbox(4, 2, 1000).spec()  # type: ignore[operator]
    # Images (C, H, W) of an opaque teacher: a small CNN on the same budget.
    cnn = build_student(opaque, StudentSpec(), input_shape=(1, 8, 8), n_outputs=2)
    assert (
        isinstance(cnn, SmallCNN)
        and cnn.spec() == cnn_for_budget((1, 8, 8), 2, 176, at_most=True).spec()
    )
    with pytest.raises(ConfigError, match="flat input rows"):
        build_student(opaque, StudentSpec(), input_shape=(8, 8), n_outputs=2)


def test_image_teacher_gives_narrower_block_dropped_mobilenet() -> None:
    teacher = ImageClassifier(MobileNetV2(), num_classes=10, input_size=32, in_channels=1)
    student = build_student(teacher, StudentSpec(width=0.5, depth=0.5), input_shape=(1, 28, 28))
    assert isinstance(student, ImageClassifier)
    backbone = student.spec()["backbone"]
    assert backbone["width_mult"] == 0.5
    # n per stage [1,2,3,4,3,3,1] × 0.5, half up, at least 1 → [1,1,2,2,2,2,1]
    assert [row[2] for row in backbone["inverted_residual_setting"]] == [1, 1, 2, 2, 2, 2, 1]
    assert len(student.hidden_layer_names()) == len(teacher.hidden_layer_names())
    assert count_params(student) < count_params(teacher) / 3
    assert student(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ConfigError, match="image classifier"):
        build_student(teacher, StudentSpec(hidden=[8]))


@pytest.mark.parametrize("target", [1_000, 5_000, 123_456])
def test_student_for_blackbox_is_closest_to_target(target: int) -> None:
    student = student_for_blackbox(10, 3, target)
    width = student.hidden[0]
    assert student.hidden == [width, width]
    got = count_params(student)
    assert got == mlp_param_count(10, [width, width], 3)
    for neighbour in (width - 1, width + 1):
        if neighbour >= 1:
            assert abs(got - target) <= abs(mlp_param_count(10, [neighbour] * 2, 3) - target)


def test_student_for_blackbox_hand_computed_width() -> None:
    # depth 1, in 4, out 2: params(h) = 4h + h + 2h + 2h + 2 = 9h + 2; target 92 → h = 10 exactly
    student = student_for_blackbox(4, 2, 92, depth=1)
    assert student.hidden == [10] and count_params(student) == 92
    with pytest.raises(ConfigError, match="'target_params' parameter of student_for_blackbox"):
        student_for_blackbox(4, 2, 5)


@pytest.mark.parametrize(
    "module",
    [
        MLP(3, [4, 5], 2, norm="batch"),
        DeepEnsemble([MLP(3, [4], 1), MLP(3, [6], 1)], problem="regression"),
        MobileNetV2(num_classes=4, inverted_residual_setting=[[1, 8, 1, 1]]),
        ImageClassifier(MobileNetV2(inverted_residual_setting=[[1, 8, 1, 2]]), 3, input_size=16),
    ],
)
def test_build_from_spec_rebuilds_every_architecture(module: nn.Module) -> None:
    spec = json.loads(json.dumps(module.spec()))  # type: ignore[operator]
    rebuilt = build_from_spec(spec)
    assert type(rebuilt) is type(module)
    assert rebuilt.spec() == spec  # type: ignore[operator]
    shapes = {k: v.shape for k, v in module.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes


def test_build_from_spec_refuses_bad_specs() -> None:
    with pytest.raises(ModelError, match=r"Unknown architecture type 'Transformer'.*'MLP'"):
        build_from_spec({"type": "Transformer"})
    with pytest.raises(ModelError, match="has no 'type' field"):
        build_from_spec({"hidden": [3]})
    with pytest.raises(ModelError, match="has no 'in_features' field"):
        build_from_spec({"type": "MLP", "hidden": [3], "out_features": 2})
    with pytest.raises(ModelError, match=r"spec of type 'MLP' is invalid.*'dropout'"):
        build_from_spec(
            {"type": "MLP", "in_features": 2, "hidden": [3], "out_features": 2, "dropout": 2}
        )


def test_a_tiny_budget_gets_one_plain_layer_not_a_normalised_single_unit() -> None:
    """A 52-number logistic-regression teacher's budget (26) gave a two-layer MLP of width 1
    under LayerNorm, which is constant: the student could learn nothing (retention 0.44)."""
    student = student_for_blackbox(10, 2, 26, at_most=True)
    assert student.hidden == [1] and student.spec()["norm"] == "none"  # type: ignore[operator]
    assert count_params(student) <= 26
    assert len(student_for_blackbox(10, 2, 1000).hidden) == 2  # a normal budget: unchanged
