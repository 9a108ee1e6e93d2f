"""The user names the test rows (a file, a column) or the fractions; classes follow the
teacher's order; the sensitive column is not a feature; empty raw cells stay NaN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from potstill.data import load_table
from potstill.data.split import SplitSpec, column_parts
from potstill.data.tabular import encode_target
from potstill.errors import ConfigError, DataError


def frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(size=n).round(3),
            "x2": rng.normal(size=n).round(3),
            "group": np.where(np.arange(n) % 3 == 0, "f", "m"),
            "risk": np.where(np.arange(n) % 2 == 0, "good", "bad"),
        }
    )


def csv(path: Path, data: pd.DataFrame) -> Path:
    data.to_csv(path, index=False)
    return path


# ----------------------------------------------------------------------------- classes


def test_encode_target_follows_the_given_class_order() -> None:
    y, names = encode_target(pd.Series(["bad", "good", "good"], name="r"), "classification",
                             classes=["good", "bad"])  # fmt: skip
    assert names == ("good", "bad") and y.tolist() == [1, 0, 0]
    # a teacher trained on ints [0, 1]; the CSV holds 0.0 / 1.0
    y, names = encode_target(pd.Series([1.0, 0.0], name="r"), "classification", classes=[0, 1])  # type: ignore[list-item]
    assert names == ("0", "1") and y.tolist() == [1, 0]
    # the teacher may know a class the rows lack
    y, names = encode_target(pd.Series(["a", "a"], name="r"), "classification",
                             classes=["b", "a", "c"])  # fmt: skip
    assert names == ("b", "a", "c") and y.tolist() == [1, 1]


def test_encode_target_refuses_unknown_labels_and_a_conflicting_positive_label() -> None:
    with pytest.raises(
        DataError, match=r"holds the label 'ugly'.*teacher's classes \['good', 'bad'\]"
    ):
        encode_target(pd.Series(["good", "ugly"], name="r"), "classification",
                      classes=["good", "bad"])  # fmt: skip
    with pytest.raises(ConfigError, match=r"class 1 .* is 'bad', but positive_label is 'good'"):
        encode_target(pd.Series(["good", "bad"], name="r"), "classification",
                      classes=["good", "bad"], positive_label="good")  # fmt: skip
    with pytest.raises(ConfigError, match=r"repeated: \['a'\]"):
        encode_target(pd.Series(["a"], name="r"), "classification", classes=["a", "a"])


def test_load_table_names_the_line_of_an_unknown_label(tmp_path: Path) -> None:
    data = frame()
    data.loc[7, "risk"] = "meh"
    path = csv(tmp_path / "d.csv", data)
    with pytest.raises(DataError, match=rf"line 9 of {path}.*'meh'"):
        load_table(path, "risk", classes=["good", "bad"])
    task = load_table(csv(tmp_path / "ok.csv", frame()), "risk", classes=["good", "bad"])
    assert task.class_names == ("good", "bad")


# ----------------------------------------------------------------------------- splits


def test_a_test_file_holds_the_test_rows(tmp_path: Path) -> None:
    main = csv(tmp_path / "main.csv", frame(40))
    test_rows = frame(12, seed=1)
    test = csv(tmp_path / "test.csv", test_rows)
    task = load_table(
        main, "risk", split=SplitSpec(test=test), seed=3, encode=False, drop=["group"]
    )
    assert len(task.test) == 12 and len(task.train) + len(task.val) == 40
    np.testing.assert_allclose(task.test.X[:, 0], test_rows["x1"].to_numpy(np.float32), rtol=0)
    split = task.info.split
    assert split["how"] == "test_file" and split["rows"] == {"train": 32, "val": 8, "test": 12}
    assert str(test) in split["description"]
    csv(tmp_path / "short.csv", test_rows.drop(columns="x2"))
    with pytest.raises(DataError, match=r"'x2' is not a column of .*short.csv"):
        load_table(main, "risk", split=SplitSpec(test=tmp_path / "short.csv"))


def test_a_split_column_names_each_row(tmp_path: Path) -> None:
    data = frame(40)
    data["part"] = ["train"] * 24 + [" Val"] * 8 + ["test"] * 8
    task = load_table(csv(tmp_path / "d.csv", data), "risk", split=SplitSpec(column="part"))
    assert (len(task.train), len(task.val), len(task.test)) == (24, 8, 8)
    assert "part" not in task.feature_names
    assert task.info.split["how"] == "column" and task.info.split["column"] == "part"
    data["part"] = ["train"] * 32 + ["test"] * 8  # no val rows: drawn from train
    task = load_table(csv(tmp_path / "e.csv", data), "risk", split=SplitSpec(column="part"))
    assert (len(task.train), len(task.val), len(task.test)) == (25, 7, 8)


def test_a_bad_split_value_is_refused_with_its_line(tmp_path: Path) -> None:
    data = frame(40)
    data["part"] = ["train"] * 30 + ["holdout"] + ["test"] * 9
    path = csv(tmp_path / "d.csv", data)
    with pytest.raises(DataError, match=rf"line 32 of {path} has 'holdout'"):
        load_table(path, "risk", split=SplitSpec(column="part"))
    data["part"] = "train"
    with pytest.raises(DataError, match=r"names no test row"):
        load_table(csv(path, data), "risk", split=SplitSpec(column="part"))
    with pytest.raises(DataError, match=r"split column 'nope' is not a column"):
        load_table(path, "risk", split=SplitSpec(column="nope"))


def test_column_parts_reads_blank_cells_as_bad() -> None:
    values = pd.Series(["train", None, "test"], name="part", index=[5, 6, 7])
    with pytest.raises(DataError, match=r"row 7 has None"):
        column_parts(values, lambda i: f"row {i + 1}")


def test_fractions_are_configurable_and_recorded(tmp_path: Path) -> None:
    path = csv(tmp_path / "d.csv", frame(50))
    spec = SplitSpec(test_fraction=0.3, val_fraction=0.1, seed=7, stratify=False)
    task = load_table(path, "risk", split=spec, seed=0)
    assert (len(task.train), len(task.val), len(task.test)) == (30, 5, 15)
    split = task.info.split
    assert split["how"] == "fractions" and split["seed"] == 7 and split["stratified"] is False
    again = load_table(path, "risk", split=spec, seed=99)  # the split's own seed wins
    np.testing.assert_array_equal(task.test.X, again.test.X)


def test_split_spec_allows_one_way_of_naming_the_test_rows() -> None:
    with pytest.raises(ValidationError, match=r"at most one of 'test' or 'column'"):
        SplitSpec(test=Path("t.csv"), column="part")
    with pytest.raises(ValidationError, match=r"test_fraction' only applies"):
        SplitSpec(column="part", test_fraction=0.2)
    assert SplitSpec().mode == "fractions" and SplitSpec(column="c").mode == "column"


# ----------------------------------------------------------------------------- features


def test_the_sensitive_column_is_no_feature_unless_asked(tmp_path: Path) -> None:
    path = csv(tmp_path / "d.csv", frame())
    raw = load_table(path, "risk", sensitive="group", encode=False)  # text, with a file teacher
    assert raw.feature_names == ("x1", "x2") and set(raw.test.sensitive) == {"f", "m"}  # type: ignore[arg-type]
    encoded = load_table(path, "risk", sensitive="group", sensitive_is_feature=True)
    assert "group_f" in encoded.feature_names
    with pytest.raises(DataError, match=r"'group' are not"):
        load_table(path, "risk", sensitive="group", sensitive_is_feature=True, encode=False)


def test_empty_raw_cells_stay_nan_and_are_counted(tmp_path: Path) -> None:
    data = frame(40)
    data.loc[[1, 2, 30], "x1"] = np.nan
    data.loc[5, "x2"] = np.nan
    task = load_table(csv(tmp_path / "d.csv", data), "risk", sensitive="group", encode=False)
    n_nan = sum(int(np.isnan(s.X).sum()) for s in (task.train, task.val, task.test))
    assert n_nan == 4
    assert sum(task.info.split["imputed_cells"].values()) == 4
