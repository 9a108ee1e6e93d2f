"""Per-system resume: a changed system is set aside (never deleted) and reruns alone;
unchanged systems keep their records; a fleet-wide change sets every system aside."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from potstill.config import FleetConfig, load_fleet
from potstill.evaluate import EvalConfig
from potstill.runner import run_study
from potstill.study.resume import prepare_resume, system_hashes
from potstill.study.versus import combined_versus_scratch

SYSTEMS = {"alpha": "good", "beta": "good"}


def config(**fleet: Any) -> FleetConfig:
    raw: dict[str, Any] = {
        "seed": 0,
        "grid": ["scratch", "kd"],
        "systems": [
            {"name": "alpha", "dataset": {"builtin": "breast_cancer"}},
            {"name": "beta", "dataset": {"builtin": "breast_cancer"}, "train": {"epochs": 7}},
        ],
    }
    raw.update(fleet)
    return FleetConfig.model_validate(raw)


def fake_study(out: Path, cfg: FleetConfig, *, hashes: bool = True) -> None:
    """What a finished run leaves: config.yaml, a record per cell, a student folder."""
    dumped = cfg.model_dump(mode="json")
    (out / "records").mkdir(parents=True)
    (out / "config.yaml").write_text(yaml.safe_dump(dumped))
    for name, digest in system_hashes(dumped).items():
        for label in ("scratch", "kd"):
            record = {"system": name, "method": label, "system_hash": digest if hashes else ""}
            (out / "records" / f"{name}__{label}.json").write_text(json.dumps(record))
            (out / "students" / name / label).mkdir(parents=True)
            (out / "students" / name / label / "model.json").write_text("{}")


def superseded(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)).split("/", 2)[-1] for p in out.glob("superseded/*/*/*"))


def test_a_system_hash_covers_exactly_the_defaults_it_inherits() -> None:
    base = system_hashes(config().model_dump(mode="json"))
    trained = system_hashes(config(train={"epochs": 3}).model_dump(mode="json"))
    assert trained["alpha"] != base["alpha"]  # alpha inherits the fleet's train
    assert trained["beta"] == base["beta"]  # beta sets its own
    moved = config(name="other", executor={"kind": "ray", "workers": 2}, tracking={"mlflow": "x"})
    renamed = system_hashes(moved.model_dump(mode="json"))
    assert renamed == base  # the study name, the executor and tracking change no figure


def test_a_changed_system_is_set_aside_and_the_others_kept(tmp_path: Path) -> None:
    fake_study(tmp_path, config())
    untouched = (tmp_path / "records" / "beta__kd.json").read_text()
    new = config(train={"epochs": 3})  # changes alpha only
    hashes = prepare_resume(tmp_path, new)
    assert hashes == system_hashes(new.model_dump(mode="json"))
    assert sorted(p.name for p in (tmp_path / "records").iterdir()) == [
        "beta__kd.json",
        "beta__scratch.json",
    ]
    assert (tmp_path / "records" / "beta__kd.json").read_text() == untouched
    assert superseded(tmp_path) == [
        "records/alpha__kd.json",
        "records/alpha__scratch.json",
        "students/alpha",
    ]
    assert (tmp_path / "students" / "beta" / "kd" / "model.json").is_file()


def test_fleet_wide_settings_set_every_system_aside_with_a_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_study(tmp_path, config())
    with caplog.at_level(logging.WARNING):
        prepare_resume(tmp_path, config(seed=1))
    assert list((tmp_path / "records").iterdir()) == []
    assert len(superseded(tmp_path)) == 6
    assert "fleet-wide settings changed (seed: 0 → 1)" in caplog.text
    assert "every system reruns" in caplog.text


def test_records_without_a_hash_are_judged_by_the_previous_config(tmp_path: Path) -> None:
    fake_study(tmp_path, config(), hashes=False)
    prepare_resume(tmp_path, config(grid=["scratch", "kd", "dkd"]))  # alpha and beta: grid
    assert len(superseded(tmp_path)) == 6
    kept = tmp_path / "kept"
    fake_study(kept, config(), hashes=False)
    prepare_resume(kept, config())
    assert not (kept / "superseded").exists()


def test_a_removed_system_is_set_aside_only_when_the_whole_fleet_runs(tmp_path: Path) -> None:
    fake_study(tmp_path, config())
    only_alpha = config(
        systems=[{"name": "alpha", "dataset": {"builtin": "breast_cancer"}}],
    )
    prepare_resume(tmp_path, only_alpha, selected=["alpha"])
    assert not (tmp_path / "superseded").exists()
    prepare_resume(tmp_path, only_alpha)
    assert "students/beta" in superseded(tmp_path)


def test_changing_one_system_reruns_it_alone(
    user_files: dict[str, Path],
    fleet_yaml: Callable[..., str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(user_files, SYSTEMS))
    out = tmp_path / "out"
    first = run_study(load_fleet(fleet), out)
    assert first.new_records == 4 and first.exit_code == 0
    beta = {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("beta__*.json")}
    kd = json.loads((out / "records" / "alpha__kd.json").read_text())
    old_hash = kd["system_hash"]
    versus = kd["quality"]["versus_scratch"]  # paired with scratch on the same test rows
    assert versus["n_resamples"] == 20 and versus["n_test"] == kd["quality"]["n_test"]
    assert versus["low"] <= versus["value"] <= versus["high"] and versus["verdict"]
    scratch = json.loads((out / "records" / "alpha__scratch.json").read_text())
    assert scratch["quality"]["versus_scratch"] is None
    recomputed = combined_versus_scratch([out], "alpha__scratch", "alpha__kd",
                                         EvalConfig(n_resamples=20, robustness=False))  # fmt: skip
    assert recomputed.to_record() == versus  # the kept scores reproduce the record's figure
    assert "Verdict (best of k)" in (out / "report.md").read_text()

    fleet.write_text(fleet_yaml(user_files, SYSTEMS, {"alpha": {"grid": ["scratch", "dist"]}}))
    with caplog.at_level(logging.WARNING):
        second = run_study(load_fleet(fleet), out)
    assert second.new_records == 2  # alpha only
    assert "system alpha: its settings changed" in caplog.text
    assert "reruns alone" in caplog.text
    after = {p.name: p.stat().st_mtime_ns for p in (out / "records").glob("beta__*.json")}
    assert after == beta  # beta kept, not recomputed
    alpha = {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("alpha__*.json")}
    assert set(alpha) == {"alpha__scratch", "alpha__dist"}
    assert {r["system_hash"] for r in alpha.values()} != {old_hash}
    moved = superseded(out)
    assert "records/alpha__kd.json" in moved and "students/alpha" in moved
    assert "predictions/alpha__kd.npz" in moved  # the test scores follow their record
    assert not (out / "students" / "alpha" / "kd").exists()
    assert "alpha" in (out / "report.md").read_text() and "beta" in (out / "report.md").read_text()


def test_an_edited_data_file_or_teacher_file_changes_only_its_system(tmp_path: Path) -> None:
    data, teacher = tmp_path / "d.csv", tmp_path / "t.onnx"
    data.write_text("a,y\n1,0\n")
    teacher.write_bytes(b"weights-1")
    systems = [
        {"name": "own", "dataset": {"path": str(data), "target": "y"},
         "teacher": {"path": str(teacher)}},
        {"name": "bc", "dataset": {"builtin": "breast_cancer"}},
    ]  # fmt: skip
    fleet = FleetConfig.model_validate({"systems": systems}).model_dump(mode="json")
    before = system_hashes(fleet)
    data.write_text("a,y\n1,1\n")  # the same file name, other rows
    after_data = system_hashes(fleet)
    teacher.write_bytes(b"weights-2")  # retrained under the same name
    after_teacher = system_hashes(fleet)
    assert before["own"] != after_data["own"] != after_teacher["own"]
    assert before["bc"] == after_data["bc"] == after_teacher["bc"]
