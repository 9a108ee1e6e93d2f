"""Turn a clean table into a :class:`~potstill.types.Task`: target, splits, encoder.

Every tabular system, built-in or user file, goes through :func:`build_task`, so they all
get the same guarantees: seeded splits (stratified for classification), an encoder fitted
on the TRAIN split only (so nothing about validation or test rows leaks into the
features), float32 inputs, int64 class ids 0..K-1 with their names, and the raw
sensitive attribute kept beside each row for the fairness checks.

Reading and checking files is :mod:`potstill.data.table`'s job; this module assumes the
frame it gets is already typed (numeric columns numeric, categories as objects).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from potstill._validation import check_scalar
from potstill.errors import ConfigError, DataError
from potstill.types import DatasetInfo, Kind, Problem, Sector, Split, Task

__all__ = [
    "IMBALANCE_THRESHOLD",
    "MISSING",
    "TabularEncoder",
    "build_task",
    "default_metric",
    "encode_target",
    "split_indices",
    "subsample_indices",
]

#: A binary problem whose rarer class is below this share is scored by ROC AUC, not accuracy.
IMBALANCE_THRESHOLD = 0.15
#: How a missing sensitive-attribute value is written in ``Split.sensitive``.
MISSING = "missing"


class TabularEncoder:
    """Numeric → median impute + standardise; anything else → most-frequent + one-hot.

    A thin wrapper over scikit-learn's ``ColumnTransformer`` that decides the column
    types from the frame it is fitted on (numeric dtypes except bool are numeric) and
    returns float32. Categories unseen at fit time encode as all zeros.
    """

    def __init__(self, categorical: Sequence[str] = ()) -> None:
        self.categorical = tuple(categorical)

    def fit(self, frame: pd.DataFrame) -> TabularEncoder:
        """Learn imputation values, scales and categories from ``frame`` (the train split)."""
        if frame.shape[1] == 0:
            raise DataError("TabularEncoder got no feature columns. Keep at least one column.")
        numeric: list[str] = []
        categorical: list[str] = []
        for col in frame.columns:
            dtype = frame[col].dtype
            is_num = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
            (numeric if is_num and col not in self.categorical else categorical).append(str(col))
        self.numeric_ = tuple(numeric)
        self.categorical_ = tuple(categorical)
        numeric_pipe = Pipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        categorical_pipe = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
                ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        self.transformer_ = ColumnTransformer(
            [("num", numeric_pipe, list(numeric)), ("cat", categorical_pipe, list(categorical))],
            verbose_feature_names_out=False,
        )
        self.transformer_.fit(self._prepare(frame))
        self.feature_names_out_ = tuple(str(n) for n in self.transformer_.get_feature_names_out())
        return self

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Encode ``frame`` with what was learnt at fit time: float32 (n, n_features)."""
        if not hasattr(self, "transformer_"):
            raise DataError(
                "This TabularEncoder is not fitted yet. Call 'fit' with the train split."
            )
        missing = [c for c in (*self.numeric_, *self.categorical_) if c not in frame.columns]
        if missing:
            raise DataError(f"TabularEncoder.transform: columns {missing} seen at fit are absent.")
        out = self.transformer_.transform(self._prepare(frame))
        return np.ascontiguousarray(out, dtype=np.float32)

    def fit_transform(self, frame: pd.DataFrame) -> np.ndarray:
        return self.fit(frame).transform(frame)

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Numeric columns as float64 (NaN for missing); categories as str objects (NaN)."""
        cols: dict[str, Any] = {}
        for col in self.numeric_:
            cols[col] = pd.to_numeric(frame[col], errors="raise").astype("float64")
        for col in self.categorical_:
            values = frame[col].astype(object)
            cols[col] = values.astype(str).where(values.notna(), np.nan)
        return pd.DataFrame(cols, index=frame.index)


def default_metric(problem: Problem, y: np.ndarray, n_classes: int) -> str:
    """``rmse`` for regression; ``roc_auc`` for binary problems whose rarer class is under
    :data:`IMBALANCE_THRESHOLD`; ``accuracy`` otherwise."""
    if problem == "regression":
        return "rmse"
    if n_classes == 2 and len(y) > 0:
        share = float(np.mean(y == 1))
        if min(share, 1.0 - share) < IMBALANCE_THRESHOLD:
            return "roc_auc"
    return "accuracy"


def _label(value: Any) -> str:
    """Class name of a raw target value: integral floats lose their '.0'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_target(
    values: pd.Series, problem: Problem, *, positive_label: str | None = None, where: str = ""
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map a target column (no missing values) to int64 ids + class names, or float32.

    Classes are sorted (numerically when the column is numeric); with ``positive_label``
    a binary problem puts that class last, so class 1 is the event of interest.
    """
    where = f" {where}" if where else ""
    if problem == "regression":
        return values.to_numpy(dtype=np.float32), ()
    uniques = np.asarray(pd.unique(values))
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        uniques = np.sort(uniques)
        names = [_label(v) for v in uniques]
    else:
        names = sorted(str(v) for v in uniques)
    if len(names) < 2:
        raise DataError(
            f"The target '{values.name}'{where} has {len(names)} class ({names}); "
            "classification needs at least 2. Check the target column or use another file."
        )
    if positive_label is not None:
        if positive_label not in names:
            raise DataError(
                f"The positive_label {positive_label!r} is not a class of target "
                f"'{values.name}'{where}. Valid classes: {names}."
            )
        if len(names) != 2:
            raise ConfigError(
                f"positive_label is only meaningful for binary targets; target "
                f"'{values.name}'{where} has {len(names)} classes: {names}."
            )
        names = [n for n in names if n != positive_label] + [positive_label]
    index = {name: i for i, name in enumerate(names)}
    as_names = values.map(_label) if pd.api.types.is_numeric_dtype(values.dtype) else values
    y = as_names.astype(str).map(index).to_numpy(dtype=np.int64)
    return y, tuple(names)


def _split_sizes(n: int, val_size: float, test_size: float) -> tuple[int, int, int]:
    n_test, n_val = math.ceil(test_size * n), math.ceil(val_size * n)
    return n - n_val - n_test, n_val, n_test


def split_indices(
    y: np.ndarray,
    *,
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    stratify: bool = True,
    class_names: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test row indices (each sorted); stratified by ``y`` if asked.

    Sizes round up for val and test (``ceil(size * n)``); train gets the rest.
    ``class_names[k]`` names class id ``k`` in error messages.
    """
    check_scalar(seed, "seed", owner="split_indices", ge=0, integer=True)
    check_scalar(val_size, "val_size", owner="split_indices", gt=0, lt=1)
    check_scalar(test_size, "test_size", owner="split_indices", gt=0, lt=1)
    if val_size + test_size >= 1:
        raise ConfigError(
            "The 'val_size' + 'test_size' parameters of split_indices must be < 1 so that "
            f"rows remain for training. Got {val_size} + {test_size} instead."
        )
    n = len(y)
    n_train, n_val, n_test = _split_sizes(n, val_size, test_size)
    classes, counts = np.unique(y, return_counts=True) if stratify else (np.array([0]), [n])
    need = len(classes)
    if min(n_train, n_val, n_test) < max(need, 1):
        raise DataError(
            f"Too few rows to split: {n} rows give train/val/test = {n_train}/{n_val}/{n_test}, "
            f"and each split needs at least {max(need, 1)} row(s)"
            + (f" (one per class, {need} classes)" if stratify else "")
            + ". Provide more rows or change val_size/test_size."
        )
    if stratify and min(counts) < 3:
        rare = classes[int(np.argmin(counts))].item()
        label = class_names[rare] if rare in range(len(class_names)) else rare
        raise DataError(
            f"Too few rows to split: class {label!r} has {min(counts)} row(s); a stratified "
            "train/val/test split needs at least 3 rows of each class. Add rows of that "
            "class or merge it with another."
        )
    rows = np.arange(n)
    try:
        rest, test = train_test_split(
            rows, test_size=n_test, random_state=seed, stratify=y if stratify else None
        )
        train, val = train_test_split(
            rest, test_size=n_val, random_state=seed, stratify=y[rest] if stratify else None
        )
    except ValueError as exc:
        raise DataError(f"Too few rows to split {n} rows stratified by class: {exc}") from exc
    return np.sort(train), np.sort(val), np.sort(test)


def subsample_indices(
    y: np.ndarray, max_rows: int, *, seed: int = 0, stratify: bool = True
) -> np.ndarray:
    """At most ``max_rows`` sorted row indices, drawn with the class proportions of ``y``."""
    check_scalar(max_rows, "max_rows", owner="subsample_indices", gt=0, integer=True)
    rows = np.arange(len(y))
    if max_rows >= len(y):
        return rows
    try:
        keep, _ = train_test_split(
            rows, train_size=int(max_rows), random_state=seed, stratify=y if stratify else None
        )
    except ValueError as exc:
        raise DataError(
            f"Cannot draw a stratified subsample of {max_rows} rows from {len(y)}: {exc} "
            "Raise max_rows."
        ) from exc
    return np.sort(keep)


def _check_raw_features(features: pd.DataFrame, name: str) -> None:
    """Raw features go to the teacher unchanged: they must be numbers, with none missing."""
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise DataError(
            f"{name}: with a teacher given as a file the features are passed to it as they are, "
            f"so every feature must be numeric; column(s) {', '.join(repr(c) for c in text)} are not. "
            "Encode them the way your teacher expects, or list them in 'drop'."
        )
    missing = [str(c) for c in features.columns if features[c].isna().any()]
    if missing:
        raise DataError(
            f"{name}: with a teacher given as a file the features are passed to it as they are, "
            f"so none may be missing; column(s) {', '.join(repr(c) for c in missing)} have empty cells. "
            "Impute them the way your teacher expects, or list them in 'drop'."
        )


def build_task(
    frame: pd.DataFrame,
    *,
    target: str,
    problem: Problem,
    name: str,
    sector: Sector,
    info: DatasetInfo,
    metric: str | None = None,
    sensitive: pd.Series | None = None,
    sensitive_name: str | None = None,
    text_column: str | None = None,
    categorical: Sequence[str] = (),
    positive_label: str | None = None,
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    max_rows: int | None = None,
    encode: bool = True,
) -> Task:
    """Split and encode a typed frame whose every non-target column is a feature.

    ``encode=False`` keeps the feature columns as they are (all must be numeric and
    complete): the inputs a deployed teacher was trained on, for a teacher given as a file.

    ``sensitive`` (raw values aligned with ``frame``) is stored per row as strings and is
    never a feature unless it is also a column of ``frame``. With ``text_column`` the task
    is kind "text" and X holds that column's strings (other columns are ignored).
    """
    y_all, class_names = encode_target(frame[target], problem, positive_label=positive_label)
    stratify = problem == "classification"
    rows = np.arange(len(frame))
    note = info.note
    if max_rows is not None and max_rows < len(frame):
        rows = subsample_indices(y_all, max_rows, seed=seed, stratify=stratify)
        how = "stratified" if stratify else "at random"
        note = f"{note} Subsampled to {len(rows)} of {len(frame)} rows ({how}, max_rows).".strip()
    frame, y_all = frame.iloc[rows], y_all[rows]
    sens: np.ndarray | None = None
    if sensitive is not None:
        raw = sensitive.iloc[rows].astype(object)
        sens = np.asarray(raw.where(raw.notna(), MISSING).astype(str), dtype=object)
    parts = split_indices(
        y_all,
        seed=seed,
        val_size=val_size,
        test_size=test_size,
        stratify=stratify,
        class_names=class_names,
    )
    kind: Kind = "tabular"
    if text_column is not None:
        kind = "text"
        texts = frame[text_column].astype(object)
        X_all = np.asarray(texts.where(texts.notna(), "").astype(str), dtype=object)
        splits = [X_all[idx] for idx in parts]
        feature_names: tuple[str, ...] = (text_column,)
    elif not encode:
        features = frame.drop(columns=[target])
        _check_raw_features(features, name)
        X_all = features.to_numpy(dtype=np.float32)
        splits = [X_all[idx] for idx in parts]
        feature_names = tuple(str(c) for c in features.columns)
    else:
        features = frame.drop(columns=[target])
        encoder = TabularEncoder(categorical=categorical).fit(features.iloc[parts[0]])
        splits = [encoder.transform(features.iloc[idx]) for idx in parts]
        feature_names = encoder.feature_names_out_
    train, val, test = (
        Split(X=x, y=y_all[idx], sensitive=None if sens is None else sens[idx])
        for x, idx in zip(splits, parts, strict=True)
    )
    n_classes = len(class_names)
    return Task(
        name=name,
        sector=sector,
        kind=kind,
        problem=problem,
        train=train,
        val=val,
        test=test,
        metric=metric or default_metric(problem, y_all, n_classes),
        n_classes=n_classes,
        feature_names=feature_names,
        class_names=class_names,
        sensitive_name=sensitive_name if sensitive is not None else None,
        info=DatasetInfo(
            name=info.name,
            source=info.source,
            licence=info.licence,
            citation=info.citation,
            note=note,
            n_rows=len(frame),
            n_features=len(feature_names),
        ),
    )
