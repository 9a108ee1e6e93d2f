"""Encoder, splits and target encoding, pinned against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from potstill.data.tabular import (
    TabularEncoder,
    build_task,
    default_metric,
    encode_target,
    split_indices,
    subsample_indices,
)
from potstill.errors import ConfigError, DataError
from potstill.types import DatasetInfo

INFO = DatasetInfo("toy", "test", "none")


def test_encoder_median_impute_standardise_and_one_hot() -> None:
    train = pd.DataFrame({"num": [1.0, 2.0, 3.0, np.nan], "color": ["red", "blue", "red", np.nan]})
    enc = TabularEncoder().fit(train)
    assert enc.feature_names_out_ == ("num", "color_blue", "color_red")
    X = enc.transform(train)
    assert X.dtype == np.float32
    # num: median 2 fills the NaN → [1, 2, 3, 2]; mean 2, population std sqrt(0.5).
    s = math.sqrt(0.5)
    expected = np.array(
        [[-1 / s, 0, 1], [0, 1, 0], [1 / s, 0, 1], [0, 0, 1]],  # NaN colour → "red" (mode)
        dtype=np.float32,
    )
    np.testing.assert_allclose(X, expected, rtol=1e-6)
    # A category never seen at fit time encodes as all zeros; numbers use train stats.
    test = pd.DataFrame({"num": [10.0], "color": ["green"]})
    np.testing.assert_allclose(enc.transform(test), [[8 / s, 0, 0]], rtol=1e-6)


def test_encoder_treats_bool_and_declared_columns_as_categories() -> None:
    frame = pd.DataFrame({"flag": [True, False, True], "code": [7, 8, 7], "x": [0.0, 1.0, 2.0]})
    enc = TabularEncoder(categorical=["code"]).fit(frame)
    assert enc.numeric_ == ("x",)
    assert enc.feature_names_out_ == ("x", "flag_False", "flag_True", "code_7", "code_8")


def test_encoder_refuses_use_before_fit_and_empty_frames() -> None:
    with pytest.raises(DataError, match=r"not fitted"):
        TabularEncoder().transform(pd.DataFrame({"a": [1.0]}))
    with pytest.raises(DataError, match=r"no feature columns"):
        TabularEncoder().fit(pd.DataFrame(index=range(3)))


def test_split_sizes_round_up_val_and_test() -> None:
    train, val, test = split_indices(np.zeros(11), stratify=False)
    assert (len(train), len(val), len(test)) == (5, 3, 3)  # ceil(2.2) = 3
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(11))


def test_split_is_deterministic_stratified_and_disjoint() -> None:
    y = np.array([0] * 60 + [1] * 40)
    a = split_indices(y, seed=3)
    b = split_indices(y, seed=3)
    c = split_indices(y, seed=4)
    for x, z in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, z)
    assert not np.array_equal(a[2], c[2])
    train, val, test = a
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    # 40 % ones everywhere: exactly 24 / 8 / 8.
    assert [int(y[i].sum()) for i in a] == [24, 8, 8]
    assert len(set(train) | set(val) | set(test)) == 100


def test_split_refuses_too_few_rows_and_rare_classes() -> None:
    with pytest.raises(DataError, match=r"Too few rows to split: 4 rows"):
        split_indices(np.array([0, 1, 0, 1]))
    y = np.array([0] * 30 + [1] * 2)
    with pytest.raises(DataError, match=r"class 1 has 2 row"):
        split_indices(y)
    with pytest.raises(ConfigError, match=r"'val_size' \+ 'test_size'"):
        split_indices(np.zeros(50), val_size=0.5, test_size=0.5, stratify=False)
    with pytest.raises(ConfigError, match=r"'test_size' parameter of split_indices must be < 1"):
        split_indices(np.zeros(50), test_size=1.5)


def test_subsample_keeps_class_proportions() -> None:
    y = np.array([0] * 900 + [1] * 100)
    keep = subsample_indices(y, 200, seed=0)
    assert len(keep) == 200 and int(y[keep].sum()) == 20
    assert np.all(np.diff(keep) > 0)
    np.testing.assert_array_equal(subsample_indices(y, 5000), np.arange(1000))
    with pytest.raises(ConfigError, match=r"'max_rows' parameter"):
        subsample_indices(y, 0)


def test_encode_target_orders_classes_and_puts_the_event_last() -> None:
    y, names = encode_target(
        pd.Series(["good", "bad", "good"], name="s"), "classification", positive_label="bad"
    )
    assert names == ("good", "bad") and y.tolist() == [0, 1, 0] and y.dtype == np.int64
    y, names = encode_target(pd.Series([10, 2, 2, 10], name="n"), "classification")
    assert names == ("2", "10") and y.tolist() == [1, 0, 0, 1]  # numeric, not lexical order
    y, names = encode_target(pd.Series([1.0, 0.0], name="f"), "classification")
    assert names == ("0", "1") and y.tolist() == [1, 0]
    y, names = encode_target(pd.Series([1.5, 2.0], name="r"), "regression")
    assert names == () and y.dtype == np.float32


def test_encode_target_errors() -> None:
    with pytest.raises(DataError, match=r"at least 2"):
        encode_target(pd.Series(["a", "a"], name="t"), "classification")
    with pytest.raises(DataError, match=r"Valid classes: \['a', 'b'\]"):
        encode_target(pd.Series(["a", "b"], name="t"), "classification", positive_label="c")
    with pytest.raises(ConfigError, match=r"only meaningful for binary"):
        encode_target(pd.Series(["a", "b", "c"], name="t"), "classification", positive_label="a")


@pytest.mark.parametrize(
    ("problem", "y", "k", "expected"),
    [
        ("regression", np.zeros(3), 0, "rmse"),
        ("classification", np.array([1] + [0] * 9), 2, "roc_auc"),  # 10 % events
        ("classification", np.array([0] + [1] * 9), 2, "roc_auc"),  # 10 % of the other class
        ("classification", np.array([1] * 2 + [0] * 8), 2, "accuracy"),  # 20 %
        ("classification", np.array([0, 1, 2] + [0] * 27), 3, "accuracy"),
    ],
)
def test_default_metric(problem: str, y: np.ndarray, k: int, expected: str) -> None:
    assert default_metric(problem, y, k) == expected  # type: ignore[arg-type]


def test_build_task_keeps_sensitive_raw_and_out_of_features() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=40), "y": ["a", "b"] * 20})
    group = pd.Series(["f", "m", None, "m"] * 10)
    task = build_task(
        frame,
        target="y",
        problem="classification",
        name="t",
        sector="other",
        info=INFO,
        sensitive=group,
        sensitive_name="g",
    )
    assert task.feature_names == ("x",)
    assert task.sensitive_name == "g" and task.metric == "accuracy"
    assert task.train.sensitive is not None
    all_groups = np.concatenate([s.sensitive for s in (task.train, task.val, task.test)])  # type: ignore[misc]
    assert sorted(set(all_groups)) == ["f", "m", "missing"]
    assert task.info.n_rows == 40 and task.info.n_features == 1
