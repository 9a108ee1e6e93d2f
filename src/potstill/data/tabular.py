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

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from potstill.data.split import (
    SplitSpec,
    hold_out,
    split_indices,
    split_summary,
    subsample_indices,
)
from potstill.errors import ConfigError, DataError
from potstill.types import DatasetInfo, Problem, Sector, Split, Task

__all__ = [
    "IMBALANCE_THRESHOLD",
    "MISSING",
    "TabularEncoder",
    "build_task",
    "default_metric",
    "encode_target",
    "named_parts",
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


def label_text(value: Any) -> str:
    """Class name of a raw target value or teacher class: integral floats lose their '.0',
    so a teacher's ``classes_ = [0, 1]`` and a CSV's ``"0"``/``"1.0"`` name the same class."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.integer, np.floating, np.str_)):
        return str(value.item())
    return str(value)


def target_labels(values: pd.Series) -> pd.Series:
    """Each row's target as its class name (see :func:`label_text`)."""
    numeric = pd.api.types.is_numeric_dtype(values.dtype)
    return (values.map(label_text) if numeric else values).astype(str)


def _data_classes(values: pd.Series) -> list[str]:
    """The classes present in ``values``: sorted numerically for a numeric column."""
    uniques = np.asarray(pd.unique(values))
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return [label_text(v) for v in np.sort(uniques)]
    return sorted(str(v) for v in uniques)


def _given_classes(values: pd.Series, classes: Sequence[str], where: str) -> list[str]:
    """The teacher's (or the user's) class order, checked against the labels present."""
    names = [label_text(c) for c in classes]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes or len(names) < 2:
        raise ConfigError(
            f"The class list must name at least 2 distinct classes, in the order of the "
            f"teacher's outputs; got {names}" + (f" (repeated: {dupes})" if dupes else "") + "."
        )
    unknown = sorted(set(target_labels(values)) - set(names))
    if unknown:
        raise DataError(
            f"The target '{values.name}'{where} holds the label {unknown[0]!r}, which is not one "
            f"of the teacher's classes {names}. Check the target column, or give the teacher's "
            "classes in its output order (classes: [...] / --classes)."
        )
    return names


def _put_event_last(names: list[str], positive_label: str, ordered: bool, what: str) -> list[str]:
    if positive_label not in names:
        raise DataError(
            f"The positive_label {positive_label!r} is not a class of {what}. "
            f"Valid classes: {names}."
        )
    if len(names) != 2:
        raise ConfigError(
            f"positive_label is only meaningful for binary targets; {what} has "
            f"{len(names)} classes: {names}."
        )
    if ordered and names[1] != positive_label:
        raise ConfigError(
            f"The teacher's class order is {names}: class 1 (the event potstill scores) is "
            f"{names[1]!r}, but positive_label is {positive_label!r}. Remove positive_label, "
            f"or give classes: [{positive_label!r} last] if the teacher's outputs are in that order."
        )
    return [n for n in names if n != positive_label] + [positive_label]


def encode_target(
    values: pd.Series,
    problem: Problem,
    *,
    positive_label: str | None = None,
    classes: Sequence[str] | None = None,
    where: str = "",
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map a target column (no missing values) to int64 ids + class names, or float32.

    With ``classes`` (the teacher's output order) class ``k`` is ``classes[k]`` and a label
    outside it is refused; without, classes are sorted (numerically when the column is
    numeric). ``positive_label`` puts that class last in a binary problem (class 1 is the
    event of interest); with ``classes`` it must already be last.
    """
    where = f" {where}" if where else ""
    if problem == "regression":
        return values.to_numpy(dtype=np.float32), ()
    names = _data_classes(values) if classes is None else _given_classes(values, classes, where)
    if len(names) < 2:
        raise DataError(
            f"The target '{values.name}'{where} has {len(names)} class ({names}); "
            "classification needs at least 2. Check the target column or use another file."
        )
    if positive_label is not None:
        what = f"target '{values.name}'{where}"
        names = _put_event_last(names, positive_label, classes is not None, what)
    index = {name: i for i, name in enumerate(names)}
    y = target_labels(values).map(index).to_numpy(dtype=np.int64)
    return y, tuple(names)


def _check_raw_features(features: pd.DataFrame, name: str) -> None:
    """Raw features go to the teacher unchanged: they must be numbers (an empty cell is
    passed as NaN: a teacher with its own imputer, or a GBM, takes it)."""
    text = [str(c) for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if text:
        raise DataError(
            f"{name}: with a teacher given as a file the features are passed to it as they are, "
            f"so every feature must be numeric; column(s) {', '.join(repr(c) for c in text)} are not. "
            "Encode them the way your teacher expects, or list them in 'drop'."
        )


def named_parts(y: np.ndarray, named: Mapping[str, np.ndarray], split: SplitSpec, *,
                 seed: int, stratify: bool, class_names: Sequence[str],
                 max_rows: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Rows the user named (a test file, a split column); val is drawn from the train rows
    when none is named, and ``max_rows`` caps the train + val rows (test rows stay whole)."""
    empty = np.zeros(0, dtype=np.int64)
    train, val, test = (np.sort(named.get(k, empty)) for k in ("train", "val", "test"))
    if max_rows is not None and len(train) + len(val) > max_rows:
        pool = np.concatenate([train, val])
        keep = pool[subsample_indices(y[pool], max_rows, seed=seed, stratify=stratify)]
        train, val = np.intersect1d(train, keep), np.intersect1d(val, keep)
    if len(val) == 0:
        train, val = hold_out(train, y, split.val_share, seed=seed, stratify=stratify,
                              class_names=class_names)  # fmt: skip
    return train, val, test


def _features(frame: pd.DataFrame, target: str, parts: Sequence[np.ndarray], *, name: str,
              text_column: str | None, encode: bool,
              categorical: Sequence[str]) -> tuple[list[np.ndarray], tuple[str, ...]]:  # fmt: skip
    """X of each part and the feature names: texts, raw numbers, or encoded columns."""
    if text_column is not None:
        texts = frame[text_column].astype(object)
        X_all = np.asarray(texts.where(texts.notna(), "").astype(str), dtype=object)
        return [X_all[idx] for idx in parts], (text_column,)
    features = frame.drop(columns=[target])
    if not encode:
        _check_raw_features(features, name)
        X_all = features.to_numpy(dtype=np.float32)
        return [X_all[idx] for idx in parts], tuple(str(c) for c in features.columns)
    encoder = TabularEncoder(categorical=categorical).fit(features.iloc[parts[0]])
    return [encoder.transform(features.iloc[idx]) for idx in parts], encoder.feature_names_out_


def _missing_cells(frame: pd.DataFrame, target: str, parts: Sequence[np.ndarray],
                   text_column: str | None) -> list[int]:  # fmt: skip
    """Empty feature cells per part: what the encoder or the student imputes."""
    if text_column is not None:
        return [0 for _ in parts]
    empty = frame.drop(columns=[target]).isna().to_numpy()
    return [int(empty[idx].sum()) for idx in parts]


def _subsample(
    frame: pd.DataFrame, y: np.ndarray, sensitive: pd.Series | None, note: str,
    max_rows: int, *, seed: int, stratify: bool,
) -> tuple[pd.DataFrame, np.ndarray, pd.Series | None, str]:  # fmt: skip
    """``max_rows`` rows drawn before splitting, and the note that says so."""
    rows = subsample_indices(y, max_rows, seed=seed, stratify=stratify)
    how = "stratified" if stratify else "at random"
    note = f"{note} Subsampled to {len(rows)} of {len(frame)} rows ({how}, max_rows)."
    return frame.iloc[rows], y[rows], None if sensitive is None else sensitive.iloc[rows], note


def _sensitive_strings(sensitive: pd.Series) -> np.ndarray:
    """The sensitive values per row as strings, a missing one as :data:`MISSING`."""
    raw = sensitive.astype(object)
    return np.asarray(raw.where(raw.notna(), MISSING).astype(str), dtype=object)


def build_task(
    frame: pd.DataFrame, *, target: str, problem: Problem, name: str, sector: Sector,
    info: DatasetInfo, metric: str | None = None, sensitive: pd.Series | None = None,
    sensitive_name: str | None = None, text_column: str | None = None,
    categorical: Sequence[str] = (), positive_label: str | None = None,
    classes: Sequence[str] | None = None, seed: int = 0, val_size: float = 0.2,
    test_size: float = 0.2, max_rows: int | None = None, encode: bool = True,
    split: SplitSpec | None = None, named: Mapping[str, np.ndarray] | None = None,
) -> Task:  # fmt: skip
    """Split and encode a typed frame whose every non-target column is a feature.

    ``encode=False`` keeps the feature columns as they are (all must be numeric; an empty
    cell stays NaN): the inputs a deployed teacher was trained on, for a teacher given as
    a file. ``classes`` fixes the class order (the teacher's outputs). ``split`` says how
    the rows are split (default: ``val_size``/``test_size`` fractions with ``seed``);
    ``named`` holds the positions of the rows the user named per split ("train", "val",
    "test"), for a test file or a split column.

    ``sensitive`` (raw values aligned with ``frame``) is stored per row as strings and is
    never a feature unless it is also a column of ``frame``. With ``text_column`` the task
    is kind "text" and X holds that column's strings (other columns are ignored).
    """
    y_all, class_names = encode_target(
        frame[target], problem, positive_label=positive_label, classes=classes
    )
    split = split or SplitSpec(test_fraction=test_size, val_fraction=val_size)
    seed = seed if split.seed is None else split.seed
    stratify = problem == "classification" if split.stratify is None else split.stratify
    note = info.note
    if named is not None:
        parts = named_parts(y_all, named, split, seed=seed, stratify=stratify,
                             class_names=class_names, max_rows=max_rows)  # fmt: skip
    else:
        if max_rows is not None and max_rows < len(frame):
            frame, y_all, sensitive, note = _subsample(
                frame, y_all, sensitive, note, max_rows, seed=seed, stratify=stratify
            )
        parts = split_indices(y_all, seed=seed, val_size=split.val_share,
                              test_size=split.test_share, stratify=stratify,
                              class_names=class_names)  # fmt: skip
    sens = None if sensitive is None else _sensitive_strings(sensitive)
    splits, feature_names = _features(frame, target, parts, name=name, text_column=text_column,
                                      encode=encode, categorical=categorical)  # fmt: skip
    train, val, test = (
        Split(X=x, y=y_all[idx], sensitive=None if sens is None else sens[idx])
        for x, idx in zip(splits, parts, strict=True)
    )
    summary = split_summary(split, parts, _missing_cells(frame, target, parts, text_column),
                            seed=seed, stratify=stratify,
                            source=str(split.test) if split.test else "")  # fmt: skip
    n_classes = len(class_names)
    return Task(
        name=name, sector=sector, kind="text" if text_column is not None else "tabular",
        problem=problem, train=train, val=val, test=test,
        metric=metric or default_metric(problem, y_all, n_classes), n_classes=n_classes,
        feature_names=feature_names, class_names=class_names,
        sensitive_name=sensitive_name if sensitive is not None else None,
        info=replace(info, note=note.strip(), n_rows=sum(len(p) for p in parts),
                     n_features=len(feature_names), split=summary),
    )  # fmt: skip
