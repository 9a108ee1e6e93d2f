"""A fleet's ``auto:`` section: which systems it searches, and on a tiny system the study
gains the chosen student as the ordinary record ``auto`` beside its grid's records, each
record carrying its cost interval and the contention its timing met."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from potstill import api
from potstill.auto.fleet import auto_settings, auto_systems
from potstill.config import FleetConfig
from potstill.errors import ConfigError

FLEET = """
name: tiny-auto
seed: 0
grid: [kd]
train: {epochs: 3, batch_size: 64, lr: 0.003, patience: 3}
bench:
  warmup: 10
  min_calls: 20
  min_seconds: 0.02
  block_calls: 5
  batch_sizes: [1, 16]
  sweep_min_calls: 3
  sweep_min_seconds: 0.01
  runtimes: [eager]
  memory: false
  threads: 1
evaluate: {n_resamples: 50, severities: [1.0]}
gates: {min_retention: 0.5}
auto: {trials: 2, rung_epochs: [1], remeasure_blocks: 4, threads: [1]}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [16], epochs: 3}
    student: {width: 0.5}
"""


def _fleet(**system: object) -> FleetConfig:
    data = yaml.safe_load(FLEET)
    two = {**data["systems"][0], "name": "other", **system}
    return FleetConfig.model_validate({**data, "systems": [data["systems"][0], two]})


def test_the_fleets_auto_applies_unless_a_system_replaces_or_refuses_it() -> None:
    fleet = _fleet()
    assert auto_settings(fleet, fleet.systems[1]) == fleet.auto
    assert set(auto_systems(fleet)) == {"bc", "other"}
    assert set(auto_systems(fleet, ["other"])) == {"other"}
    own = _fleet(auto={"trials": 5})
    config = auto_settings(own, own.systems[1])
    assert config is not None and config.trials == 5
    off = _fleet(auto=False)
    assert auto_settings(off, off.systems[1]) is None and set(auto_systems(off)) == {"bc"}


def test_a_grid_cell_named_auto_is_refused() -> None:
    fleet = _fleet(grid=[{"label": "auto", "methods": [{"name": "kd"}]}])
    with pytest.raises(ConfigError, match="labelled 'auto'"):
        auto_systems(fleet)


def test_auto_settings_leave_the_grid_records_hash_alone() -> None:
    from potstill.study.resume import system_hashes

    plain = _fleet().model_dump(mode="json")
    own = _fleet(auto={"trials": 5}).model_dump(mode="json")
    assert system_hashes(plain)["other"] == system_hashes(own)["other"]


@pytest.fixture(scope="module")
def studied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    pytest.importorskip("optuna")
    root = tmp_path_factory.mktemp("auto")
    (root / "fleet.yaml").write_text(FLEET)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POTSTILL_CACHE", str(root / "cache"))
        result = api.study(root / "fleet.yaml", out=root / "out")
        assert result.exit_code in (0, 1)
        yield root


@pytest.mark.slow
def test_the_study_gains_the_auto_record_beside_its_grid(studied: Path) -> None:
    out = studied / "out"
    kd = json.loads((out / "records" / "bc__kd.json").read_text())
    auto = json.loads((out / "records" / "bc__auto.json").read_text())
    assert auto["method"] == "auto" and auto["status"] == "ok"
    assert auto["system_hash"] == kd["system_hash"]  # a rerun keeps both
    assert auto["student"]["search"]["study"] == str(Path("auto") / "bc")
    assert (out / "auto" / "bc" / "records" / "bc__auto.json").is_file()
    for record in (kd, auto):
        ci = record["costs"]["cost_reduction"]
        assert ci["level"] == 0.95 and ci["low"] <= ci["high"]
        assert ci["value"] == pytest.approx(record["costs"]["reduction"])
        assert ci["tie"] == (ci["low"] <= 0.0 <= ci["high"])
        for profile in record["profiles"]:
            seen = profile["extra"]["contention"]
            assert seen["blocks"] >= 4 and seen["blocks_remeasured"] >= 0
    report = (out / "report.md").read_text()
    assert "| auto (" in report and "### Costs under noise" in report
    before = (out / "records" / "bc__kd.json").stat().st_mtime_ns
    again = api.study(studied / "fleet.yaml", out=out)
    assert again.new_records == 0
    assert (out / "records" / "bc__kd.json").stat().st_mtime_ns == before
    assert (out / "records" / "bc__auto.json").is_file()
