"""Label-scarce systems and transfer sets in a study: a seeded stratified labelled share,
scratch trained on it alone, distilled cells on the teacher-labelled transfer set, the
pseudo-label baseline on the teacher's hard labels, and what was used in the records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from potstill.cli import main
from potstill.config import load_fleet
from potstill.errors import ConfigError, DataError
from potstill.study import system as system_module
from potstill.study.resume import system_hashes
from potstill.study.transfer import labelled_rows
from potstill.types import DatasetInfo, Split, Task

GRID = ["scratch", "kd", "pseudo_label"]


def _task(n: int = 400) -> Task:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (rng.random(n) < 0.2).astype(np.int64)  # 20 % positives
    return Task(
        name="t", sector="other", kind="tabular", problem="classification",
        train=Split(X, y), val=Split(X[:20], y[:20]), test=Split(X[:20], y[:20]),
        metric="accuracy", n_classes=2, info=DatasetInfo("t", "test", "n/a"),
    )  # fmt: skip


def test_the_labelled_share_is_seeded_and_stratified() -> None:
    task = _task()
    labelled, unlabelled = labelled_rows(task, 0.1, seed=5)
    assert len(labelled.train.y) == 40 and len(unlabelled) == 360
    assert labelled.train.y.mean() == pytest.approx(task.train.y.mean(), abs=0.01)
    again, _ = labelled_rows(task, 0.1, seed=5)
    np.testing.assert_array_equal(again.train.X, labelled.train.X)
    other, _ = labelled_rows(task, 0.1, seed=6)
    assert not np.array_equal(other.train.X, labelled.train.X)
    rows = np.concatenate([labelled.train.X, unlabelled])
    assert len(np.unique(rows, axis=0)) == len(task.train.X)  # disjoint, nothing lost
    assert labelled_rows(task, 1.0, seed=5)[0] is task


@pytest.fixture(scope="module")
def study(
    user_files: dict[str, Path], fleet_yaml: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, dict[str, Any]], int]:
    """scarce: 30 % labels + MUNGE rows; filed: a transfer file lacking a column; leaky: a
    transfer file of every row of the data (training, validation and test) and 30 new ones,
    one of them twice; plain: neither (its pseudo_label cell has nothing to label)."""
    root = tmp_path_factory.mktemp("transfer")
    bad, leaky = root / "unlabelled.csv", root / "leaky.csv"
    pd.read_csv(user_files["csv"]).drop(columns=["target", "mean radius"]).to_csv(bad, index=False)
    rows = pd.read_csv(user_files["csv"]).drop(columns=["target"])
    new = rows.iloc[:30].assign(**{"mean radius": lambda f: f["mean radius"] + 0.5})
    pd.concat([new.iloc[:10], rows, new.iloc[10:], new.iloc[:1]]).to_csv(leaky, index=False)
    per_system = {
        "scarce": {"dataset": {"path": str(user_files["csv"]), "target": "target",
                               "labelled_fraction": 0.3},
                   "transfer": {"kind": "munge", "size": 0.5, "p": 0.3}},
        "filed": {"transfer": {"kind": "file", "path": str(bad)}},
        "leaky": {"transfer": {"kind": "file", "path": str(leaky)}},
    }  # fmt: skip
    fleet = root / "fleet.yaml"
    systems = {"scarce": "good", "filed": "good", "leaky": "good", "plain": "good"}
    fleet.write_text(fleet_yaml(user_files, systems,
                                per_system, grid=GRID, train={"epochs": 2, "batch_size": 64}))  # fmt: skip
    seen: dict[str, dict[str, Any]] = {}
    real_train = system_module.train

    def train(student: Any, task: Task, **kwargs: Any) -> Any:
        transfer = kwargs.get("transfer")
        seen[kwargs["description"]] = {
            "rows": len(task.train.y),
            "transfer": None if transfer is None else len(transfer.X),
            "pseudo": None if transfer is None else transfer.pseudo_label,
        }
        if transfer is not None:  # transfer rows equal to an input the cell is scored on
            tested = {r.tobytes() for r in task.test.X}
            seen[kwargs["description"]]["scored"] = sum(r.tobytes() in tested for r in transfer.X)
        system = kwargs["description"].split("/")[0]
        seen.setdefault("splits", {})[system] = (
            len(task.train.y),
            len(task.val.y),
            len(task.test.y),
        )
        return real_train(student, task, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(system_module, "train", train)
    mp.setenv("POTSTILL_REUSE_STUDENTS", "0")  # every cell trains (module scope: set here)
    try:
        with pytest.raises(SystemExit) as info:
            main(["study", str(fleet), "--out", str(root / "out")])
    finally:
        mp.undo()
    return root / "out", seen, int(info.value.code or 0)


def _records(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def test_scratch_sees_the_labelled_rows_and_distillation_the_transfer_set(
    study: tuple[Path, dict[str, dict[str, Any]], int],
) -> None:
    _, seen, _ = study
    scratch, kd, pseudo = (seen[f"scarce/{c}"] for c in GRID)
    n_train = seen["plain/scratch"]["rows"]
    assert scratch == {"rows": kd["rows"], "transfer": None, "pseudo": None}
    assert scratch["rows"] == pytest.approx(0.3 * n_train, abs=1)
    # the unlabelled 70 % plus MUNGE rows of half the training rows
    assert kd["transfer"] == (n_train - scratch["rows"]) + round(0.5 * n_train)
    assert kd["pseudo"] is False and pseudo["pseudo"] is True
    assert pseudo["transfer"] == kd["transfer"]


def test_the_records_say_what_was_used(study: tuple[Path, dict[str, dict[str, Any]], int]) -> None:
    out, seen, _ = study
    records = _records(out)
    kd = records["scarce__kd"]["student"]["transfer"]
    assert kd["labelled_fraction"] == 0.3 and kd["kind"] == "munge" and kd["used"] == "soft targets"
    assert kd["parameters"] == {"p": 0.3, "s": 1.0} and kd["size"] == 0.5
    assert kd["teacher_labelled_rows"] == seen["scarce/kd"]["transfer"]
    assert records["scarce__scratch"]["student"]["transfer"]["used"] == "none"
    assert records["scarce__pseudo_label"]["family"] == "pseudo_label"
    assert records["scarce__pseudo_label"]["student"]["transfer"]["used"] == "hard labels"
    assert records["scarce__pseudo_label"]["status"] == "ok"
    assert "transfer" not in records["plain__kd"]["student"]


def test_a_transfer_file_loses_the_rows_of_the_splits_and_its_repeats(
    study: tuple[Path, dict[str, dict[str, Any]], int],
) -> None:
    out, seen, _ = study
    n_train, n_val, n_test = seen["splits"]["plain"]
    kd = _records(out)["leaky__kd"]["student"]["transfer"]
    assert kd["file_rows"] == {
        "rows": n_train + n_val + n_test + 31, "in_train": n_train, "in_val": n_val,
        "in_test": n_test, "repeated": 1, "over_size": 0, "kept": 30,
    }  # fmt: skip
    assert kd["transfer_rows"] == kd["teacher_labelled_rows"] == 30
    for cell in ("kd", "pseudo_label"):
        assert seen[f"leaky/{cell}"]["transfer"] == 30
        assert seen[f"leaky/{cell}"]["scored"] == 0  # no test row reaches training


def test_pseudo_label_without_a_transfer_set_is_not_applicable(
    study: tuple[Path, dict[str, dict[str, Any]], int],
) -> None:
    record = _records(study[0])["plain__pseudo_label"]
    assert record["status"] == "not_applicable"
    assert "labelled_fraction below 1" in record["reason"]


def test_a_transfer_file_lacking_a_column_fails_its_system_by_name(
    study: tuple[Path, dict[str, dict[str, Any]], int],
) -> None:
    out, _, code = study
    record = _records(out)["filed__kd"]
    assert record["status"] == "failed"
    assert "lacks 1 of the 6 feature column(s)" in record["reason"]
    assert "'mean radius'" in record["reason"]
    assert code != 0


@pytest.mark.parametrize(
    ("yaml_part", "expected"),
    [
        ("transfer: {kind: file}", r"transfer: kind 'file' needs 'path'"),
        ("transfer: {kind: noise, alpha: 0.2}", r"'alpha' \(kind 'mixup'\) do\(es\) not apply"),
        (
            "grid: [{label: pl, pseudo_label: true, methods: [{name: kd}]}]",
            r"grid\[0\]: grid entry .pl.",
        ),
    ],
)
def test_bad_transfer_config_is_refused_naming_the_field(
    tmp_path: Path, yaml_part: str, expected: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(f"systems: [{{name: a, dataset: {{builtin: iris}}}}]\n{yaml_part}\n")
    with pytest.raises(ConfigError, match=expected):
        load_fleet(path)


def test_a_labelled_fraction_of_zero_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("systems: [{name: a, dataset: {builtin: iris, labelled_fraction: 0}}]\n")
    with pytest.raises(ConfigError, match=r"systems\[0\]\.dataset\.labelled_fraction"):
        load_fleet(path)


def test_a_changed_transfer_set_changes_the_systems_settings_hash(tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a\n1\n")
    fleet: dict[str, Any] = {"systems": [{"name": "s", "dataset": {"builtin": "iris"}}]}
    plain = system_hashes(fleet)["s"]
    munge = system_hashes({**fleet, "transfer": {"kind": "munge"}})["s"]
    filed = {**fleet, "transfer": {"kind": "file", "path": str(rows)}}
    before = system_hashes(filed)["s"]
    rows.write_text("a\n2\n")
    assert len({plain, munge, before, system_hashes(filed)["s"]}) == 4


def test_a_fraction_too_small_for_every_class_is_refused_by_name() -> None:
    with pytest.raises(DataError, match=r"labelled_fraction 0\.001 of its 400 training rows"):
        labelled_rows(_task(), 0.001, seed=0)
