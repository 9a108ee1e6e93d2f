"""load_table on tiny CSV/Parquet files: happy paths and every refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from potstill.data import load_table, split_indices
from potstill.errors import ConfigError, DataError


def toy_frame(n: int = 30) -> pd.DataFrame:
    """n rows: a numeric, a categorical and a binary target (1 in 3 is "yes")."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": rng.integers(20, 70, size=n).astype(float),
            "city": rng.choice(["paris", "oslo", "rome"], size=n),
            "group": np.where(np.arange(n) % 2 == 0, "a", "b"),
            "label": np.where(np.arange(n) % 3 == 0, "yes", "no"),
        }
    )


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_csv_classification_end_to_end(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "loans.csv", toy_frame())
    task = load_table(path, "label", positive_label="yes", sensitive="group", seed=1)
    assert (task.name, task.kind, task.problem, task.sector) == (
        "loans",
        "tabular",
        "classification",
        "other",
    )
    assert task.class_names == ("no", "yes") and task.n_classes == 2
    assert (len(task.train), len(task.val), len(task.test)) == (18, 6, 6)
    assert task.train.X.dtype == np.float32 and task.train.y.dtype == np.int64
    # the sensitive column is not a feature unless asked, and is kept raw per row
    assert task.feature_names[:1] == ("age",) and "group_a" not in task.feature_names
    assert task.train.sensitive is not None and set(task.train.sensitive) <= {"a", "b"}
    # 10 of 30 rows are "yes": stratified → 6/2/2
    assert [int(s.y.sum()) for s in (task.train, task.val, task.test)] == [6, 2, 2]
    again = load_table(path, "label", positive_label="yes", sensitive="group", seed=1)
    np.testing.assert_array_equal(task.test.X, again.test.X)


def test_encoder_is_fitted_on_train_rows_only(tmp_path: Path) -> None:
    frame = toy_frame()
    y = (frame["label"] == "yes").to_numpy().astype(np.int64)
    train, _, test = split_indices(y, seed=0)  # the split load_table will draw
    frame.loc[test[0], "city"] = "atlantis"  # a category only a test row has
    frame.loc[test[1], "age"] = 1000.0  # an outlier only a test row has
    task = load_table(write_csv(tmp_path / "t.csv", frame), "label", positive_label="yes")
    assert "city_atlantis" not in task.feature_names
    ages = frame["age"].to_numpy()[train]
    mean, std = ages.mean(), ages.std()  # population std, as StandardScaler
    col = task.feature_names.index("age")
    np.testing.assert_allclose(task.train.X[:, col], (ages - mean) / std, rtol=1e-5)
    np.testing.assert_allclose(task.test.X[1, col], (1000.0 - mean) / std, rtol=1e-5)
    city = [i for i, n in enumerate(task.feature_names) if n.startswith("city_")]
    assert task.test.X[0, city].tolist() == [0.0, 0.0, 0.0]


def test_parquet_types_drop_and_inference(tmp_path: Path) -> None:
    frame = toy_frame()
    frame["flag"] = np.arange(30) % 4 == 0
    frame["score"] = np.arange(30) % 5  # 5 distinct integers → classification
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    task = load_table(path, "score", drop=["label", "group"], sensitive="group")
    assert task.problem == "classification" and task.class_names == ("0", "1", "2", "3", "4")
    assert not any(n.startswith(("group", "label")) for n in task.feature_names)
    assert {"flag_False", "flag_True"} <= set(task.feature_names)
    assert task.sensitive_name == "group" and task.train.sensitive is not None


def test_problem_inference(tmp_path: Path) -> None:
    frame = toy_frame(120)
    frame["price"] = np.linspace(0, 1, 120)  # floats → regression
    frame["many"] = np.arange(120) % 21  # 21 distinct integers (> 20) → regression
    frame["few"] = np.arange(120) % 20  # 20 distinct integers → classification
    path = write_csv(tmp_path / "t.csv", frame)
    task = load_table(path, "price", drop=["label"])
    assert task.problem == "regression" and task.metric == "rmse" and task.n_classes == 0
    assert task.train.y.dtype == np.float32
    assert load_table(path, "many").problem == "regression"
    few = load_table(path, "few")
    assert few.problem == "classification" and few.n_classes == 20
    assert load_table(path, "many", problem="classification", drop=["few"]).n_classes == 21


def test_text_column_task(tmp_path: Path) -> None:
    frame = toy_frame()
    frame["note"] = [f"note number {i}" for i in range(30)]
    frame.loc[3, "note"] = None
    task = load_table(write_csv(tmp_path / "t.csv", frame), "label", text_column="note")
    assert task.kind == "text" and task.feature_names == ("note",)
    assert task.train.X.dtype == object and all(isinstance(x, str) for x in task.train.X)
    assert "" in np.concatenate([task.train.X, task.val.X, task.test.X])  # missing → ""


def test_missing_targets_are_dropped_and_counted(tmp_path: Path) -> None:
    frame = toy_frame()
    frame.loc[[1, 2, 4], "label"] = None
    task = load_table(write_csv(tmp_path / "t.csv", frame), "label")
    assert len(task.train) + len(task.val) + len(task.test) == 27 == task.info.n_rows
    assert "Dropped 3 row(s)" in task.info.note
    frame.loc[:16, "label"] = None
    with pytest.raises(DataError, match=r"missing in 17 of 30 rows"):
        load_table(write_csv(tmp_path / "t.csv", frame), "label")


def test_max_rows_and_categorical(tmp_path: Path) -> None:
    frame = toy_frame()
    frame["zip"] = ["75001"] * 29 + ["N1"]
    path = write_csv(tmp_path / "t.csv", frame)
    with pytest.raises(DataError, match=r"Column 'zip' looks numeric.*line 31.*'N1'"):
        load_table(path, "label")
    task = load_table(path, "label", categorical=["zip"], max_rows=20)
    assert "zip_75001" in task.feature_names
    assert len(task.train) + len(task.val) + len(task.test) == 20


# --------------------------------------------------------------------------- refusals


def test_missing_file_and_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope.csv does not exist"):
        load_table(tmp_path / "nope.csv", "y")
    (tmp_path / "t.xlsx").write_bytes(b"x")
    with pytest.raises(DataError, match=r"unsupported extension '.xlsx'. Supported: .csv"):
        load_table(tmp_path / "t.xlsx", "y")
    with pytest.raises(DataError, match=r"is not a file"):
        load_table(tmp_path, "y")


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"empty.csv is empty"):
        load_table(tmp_path / "empty.csv", "y")
    (tmp_path / "head.csv").write_text("x,y\n")
    with pytest.raises(DataError, match=r"columns \['x', 'y'\] but no data rows"):
        load_table(tmp_path / "head.csv", "y")
    (tmp_path / "ragged.csv").write_text("x,y\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"cannot be read as CSV.*line 3"):
        load_table(tmp_path / "ragged.csv", "y")
    (tmp_path / "junk.parquet").write_bytes(b"not a parquet file at all")
    with pytest.raises(DataError, match=r"cannot be read as Parquet"):
        load_table(tmp_path / "junk.parquet", "y")
    (tmp_path / "bin.csv").write_bytes(b"x,y\n\xff\xfe\x00,1\n")
    with pytest.raises(DataError, match=r"cannot be read as CSV"):
        load_table(tmp_path / "bin.csv", "y")


def test_absent_columns_are_listed(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", toy_frame())
    cols = r"Available columns: \['age', 'city', 'group', 'label'\]"
    with pytest.raises(DataError, match=f"target column 'y' is not a column of .*{cols}"):
        load_table(path, "y")
    with pytest.raises(DataError, match=f"sensitive column 'sex' is not.*{cols}"):
        load_table(path, "label", sensitive="sex")
    with pytest.raises(DataError, match=f"text column 'body' is not.*{cols}"):
        load_table(path, "label", text_column="body")
    with pytest.raises(DataError, match=f"drop columns 'id', 'ssn' are not columns.*{cols}"):
        load_table(path, "label", drop=["id", "age", "ssn"])
    with pytest.raises(DataError, match=r"cannot also be dropped"):
        load_table(path, "label", drop=["label"])


def test_non_numeric_cell_in_numeric_column_names_line_and_value(tmp_path: Path) -> None:
    lines = ["age,label"] + [f"{20 + i},{'yes' if i % 3 == 0 else 'no'}" for i in range(30)]
    lines[4] = "4O,no"  # a letter O typed for a zero, on line 5 of the file
    lines.insert(2, "")  # a blank line shifts it to line 6
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"Column 'age' looks numeric.* line 6 of .*t.csv: '4O'"):
        load_table(tmp_path / "t.csv", "label")
    frame = toy_frame()
    frame["age"] = frame["age"].astype(str)
    frame.loc[7, "age"] = "old"
    frame.to_parquet(tmp_path / "t.parquet")
    with pytest.raises(DataError, match=r"Column 'age' looks numeric.* row 8 of .*: 'old'"):
        load_table(tmp_path / "t.parquet", "label")


def test_regression_target_must_be_numeric(tmp_path: Path) -> None:
    lines = ["x,y"] + [f"{i},{i * 1.5}" for i in range(30)]
    lines[3] = "2,abc"
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"target column 'y' of a regression task.*line 4.*'abc'"):
        load_table(tmp_path / "t.csv", "y", problem="regression")
    with pytest.raises(DataError, match=r"Column 'y' looks numeric.*problem='classification'"):
        load_table(tmp_path / "t.csv", "y")


def test_single_class_and_too_few_rows(tmp_path: Path) -> None:
    frame = toy_frame()
    frame["label"] = "no"
    with pytest.raises(DataError, match=r"has 1 class.*at least 2"):
        load_table(write_csv(tmp_path / "t.csv", frame), "label")
    with pytest.raises(DataError, match=r"has 4 row\(s\) with a target; a study needs at least 10"):
        load_table(write_csv(tmp_path / "t.csv", toy_frame(4)), "label")
    rare = toy_frame(12).assign(label=["yes"] * 2 + ["no"] * 10)
    with pytest.raises(DataError, match=r"Too few rows to split: class 'yes' has 2 row"):
        load_table(write_csv(tmp_path / "t.csv", rare), "label")


def test_bad_arguments_are_config_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", toy_frame())
    with pytest.raises(ConfigError, match=r"'problem' parameter of load_table must be one of"):
        load_table(path, "label", problem="ranking")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"'sector' parameter"):
        load_table(path, "label", sector="retail")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"positive_label 'maybe' is not a class"):
        load_table(path, "label", positive_label="maybe")
