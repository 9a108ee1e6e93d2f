"""The search space: what Optuna draws becomes a student spec, an objective and a runtime."""

from __future__ import annotations

import pytest

from potstill.auto import Candidate, SearchSpace, SelectConfig
from potstill.auto.space import SCRATCH, candidate_from, default_candidate
from potstill.config import SystemSpec
from potstill.errors import ConfigError
from potstill.models.sizing import TeacherSize
from potstill.models.students import StudentSpec

optuna = pytest.importorskip("optuna")

SPACE = SearchSpace(("kd", "rkd", SCRATCH), ("eager", "onnx-int8"), (1, 2))


def test_a_drawn_candidate_round_trips_through_its_parameters() -> None:
    trial = optuna.trial.FixedTrial(
        {"method": "kd", "temperature": 3.0, "alpha": 0.8, "width": 0.2, "depth": 0.5,
         "lr": 1e-3, "runtime": "onnx-int8", "threads": 2}
    )  # fmt: skip
    cand = SPACE.suggest(trial)
    assert cand.runtime == "onnx-int8" and cand.threads == 2
    assert candidate_from(cand.params()) == cand
    (spec,) = cand.methods()
    assert spec.name == "kd" and spec.params == {"temperature": 3.0}
    assert spec.weight == pytest.approx(1.6) and cand.label_weight == pytest.approx(0.4)
    base = StudentSpec(target_params=5000, width=0.5)
    sized = cand.student(base)
    assert sized.width == 0.2 and sized.target_params is None  # the searched size wins


def test_methods_without_temperature_and_scratch_draw_no_temperature() -> None:
    rkd = SPACE.suggest(optuna.trial.FixedTrial(
        {"method": "rkd", "alpha": 0.5, "width": 0.3, "depth": 1.0, "lr": 1e-3,
         "runtime": "eager", "threads": 1}))  # fmt: skip
    assert rkd.temperature is None and rkd.methods()[0].params == {}
    scratch = SPACE.suggest(optuna.trial.FixedTrial(
        {"method": SCRATCH, "width": 0.3, "depth": 1.0, "lr": 1e-3, "runtime": "eager",
         "threads": 1}))  # fmt: skip
    assert scratch.methods() == [] and scratch.label_weight == 1.0


def test_the_default_candidate_is_the_systems_own_student() -> None:
    spec = SystemSpec.model_validate(
        {"name": "s", "dataset": {"builtin": "loan_default"}, "student": {"target_params": 2000}}
    )
    size = TeacherSize(20_000, "learned tree numbers", "test")
    cand = default_candidate(spec, SPACE, size, 2e-3, ["kd", "fitnet"])
    assert isinstance(cand, Candidate)
    assert cand.width == pytest.approx(0.1) and cand.method == "kd" and cand.alpha == 0.5
    assert cand.temperature == 4.0 and cand.threads == 1
    assert default_candidate(spec, SPACE, size, 2e-3, ["fitnet"]) is None


def test_select_config_refuses_bad_values() -> None:
    with pytest.raises(ValueError, match="increasing"):
        SelectConfig(rung_epochs=(4, 2))
    with pytest.raises(ValueError, match="'tpe' or 'random'"):
        SelectConfig(sampler="grid")


def test_api_settings_are_validated_with_their_field() -> None:
    from potstill import api

    with pytest.raises(ConfigError, match="trials"):
        api.select(builtin="breast_cancer", out=__import__("pathlib").Path("unused"), trials=0)
