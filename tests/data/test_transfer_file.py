"""A table's transfer file is cleaned of the rows the system already holds: a row equal
to a training, validation or test row (as the models read it) or to an earlier row of the
file is dropped and counted, the new rows keep their order, and ``size`` caps what is left."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from potstill.data.transfer import file_rows
from potstill.data.transfer_spec import TransferSpec
from potstill.errors import DataError

NAN = float("nan")
SPLITS = {
    "train": np.array([[0.1, 1.0], [0.2, 2.0]], dtype=np.float32),
    "val": np.array([[0.3, 3.0]], dtype=np.float32),
    "test": np.array([[0.4, 4.0], [0.5, NAN]], dtype=np.float32),
}


def _file(tmp_path: Path, rows: list[list[float]]) -> Path:
    """A CSV with the feature columns in another order and a target column, ignored."""
    frame = pd.DataFrame(rows, columns=["a", "b"])[["b", "a"]].assign(target=1)
    path = tmp_path / "unlabelled.csv"
    frame.to_csv(path, index=False)
    return path


ROWS = [
    [0.9, 9.0],  # new
    [0.4, 4.0],  # a test row (0.4 read from text, compared as float32)
    [0.1, 1.0],  # a training row
    [0.9, 9.0],  # a repeat
    [0.5, NAN],  # a test row with a missing value
    [0.8, 8.0],  # new
    [0.3, 3.0],  # the validation row
    [0.7, 7.0],  # new
]


def test_known_rows_and_repeats_are_dropped_and_counted_in_order(tmp_path: Path) -> None:
    spec = TransferSpec(kind="file", path=_file(tmp_path, ROWS))
    rows, info = file_rows(spec, SPLITS, ["a", "b"])
    np.testing.assert_array_equal(rows, np.float32([[0.9, 9.0], [0.8, 8.0], [0.7, 7.0]]))
    assert rows.dtype == np.float32
    assert info == {"rows": 8, "in_train": 1, "in_val": 1, "in_test": 2, "repeated": 1,
                    "over_size": 0, "kept": 3}  # fmt: skip


def test_size_caps_the_new_rows_after_the_known_ones_are_dropped(tmp_path: Path) -> None:
    spec = TransferSpec(kind="file", path=_file(tmp_path, ROWS), size=1.0)  # 2 training rows
    rows, info = file_rows(spec, SPLITS, ["a", "b"])
    np.testing.assert_array_equal(rows, np.float32([[0.9, 9.0], [0.8, 8.0]]))
    assert info["over_size"] == 1 and info["kept"] == 2 and info["in_test"] == 2


def test_a_file_of_known_rows_only_is_refused_with_the_counts(tmp_path: Path) -> None:
    spec = TransferSpec(kind="file", path=_file(tmp_path, [[0.4, 4.0], [0.1, 1.0], [0.1, 1.0]]))
    with pytest.raises(DataError, match=r"None of the 3 rows .* \(2 train, 0 val, 1 test, 0 rep"):
        file_rows(spec, SPLITS, ["a", "b"])
