"""Screening a user's table: what would silently give a wrong result is refused or changed
with a note in the task (and so in the record)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from potstill.data import load_table
from potstill.errors import DataError


def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(3)
    return pd.DataFrame(
        {
            "x": x,
            "city": rng.choice(["oslo", "rome", "lima"], size=n),
            "y": np.where(x + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
        }
    )


def write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_a_repeated_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("a,b,y,y\n" + "\n".join(f"{i},{i % 3},{i % 2},{i % 2}" for i in range(30)))
    with pytest.raises(DataError, match=r"names the column\(s\) \['y'\] more than once"):
        load_table(path, "y")


def test_a_relabelled_target_is_refused_as_leakage(tmp_path: Path) -> None:
    frame = table()
    frame["outcome_code"] = frame["y"].map({"yes": 1, "no": 0})
    with pytest.raises(DataError, match=r"'outcome_code' .* is the target 'y' under another"):
        load_table(write(tmp_path / "d.csv", frame), "y")
    task = load_table(write(tmp_path / "d.csv", frame), "y", drop=["outcome_code"])
    assert task.feature_names  # the suggested fix works


def test_identifiers_are_dropped_with_a_note(tmp_path: Path) -> None:
    frame = table()
    frame.insert(0, "customer", [f"C{1000 + i}" for i in range(len(frame))])
    frame.insert(0, "row", range(1, len(frame) + 1))
    task = load_table(write(tmp_path / "d.csv", frame), "y")
    assert not any(n.startswith(("customer", "row")) for n in task.feature_names)
    assert "'customer'" in task.info.note and "'row'" in task.info.note
    raw = load_table(write(tmp_path / "d.csv", frame.drop(columns=["city"])), "y", encode=False)
    assert raw.feature_names == ("row", "x")  # a teacher file defines its numeric inputs


def test_dates_become_days_and_rare_categories_other(tmp_path: Path) -> None:
    frame = table(200)
    frame["opened"] = pd.date_range("2020-01-01", periods=200, freq="D").strftime("%Y-%m-%d")
    frame["opened"] = frame["opened"].where(np.arange(200) % 7 != 0, "")  # some empty
    frame["branch"] = [f"b{i % 80}" if i < 100 else "main" for i in range(200)]
    task = load_table(write(tmp_path / "d.csv", frame), "y")
    assert "opened" in task.feature_names and "days since 1970" in task.info.note
    branches = [n for n in task.feature_names if n.startswith("branch_")]
    assert set(branches) == {"branch_main", "branch_other"}
    assert "merged into 'other'" in task.info.note


@pytest.mark.parametrize("value", ["1e308", "-1e308", "3.5e38"])
def test_numbers_beyond_float32_are_refused_with_their_cell(tmp_path: Path, value: str) -> None:
    frame = table().astype({"x": object})
    frame.loc[4, "x"] = value
    path = write(tmp_path / "d.csv", frame)
    with pytest.raises(DataError, match=rf"'x' has the value '{value}' at line 6 of .*float32"):
        load_table(path, "y")


def test_a_sensitive_column_equal_to_the_target_is_refused(tmp_path: Path) -> None:
    frame = table()
    frame["flag"] = frame["y"].map({"yes": "A", "no": "B"})
    with pytest.raises(DataError, match="sensitive column 'flag' is the target"):
        load_table(write(tmp_path / "d.csv", frame), "y", sensitive="flag")


def test_the_inferred_problem_and_its_reason_are_recorded(tmp_path: Path) -> None:
    frame = table()
    frame["score"] = np.arange(len(frame)) % 30  # 30 distinct integers: a regression
    task = load_table(write(tmp_path / "d.csv", frame.drop(columns=["y"])), "score")
    assert task.problem == "regression"
    assert "regression, because the target 'score' holds 30 distinct integer" in task.info.note
    given = load_table(write(tmp_path / "d.csv", frame), "y", problem="classification")
    assert "Problem inferred" not in given.info.note
