"""student.sizes and seeds expand a fleet: one system per size and seed, at the plan level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from potstill.config import FleetConfig, load_fleet
from potstill.errors import ConfigError
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP
from potstill.models.sizing import sized_student
from potstill.models.students import StudentSpec
from potstill.models.teacher import Teacher
from potstill.runner import _selected


def _fleet(**extra: Any) -> FleetConfig:
    student = extra.pop("student", {"width": 0.25, "sizes": [0.5, 0.1, 20000]})
    return FleetConfig.model_validate({
        "systems": [
            {"name": "a", "dataset": {"builtin": "breast_cancer"},
             "student": student},
            {"name": "b", "dataset": {"builtin": "heart_disease"}},
        ],
        **extra,
    })  # fmt: skip


def test_sizes_and_seeds_expand_into_named_systems_with_their_variant() -> None:
    fleet = _fleet(seeds=[3, 7]).expanded()
    assert [s.name for s in fleet.systems] == [
        "a@0.5#3", "a@0.5#7", "a@0.1#3", "a@0.1#7", "a@20000#3", "a@20000#7", "b#3", "b#7",
    ]  # fmt: skip
    by_name = {s.name: s for s in fleet.systems}
    fraction, target = by_name["a@0.1#7"], by_name["a@20000#3"]
    assert fraction.student.width == 0.1 and fraction.student.target_params is None
    assert target.student.target_params == 20000 and target.student.sizes is None
    assert fraction.variant is not None and fraction.variant.model_dump() == {
        "system": "a", "size": 0.1, "seed": 7}  # fmt: skip
    assert isinstance(target.variant and target.variant.size, int)
    plan = fleet.plan_for("a@0.1#7")
    assert plan.seed == 7 and plan.variant == fraction.variant
    assert fleet.plan_for("b#3").seed == 3 and fleet.expanded() is fleet  # idempotent
    assert fleet.seeds is None


def test_a_fleet_without_sizes_or_seeds_is_not_expanded() -> None:
    fleet = _fleet(student={"width": 0.25})
    assert fleet.expanded() is fleet
    assert fleet.plan_for("a").variant is None and fleet.plan_for("a").seed == 0


def test_sizes_alone_keep_the_fleet_seed_and_no_seed_suffix() -> None:
    fleet = _fleet(seed=4).expanded()
    assert [s.name for s in fleet.systems] == ["a@0.5", "a@0.1", "a@20000", "b"]
    assert fleet.plan_for("a@0.5").seed == 4 and fleet.plan_for("b").variant is None


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ([0], "fraction of the teacher in \\(0, 1\\]"),
        ([-0.5], "fraction of the teacher in \\(0, 1\\]"),
        ([float("nan")], "fraction of the teacher"),
        ([2.5], "whole number. Got 2.5"),
        ([0.5, 0.5], "repeated: 0.5"),
        ([1, 1.0], "repeated: 1.0"),
        ([], "at least 1"),
    ],
)
def test_bad_sizes_are_refused(sizes: list[Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        StudentSpec(sizes=sizes)


def test_sizes_normalise_fractions_and_targets() -> None:
    assert StudentSpec(sizes=[1, 0.25, 5000.0]).sizes == [1.0, 0.25, 5000]
    with pytest.raises(ValueError, match="pretrained"):
        StudentSpec(sizes=[0.5], pretrained=Path("x"))


def test_bad_seeds_and_hand_written_variants_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="repeated: \\[1\\]"):
        _fleet(seeds=[1, 2, 1])
    with pytest.raises(ValueError, match="seeds replaces seed"):
        _fleet(seed=1, seeds=[1, 2])
    written = _fleet(seed=0, seeds=[1, 2])  # seed 0 is the default: what config.yaml holds
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(written.model_dump(mode="json")), encoding="utf-8")
    assert load_fleet(path) == written
    with pytest.raises(ValueError, match="integers in \\[0, 2\\*\\*32 - 1\\]; got \\[-1\\]"):
        _fleet(seeds=[-1])
    path = tmp_path / "fleet.yaml"
    path.write_text(
        "systems:\n  - name: a\n    dataset: {builtin: breast_cancer}\n"
        "    variant: {system: a, seed: 1}\n  - name: b\n    dataset: {builtin: iris}\n"
        "    student: {sizes: [0.5, 3.5]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_fleet(path)
    text = str(info.value)
    assert "systems[1].student.sizes" in text and "Got 3.5" in text


def test_an_auto_search_is_not_combined_with_sizes_or_seeds() -> None:
    with pytest.raises(ValueError, match=r"auto: and seeds or student\.sizes are both set"):
        _fleet(auto={})
    with pytest.raises(ValueError, match="auto: and seeds"):
        _fleet(student={"width": 0.25}, seeds=[0, 1], auto={"trials": 4})
    assert _fleet(student={"width": 0.25}, auto={}).auto is not None


def test_the_system_option_selects_every_size_and_seed_of_a_fleet_system() -> None:
    fleet = _fleet(seeds=[0, 1]).expanded()
    assert [s.name for s in _selected(fleet, ["b"])] == ["b#0", "b#1"]
    assert [s.name for s in _selected(fleet, ["a@0.1#1"])] == ["a@0.1#1"]
    with pytest.raises(ConfigError, match="Unknown system\\(s\\) c"):
        _selected(fleet, ["c"])


def test_a_parameter_target_sizes_the_student_of_an_mlp_ensemble_teacher() -> None:
    torch.manual_seed(0)
    members = [MLP(10, [64, 64, 32], 2) for _ in range(3)]
    teacher = Teacher.from_torch(DeepEnsemble(members), problem="classification")
    spec = StudentSpec(target_params=1500)
    student, sizing = sized_student(teacher, spec, input_shape=(10,), n_outputs=2)
    assert sizing["rule"] == "student.target_params"
    assert abs(sizing["params"] - 1500) < 300  # closest MLP to the target
    wide, _ = sized_student(teacher, StudentSpec(width=0.5), input_shape=(10,), n_outputs=2)
    assert isinstance(wide, MLP) and isinstance(student, MLP) and wide.hidden != student.hidden
    with pytest.raises(ConfigError, match="never larger than its teacher"):
        sized_student(teacher, StudentSpec(target_params=10**6), input_shape=(10,), n_outputs=2)
