"""Transfer-set generators: MUNGE keeps ranges and one-hot groups, every generator is
seeded, a transfer file must hold the feature columns, and a bad spec is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from potstill.data.transfer import (
    augment_rows,
    make_transfer,
    mixup_rows,
    munge_rows,
    noise_rows,
    read_rows,
)
from potstill.data.transfer_spec import TransferSpec
from potstill.errors import DataError


def _table(n: int = 60) -> np.ndarray:
    """Two continuous columns, a one-hot group of three and a 0/1 flag."""
    rng = np.random.default_rng(0)
    cont = rng.normal(size=(n, 2)) * [1.0, 10.0]
    onehot = np.eye(3)[rng.integers(0, 3, n)]
    flag = rng.integers(0, 2, (n, 1))
    return np.hstack([cont, onehot, flag]).astype(np.float32)


def test_munge_keeps_ranges_and_one_hot_groups() -> None:
    X = _table()
    out = munge_rows(X, 150, p=0.5, s=1.0, seed=1)
    assert out.shape == (150, X.shape[1]) and out.dtype == np.float32
    assert (out.min(axis=0) >= X.min(axis=0) - 1e-6).all()
    assert (out.max(axis=0) <= X.max(axis=0) + 1e-6).all()
    assert set(np.unique(out[:, 2:])) <= {0.0, 1.0}  # nominal columns keep their values
    np.testing.assert_array_equal(out[:, 2:5].sum(axis=1), 1.0)  # one-hot stays one-hot
    assert not np.array_equal(out[:60], X)  # rows did change
    assert np.isin(out[:, 0], X[:, 0]).mean() < 1.0  # continuous values are drawn anew


def test_munge_p_near_zero_copies_the_rows() -> None:
    X = _table()
    np.testing.assert_array_equal(munge_rows(X, 60, p=1e-9, seed=0), X)


@pytest.mark.parametrize(
    "make",
    [
        lambda X, seed: munge_rows(X, 80, seed=seed),
        lambda X, seed: mixup_rows(X, 80, seed=seed),
        lambda X, seed: noise_rows(X, 80, seed=seed),
    ],
)
def test_generators_are_seeded(make) -> None:  # type: ignore[no-untyped-def]
    X = _table()
    np.testing.assert_array_equal(make(X, 3), make(X, 3))
    assert not np.array_equal(make(X, 3), make(X, 4))


def test_mixup_stays_between_the_rows_and_noise_scales_with_each_feature() -> None:
    X = _table(200)
    mixed = mixup_rows(X, 300, alpha=0.4, seed=0)
    assert (mixed.min(axis=0) >= X.min(axis=0) - 1e-5).all()
    assert (mixed.max(axis=0) <= X.max(axis=0) + 1e-5).all()
    # one pass (every row once) plus noise of 1 sd per feature: each column's spread grows
    # by sqrt(2), the column of sd 1 and the column of sd 10 alike
    noisy = noise_rows(X, 2000, scale=1.0, seed=0)
    spread = np.std(noisy[:, :2], axis=0) / np.std(X[:, :2], axis=0)
    np.testing.assert_allclose(spread, np.sqrt(2), rtol=0.08)


def test_augment_makes_images_and_refuses_a_table() -> None:
    images = np.random.default_rng(0).random((10, 1, 8, 8)).astype(np.float32)
    out = augment_rows(images, 25, seed=0)
    assert out.shape == (25, 1, 8, 8)
    assert out.min() >= images.min() and out.max() <= images.max()
    with pytest.raises(DataError, match="for images"):
        augment_rows(_table(), 5)


def test_size_multiplies_the_training_rows() -> None:
    X = _table(40)
    spec = TransferSpec(kind="noise", size=2.5)
    assert len(make_transfer(spec, X, seed=0)) == 100


def _csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "unlabelled.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_transfer_file_is_read_by_the_feature_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, pd.DataFrame({"b": [1.0, 2.0], "a": [3.0, 4.0], "extra": ["x", "y"]}))
    np.testing.assert_array_equal(read_rows(path, ["a", "b"]), [[3.0, 1.0], [4.0, 2.0]])


def test_a_transfer_file_missing_a_column_is_refused_by_name(tmp_path: Path) -> None:
    path = _csv(tmp_path, pd.DataFrame({"a": [1.0, 2.0]}))
    with pytest.raises(DataError, match=r"unlabelled\.csv lacks 1 of the 2 .*'income'"):
        read_rows(path, ["a", "income"])


def test_a_text_column_in_a_transfer_file_is_refused(tmp_path: Path) -> None:
    path = _csv(tmp_path, pd.DataFrame({"a": ["low", "high"]}))
    with pytest.raises(DataError, match=r"Column .a. of the transfer file .* holds text"):
        read_rows(path, ["a"])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"kind": "mixup", "p": 0.3},
            "'p' \\(kind 'munge'\\) do\\(es\\) not apply to kind 'mixup'",
        ),
        ({"kind": "file"}, "kind 'file' needs 'path'"),
        ({"kind": "munge", "p": 1.5}, "less than or equal to 1"),
        ({"kind": "smote"}, "Input should be 'file'"),
        ({"kind": "noise", "size": 0}, "greater than 0"),
    ],
)
def test_bad_transfer_specs_are_refused(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(ValidationError, match=expected):
        TransferSpec.model_validate(raw)
