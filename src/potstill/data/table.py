"""Load a user's CSV or Parquet file as a :class:`~potstill.types.Task`.

A user's own table is where most bad input comes from, so every refusal here names the
file, the column and — for a bad cell — the line of the file and the value found, and
says what to do. Columns are typed here, not guessed later: a CSV is read as text and
each column becomes numeric only if every present cell is a finite number. A column
whose cells are *mostly* numbers but not all is refused (a typo in a number column would
otherwise silently turn it into a category); pass it in ``categorical`` if it is one.

CSV line numbers count the header as line 1 and assume no quoted field spans lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from potstill._validation import check_choice, check_scalar
from potstill.data.columns import (
    MAX_CLASSES_INFERRED,
    SUPPORTED_SUFFIXES,
    Where,
    check_columns,
    problem_reason,
    read_table,
    rows_with_target,
    type_feature,
    type_target,
)
from potstill.data.screen import Screening, check_sensitive, screen_features
from potstill.data.split import SplitSpec, column_parts
from potstill.data.tabular import build_task, label_text, target_labels
from potstill.errors import DataError
from potstill.types import DatasetInfo, Problem, Sector, Task

__all__ = [
    "MAX_CLASSES_INFERRED",
    "SUPPORTED_SUFFIXES",
    "infer_problem",
    "load_table",
    "read_table",
]

#: Fewer rows than this (with a target) cannot make train/validation/test splits.
MIN_ROWS = 10


def infer_problem(
    path: Path, target: str, problem: Literal["classification", "regression"] | None = None
) -> Problem:
    """The problem :func:`load_table` will infer for ``target`` of ``path`` (or check
    ``problem`` against it): what a teacher file must be opened as, before the task is
    built in the teacher's class order."""
    path = Path(path)
    frame, where = read_table(path)
    check_columns(path, list(frame.columns), "target column", [target])
    frame, _ = rows_with_target(frame, target, path)
    return type_target(frame[target], problem, where)[1]


def _with_test_file(
    frame: pd.DataFrame, where: Where, test_path: Path, needed: Sequence[str]
) -> tuple[pd.DataFrame, Where, dict[str, np.ndarray]]:
    """The main file's rows then the test file's, re-indexed by position; a row's location
    still names its own file and line."""
    test, where_test = read_table(test_path)
    check_columns(test_path, list(test.columns), "column(s) of the main file", list(needed))
    n_main = len(frame)
    index_main, index_test = frame.index.to_numpy(), test.index.to_numpy()
    both = pd.concat([frame[list(needed)], test[list(needed)]], ignore_index=True)

    def locate(i: int) -> str:
        return where(int(index_main[i])) if i < n_main else where_test(int(index_test[i - n_main]))

    named = {"train": np.arange(n_main), "test": np.arange(n_main, len(both))}
    return both, locate, named


def _check_labels(labels: pd.Series, classes: Sequence[str], target: str, where: Where) -> None:
    """Refuse the first row whose label is not one of the teacher's classes."""
    known = {label_text(c) for c in classes}
    unknown = ~labels.isin(known)
    if unknown.any():
        first = unknown[unknown].index[0]
        raise DataError(
            f"The target '{target}' at {where(int(first))} holds the label {labels.loc[first]!r}, "
            f"which is not one of the teacher's classes {[label_text(c) for c in classes]}. "
            "Check the target column and the teacher; if the teacher's outputs have other "
            "names, give them in output order (classes: [...] / --classes)."
        )


def _check_arguments(problem: str | None, sector: str, seed: int, max_rows: int | None) -> None:
    check_choice(
        problem, "problem", owner="load_table", choices=(None, "classification", "regression")
    )
    check_choice(sector, "sector", owner="load_table", choices=get_args(Sector))
    check_scalar(seed, "seed", owner="load_table", ge=0, integer=True)
    if max_rows is not None:
        check_scalar(max_rows, "max_rows", owner="load_table", gt=0, integer=True)


def _typed_features(
    frame: pd.DataFrame, where: Where, path: Path, target: str, drop: Sequence[str],
    not_features: Sequence[str], categorical: Sequence[str],
) -> dict[str, pd.Series]:  # fmt: skip
    """Every column but the target, 'drop' and ``not_features`` (sensitive, split), typed."""
    skip = {target, *drop, *not_features}
    keep = [c for c in frame.columns if c not in skip]
    if not keep:
        raise DataError(
            f"No feature column is left in {path} after removing the target, the "
            f"sensitive/split columns and 'drop' {list(drop)}. Keep at least one column."
        )
    return {c: type_feature(frame[c], where, c in categorical) for c in keep}


def load_table(
    path: Path, target: str, *,
    problem: Literal["classification", "regression"] | None = None, name: str | None = None,
    sector: Sector = "other", sensitive: str | None = None, sensitive_is_feature: bool = False,
    text_column: str | None = None, drop: Sequence[str] = (), positive_label: str | None = None,
    classes: Sequence[str] | None = None, categorical: Sequence[str] = (), seed: int = 0,
    val_size: float = 0.2, test_size: float = 0.2, split: SplitSpec | None = None,
    max_rows: int | None = None, encode: bool = True,
) -> Task:  # fmt: skip
    """Load a CSV or Parquet file as a task with train/val/test splits.

    ``problem`` is inferred when omitted: a non-numeric target, or one with at most
    :data:`MAX_CLASSES_INFERRED` distinct integer values, is classification. Rows with
    a missing target are dropped (refused if more than half). ``sensitive`` is kept raw
    per row and is not a feature unless ``sensitive_is_feature``. With ``text_column`` the
    task is kind "text" and every other column but the target is ignored. ``categorical``
    names numeric-looking columns to one-hot encode; ``max_rows`` subsamples (stratified)
    before splitting. ``classes`` is the teacher's class order (a label outside it is
    refused with its row). ``split`` names the test rows (a second file, a column) or the
    fractions potstill draws (default ``val_size``/``test_size`` with ``seed``).
    ``encode=False`` passes numeric features through unscaled — the inputs a deployed
    teacher file expects — with empty cells as NaN.
    """
    _check_arguments(problem, sector, seed, max_rows)
    path = Path(path)
    split = split or SplitSpec(test_fraction=test_size, val_fraction=val_size)
    roles = _Roles(target, sensitive, text_column, tuple(drop), tuple(categorical), split.column)
    frame, where, named, n_missing = _rows(path, roles, split)
    y, problem_ = type_target(frame[target], problem, where)
    screening = Screening()
    if problem is None:  # an integer target read as a regression is the surprising case
        surprising = problem_ == "regression" and bool(np.all(np.mod(y, 1) == 0))
        screening.say(
            problem_reason(y, problem_, target), logging.WARNING if surprising else logging.INFO
        )
    if classes is not None and problem_ == "classification":
        _check_labels(target_labels(y), classes, target, where)
    if text_column is not None:
        used = {text_column: frame[text_column], target: y}
    else:
        used = _features(frame, where, path, roles, sensitive_is_feature, y, screening, encode)
    if sensitive:
        check_sensitive(frame[sensitive], y, sensitive, target)
    table = pd.DataFrame(used, index=frame.index).reset_index(drop=True)
    notes = [f"Dropped {n_missing} row(s) with a missing target."] if n_missing else []
    note = " ".join([*notes, *screening.notes])
    title = name or path.stem
    return build_task(
        table, target=target, problem=problem_, name=title, sector=sector,
        info=DatasetInfo(name=title, source=str(path), licence="unknown (user file)", note=note),
        sensitive=frame[sensitive].reset_index(drop=True) if sensitive else None,
        sensitive_name=sensitive, text_column=text_column, positive_label=positive_label,
        classes=classes if problem_ == "classification" else None, seed=seed, split=split,
        named=named, max_rows=max_rows, encode=encode,
    )  # fmt: skip


@dataclass(frozen=True)
class _Roles:
    """The columns a table's arguments name, by role."""

    target: str
    sensitive: str | None
    text_column: str | None
    drop: tuple[str, ...]
    categorical: tuple[str, ...]
    split_column: str | None


def _rows(
    path: Path, roles: _Roles, split: SplitSpec
) -> tuple[pd.DataFrame, Where, dict[str, np.ndarray] | None, int]:
    """The rows with a target (main file, then a test file's), where each came from, the
    rows a split names (positions) and how many rows lacked a target."""
    frame, where = read_table(path)
    columns = list(frame.columns)
    split_col = [roles.split_column] if roles.split_column else []
    _check_roles(path, columns, roles.target, roles.sensitive, roles.text_column, roles.drop,
                 roles.categorical, split_col)  # fmt: skip
    named: dict[str, np.ndarray] | None = None
    if split.test is not None:
        needed = [c for c in columns if c not in roles.drop]
        frame, where, named = _with_test_file(frame, where, split.test, needed)
    frame, n_missing = rows_with_target(frame, roles.target, path)
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"{path} has {len(frame)} row(s) with a target; a study needs at least {MIN_ROWS} "
            "(train, validation and test rows for every class). Give more rows."
        )
    if named is not None:  # positions after the rows without a target were dropped
        named = {k: np.flatnonzero(np.isin(frame.index, v)) for k, v in named.items()}
    elif roles.split_column:
        named = column_parts(frame[roles.split_column], where)
    return frame, where, named, n_missing


def _features(
    frame: pd.DataFrame, where: Where, path: Path, roles: _Roles, sensitive_is_feature: bool,
    y: pd.Series, screening: Screening, encode: bool,
) -> dict[str, pd.Series]:  # fmt: skip
    """The typed, screened feature columns and the target."""
    not_features = [
        *([roles.split_column] if roles.split_column else []),
        *([roles.sensitive] if roles.sensitive and not sensitive_is_feature else []),
    ]
    used = _typed_features(frame, where, path, roles.target, roles.drop, not_features,
                           roles.categorical)  # fmt: skip
    used = screen_features(
        used, y, target=roles.target, path=path, screening=screening, raw=not encode
    )
    used[roles.target] = y
    return used


def _check_roles(
    path: Path,
    columns: Sequence[str],
    target: str,
    sensitive: str | None,
    text_column: str | None,
    drop: Sequence[str],
    categorical: Sequence[str],
    split_column: Sequence[str],
) -> None:
    """Every column a role names exists, and the target plays no other role."""
    check_columns(path, columns, "target column", [target])
    for role, names in (
        ("sensitive column", [sensitive] if sensitive else []),
        ("text column", [text_column] if text_column else []),
        ("drop columns", list(drop)),
        ("categorical columns", list(categorical)),
        ("split column", list(split_column)),
    ):
        check_columns(path, columns, role, names)
    if target in drop or target == text_column or target in split_column:
        raise DataError(
            f"The target column '{target}' of {path} cannot also be dropped, be the text "
            "column or the split column. Choose another target or remove it from "
            "'drop'/'text_column'/'split.column'."
        )
