"""``potstill select --teacher/--data`` takes a user's own system as ``distill`` does (a
pickled teacher, a split column, a sensitive text column, ID columns to drop), and a
search whose gates set no quality floor gets select's ``min_retention``."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline

from potstill.auto import SelectConfig
from potstill.auto.final import with_retention_floor
from potstill.auto.search_folder import claim_search_folder, search_keys
from potstill.auto.sources import fleet_for
from potstill.cli import main
from potstill.config import FleetConfig
from potstill.distill_fleet import DistillOptions

pytest.importorskip("optuna")

TARGET = "Cultivar Name"


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A messy table (odd headers, empty cells, an ID column, text labels, a text
    sensitive column, a split column in mixed case) and a pickled pipeline teacher
    trained on its 'Train' rows only."""
    root = tmp_path_factory.mktemp("own")
    rng = np.random.default_rng(0)
    wine = load_wine(as_frame=True)
    table = wine.data.set_axis([f"Feature #{i} ({c})" for i, c in enumerate(wine.data)], axis=1)
    features = list(table.columns)
    table = table.mask(rng.random(table.shape) < 0.04)
    table.insert(0, "Lot ID", [f"L-{i:05d}" for i in range(len(table))])
    table["Region"] = rng.choice(["north", "south"], len(table))
    table[TARGET] = np.array(["Barolo", "Grignolino", "Barbera"])[wine.target]
    table["Partition"] = rng.choice(["Train", "VAL", "test"], len(table), p=[0.6, 0.2, 0.2])
    train = table[table["Partition"] == "Train"]
    teacher = make_pipeline(SimpleImputer(), RandomForestClassifier(50, random_state=0))
    teacher.fit(train[features].to_numpy(), train[TARGET].to_numpy())
    pd.DataFrame(table).to_csv(root / "wine lots.csv", index=False)
    joblib.dump(teacher, root / "teacher.joblib")
    return root / "teacher.joblib", root / "wine lots.csv"


def test_the_own_system_carries_every_option_distill_takes(
    own: tuple[Path, Path], tmp_path: Path
) -> None:
    teacher, data = own
    options = DistillOptions(
        teacher=teacher, data=data, target=TARGET, out=tmp_path, trust_pickle=True,
        sensitive="Region", drop=("Lot ID",), split_column="Partition", width=None,
    )  # fmt: skip
    system = fleet_for(own=options).systems[0]
    assert system.teacher.trust_pickle and system.dataset.sensitive == "Region"
    assert system.dataset.drop == ("Lot ID",) or list(system.dataset.drop) == ["Lot ID"]
    assert system.dataset.split is not None and system.dataset.split.column == "Partition"
    assert system.student.width == 0.5  # no --width: the default student's own default


def test_a_fleet_without_a_quality_gate_gets_the_floor_and_its_own_gates_win() -> None:
    fleet = FleetConfig.model_validate({
        "name": "f",
        "systems": [
            {"name": "plain", "dataset": {"builtin": "breast_cancer"}},
            {"name": "own_floor", "dataset": {"builtin": "breast_cancer"},
             "gates": {"min_retention": 0.9}},
            {"name": "own_gates", "dataset": {"builtin": "breast_cancer"},
             "gates": {"max_ece": 0.1}},
        ],
    })  # fmt: skip
    floored, reached = with_retention_floor(fleet, 0.97)
    assert reached == ["plain", "own_gates"]
    floors = {s.name: floored.plan_for(s).gates.min_retention for s in floored.systems}
    assert floors == {"plain": 0.97, "own_floor": 0.9, "own_gates": 0.97}
    assert floored.plan_for("own_gates").gates.max_ece == 0.1
    again, reached = with_retention_floor(floored, 0.5)
    assert reached == [] and again == floored


def search_key(fleet: FleetConfig, system: str, config: SelectConfig) -> str:
    return search_keys(fleet, config)[system]


def test_a_search_folder_is_kept_only_under_the_settings_that_made_it(tmp_path: Path) -> None:
    fleet = FleetConfig.model_validate(
        {"name": "f", "systems": [{"name": "a", "dataset": {"builtin": "breast_cancer"}}]}
    )
    key = search_key(fleet, "a", SelectConfig())
    assert search_key(fleet, "a", SelectConfig(trials=80, timeout=60)) == key  # the budget
    floored, _ = with_retention_floor(fleet, 0.97)
    others = [search_key(fleet, "a", SelectConfig(rung_epochs=(2, 5))),
              search_key(floored, "a", SelectConfig()),
              search_key(fleet.model_copy(update={"seed": 1}), "a", SelectConfig())]  # fmt: skip
    assert key not in others and len(set(others)) == 3
    folder, moved = claim_search_folder(tmp_path, "a", key)
    (folder / "optuna.db").write_text("trials")
    assert moved is None and claim_search_folder(tmp_path, "a", key) == (folder, None)
    folder, moved = claim_search_folder(tmp_path, "a", others[0])
    assert moved is not None and (moved / "optuna.db").read_text() == "trials"
    assert not (folder / "optuna.db").exists() and moved.parts[-4] == "superseded"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sensitive", "Region", "--drop", "Lot ID"], "--sensitive, --drop describe(s) your own"),
        (["--teacher", "t.onnx"], "--data is missing"),
    ],
)
def test_own_system_flags_without_teacher_and_data_are_refused(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("name: f\nsystems: [{name: a, dataset: {builtin: breast_cancer}}]\n")
    source = [] if "--teacher" in args else [str(fleet)]
    with pytest.raises(SystemExit) as exit_:
        main(["select", *source, *args, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_select_searches_a_users_pickled_teacher_on_a_messy_table(
    own: tuple[Path, Path], cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher, data = own
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["select", "--teacher", str(teacher), "--trust-pickle", "--data", str(data),
              "--target", TARGET, "--split-column", "Partition", "--sensitive", "Region",
              "--drop", "Lot ID", "--quick", "--trials", "3", "--out", str(out)])  # fmt: skip
    assert exit_.value.code in (0, 1)  # 1: the choice failed a gate on the test split
    captured = capsys.readouterr()
    assert "gates set no min_retention; the search keeps retention >= 0.97" in captured.err
    summary = json.loads(captured.out.strip().splitlines()[-1])["systems"][0]
    record = json.loads((out / "records" / "system__auto.json").read_text())
    assert record["status"] == "ok" and summary["status"] == "ok"
    split = record["dataset"]["split"]
    assert split["how"] == "column" and split["column"] == "Partition"
    assert record["dataset"]["n_features"] == 13  # not the ID, the split or Region column
    gates = {g["name"]: g for g in record["gates"]}
    assert gates["min_retention"]["threshold"] == 0.97  # the floor reached the record
    assert gates["min_retention"]["status"] in ("pass", "fail")
    # the same search under another floor: its stored verdicts do not apply, so it restarts
    with pytest.raises(SystemExit) as exit_:
        main(["select", "--teacher", str(teacher), "--trust-pickle", "--data", str(data),
              "--target", TARGET, "--split-column", "Partition", "--sensitive", "Region",
              "--drop", "Lot ID", "--quick", "--trials", "2", "--min-retention", "0.9",
              "--out", str(out)])  # fmt: skip
    assert exit_.value.code in (0, 1)
    assert "was made under other settings" in capsys.readouterr().err
    assert len(list(out.glob("superseded/*/search/system/optuna.db"))) == 1
    record = json.loads((out / "records" / "system__auto.json").read_text())
    assert {g["name"]: g["threshold"] for g in record["gates"]}["min_retention"] == 0.9
