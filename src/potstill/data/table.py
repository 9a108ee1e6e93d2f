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
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd

from potstill._validation import check_choice, check_scalar
from potstill.data.screen import (
    Screening,
    check_header,
    check_range,
    check_sensitive,
    screen_features,
)
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

#: File suffixes load_table reads, and the reader for each.
SUPPORTED_SUFFIXES = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
#: Fewer rows than this (with a target) cannot make train/validation/test splits.
MIN_ROWS = 10
#: A numeric target with at most this many distinct integer values is a classification one.
MAX_CLASSES_INFERRED = 20

Where = Callable[[int], str]


def read_table(path: Path) -> tuple[pd.DataFrame, Where]:
    """Read ``path`` (CSV as text, Parquet as typed) and say where each row came from.

    Returns the frame (blank CSV lines removed, index = position in the file) and a
    function giving a row's location, e.g. ``"line 7 of data.csv"``.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"The data file {path} does not exist. Check the path.")
    if not path.is_file():
        raise DataError(
            f"The data path {path} is not a file. Give the path of a CSV or Parquet file."
        )
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        valid = ", ".join(f"{s} ({k})" for s, k in SUPPORTED_SUFFIXES.items())
        raise DataError(
            f"The data file {path} has an unsupported extension {path.suffix!r}. "
            f"Supported: {valid}. Convert the file to CSV or Parquet."
        )
    kind = SUPPORTED_SUFFIXES[suffix]
    check_header(path)
    try:
        if kind == "CSV":
            frame = pd.read_csv(path, dtype=str, skip_blank_lines=False)
            frame = frame.dropna(how="all")
        else:
            frame = pd.read_parquet(path).reset_index(drop=True)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"The data file {path} is empty. Expected a header and rows.") from exc
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(
            f"The data file {path} cannot be read as {kind}: {exc}. "
            f"Check that it is a valid {kind} file."
        ) from exc
    if len(frame) == 0:
        raise DataError(f"The data file {path} has columns {list(frame.columns)} but no data rows.")
    frame.columns = [str(c) for c in frame.columns]
    if kind == "CSV":
        _check_separator(path, list(frame.columns))
        return frame, lambda i: f"line {i + 2} of {path}"
    return frame, lambda i: f"row {i + 1} of {path}"


def _check_separator(path: Path, columns: list[str]) -> None:
    """A file read as one column whose name holds ';', tab or '|' uses another separator."""
    if len(columns) != 1:
        return
    for sep, name in ((";", "';'"), ("\t", "tabs"), ("|", "'|'")):
        if sep in columns[0]:
            raise DataError(
                f"{path} reads as a single column {columns[0]!r}: it separates its columns with "
                f"{name}, and potstill reads comma-separated CSV. Save it with commas (e.g. "
                f"pandas.read_csv(path, sep={sep!r}).to_csv(new_path, index=False)) or as Parquet."
            )


def _present(column: pd.Series) -> pd.Series:
    """True where a cell holds a value (blank strings count as missing)."""
    if pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
        text = column.astype(object).where(column.isna(), column.astype(str).str.strip())
        return text.notna() & (text != "")
    return column.notna()


def _as_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The column as float64 (NaN where missing or bad) and the mask of present bad cells."""
    present = _present(column)
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("float64"), pd.Series(False, index=column.index)
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.astype("float64")
    else:
        text = column.astype(object).where(present, None).astype(str).str.strip()
        values = pd.to_numeric(text.where(present, ""), errors="coerce").astype("float64")
    bad = present & ~np.isfinite(values)
    return values.where(present, np.nan), bad


def _bad_cell(column: pd.Series, bad: pd.Series, where: Where) -> tuple[str, object]:
    first = bad[bad].index[0]
    return where(int(first)), column.loc[first]


def _refuse_mostly_numeric(column: pd.Series, bad: pd.Series, where: Where, fix: str) -> None:
    """Raise if most present cells are numbers but some (``bad``) are not."""
    present = _present(column)
    if bad.any() and (present & ~bad).sum() > present.sum() / 2:
        at, value = _bad_cell(column, bad, where)
        raise DataError(
            f"Column '{column.name}' looks numeric but has a non-numeric value at {at}: "
            f"{value!r}. Expected a finite number. Fix the cell, leave it empty (missing), "
            f"or {fix}."
        )


def _type_feature(column: pd.Series, where: Where, categorical: bool) -> pd.Series:
    """Numeric if every present cell is a finite number; refuse mostly-numeric columns."""
    if categorical or pd.api.types.is_bool_dtype(column.dtype):
        return column.astype(object)
    values, bad = _as_numbers(column)
    if not bad.any():
        check_range(values, column, where)
        return values
    _refuse_mostly_numeric(column, bad, where, "pass the column in 'categorical' if it is one")
    return column.astype(object)


def _type_target(
    column: pd.Series, problem: Problem | None, where: Where
) -> tuple[pd.Series, Problem]:
    """The target typed for its problem, inferring the problem when it is not given."""
    if pd.api.types.is_bool_dtype(column.dtype) and problem != "regression":
        return column.astype(str), "classification"
    values, bad = _as_numbers(column)
    if problem == "regression":
        if bad.any():
            at, value = _bad_cell(column, bad, where)
            raise DataError(
                f"The target column '{column.name}' of a regression task must hold finite "
                f"numbers, but {at} has {value!r}. Fix the cell, or use "
                "problem='classification'."
            )
        check_range(values, column, where)
        return values, "regression"
    if bad.any():
        if problem is None:
            _refuse_mostly_numeric(column, bad, where, "pass problem='classification'")
        return column.astype(object).map(lambda v: str(v).strip()), "classification"
    if problem == "classification":
        _refuse_continuous(values)
    if problem is None:
        integral = bool(np.all(np.mod(values, 1) == 0))
        small = values.nunique() <= MAX_CLASSES_INFERRED
        problem = "classification" if integral and small else "regression"
    check_range(values, column, where)
    return values, problem


def _refuse_continuous(values: pd.Series) -> None:
    """A target forced to classification whose values are mostly distinct fractions."""
    n, distinct = int(values.notna().sum()), int(values.nunique())
    fractional = bool(np.any(np.mod(values.dropna(), 1) != 0))
    if fractional and distinct > MAX_CLASSES_INFERRED and distinct > n / 2:
        raise DataError(
            f"The target '{values.name}' was set to classification (problem: classification), "
            f"but it holds {distinct} distinct non-integer values in {n} rows: it is "
            "continuous, and each value would be a class of its own. Use problem: regression, "
            "or bin the target into classes first."
        )


def problem_reason(y: pd.Series, problem: Problem, target: str) -> str:
    """Why :func:`load_table` inferred ``problem`` for ``target`` (said and recorded)."""
    n = int(y.nunique())
    if problem == "regression":
        kind = "integer" if bool(np.all(np.mod(y, 1) == 0)) else "non-integer"
        return (f"Problem inferred: regression, because the target '{target}' holds {n} distinct "
                f"{kind} values (classification is inferred for at most {MAX_CLASSES_INFERRED} "
                "distinct integers); set problem: classification to override.")  # fmt: skip
    kind = "numeric" if pd.api.types.is_numeric_dtype(y.dtype) else "non-numeric"
    return (f"Problem inferred: classification, because the target '{target}' holds {n} "
            f"distinct {kind} values; set problem: regression to override.")  # fmt: skip


def _check_columns(path: Path, columns: Sequence[str], role: str, names: Sequence[str]) -> None:
    absent = [n for n in names if n not in columns]
    if absent:
        listed = ", ".join(repr(n) for n in absent)
        verb = "is not a column" if len(absent) == 1 else "are not columns"
        raise DataError(
            f"The {role} {listed} {verb} of {path}. Available columns: {list(columns)}."
        )


def infer_problem(
    path: Path, target: str, problem: Literal["classification", "regression"] | None = None
) -> Problem:
    """The problem :func:`load_table` will infer for ``target`` of ``path`` (or check
    ``problem`` against it): what a teacher file must be opened as, before the task is
    built in the teacher's class order."""
    path = Path(path)
    frame, where = read_table(path)
    _check_columns(path, list(frame.columns), "target column", [target])
    frame, _ = _rows_with_target(frame, target, path)
    return _type_target(frame[target], problem, where)[1]


def _with_test_file(
    frame: pd.DataFrame, where: Where, test_path: Path, needed: Sequence[str]
) -> tuple[pd.DataFrame, Where, dict[str, np.ndarray]]:
    """The main file's rows then the test file's, re-indexed by position; a row's location
    still names its own file and line."""
    test, where_test = read_table(test_path)
    _check_columns(test_path, list(test.columns), "column(s) of the main file", list(needed))
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
    return {c: _type_feature(frame[c], where, c in categorical) for c in keep}


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
    frame, where = read_table(path)
    columns = list(frame.columns)
    split_col = [split.column] if split.column else []
    _check_roles(path, columns, target, sensitive, text_column, drop, categorical, split_col)
    named: dict[str, np.ndarray] | None = None
    if split.test is not None:
        needed = [c for c in columns if c not in drop]
        frame, where, named = _with_test_file(frame, where, split.test, needed)
    frame, n_missing = _rows_with_target(frame, target, path)
    if len(frame) < MIN_ROWS:
        raise DataError(
            f"{path} has {len(frame)} row(s) with a target; a study needs at least {MIN_ROWS} "
            "(train, validation and test rows for every class). Give more rows."
        )
    y, problem_ = _type_target(frame[target], problem, where)
    screening = Screening()
    if problem is None:  # an integer target read as a regression is the surprising case
        surprising = problem_ == "regression" and bool(np.all(np.mod(y, 1) == 0))
        screening.say(
            problem_reason(y, problem_, target), logging.WARNING if surprising else logging.INFO
        )
    if classes is not None and problem_ == "classification":
        _check_labels(target_labels(y), classes, target, where)
    if named is not None:  # positions after the rows without a target were dropped
        named = {k: np.flatnonzero(np.isin(frame.index, v)) for k, v in named.items()}
    elif split.column:
        named = column_parts(frame[split.column], where)
    if text_column is not None:
        used = {text_column: frame[text_column], target: y}
    else:
        not_features = [
            *split_col,
            *([sensitive] if sensitive and not sensitive_is_feature else []),
        ]
        used = _typed_features(frame, where, path, target, drop, not_features, categorical)
        used = screen_features(
            used, y, target=target, path=path, screening=screening, raw=not encode
        )
        used[target] = y
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
    _check_columns(path, columns, "target column", [target])
    for role, names in (
        ("sensitive column", [sensitive] if sensitive else []),
        ("text column", [text_column] if text_column else []),
        ("drop columns", list(drop)),
        ("categorical columns", list(categorical)),
        ("split column", list(split_column)),
    ):
        _check_columns(path, columns, role, names)
    if target in drop or target == text_column or target in split_column:
        raise DataError(
            f"The target column '{target}' of {path} cannot also be dropped, be the text "
            "column or the split column. Choose another target or remove it from "
            "'drop'/'text_column'/'split.column'."
        )


def _rows_with_target(frame: pd.DataFrame, target: str, path: Path) -> tuple[pd.DataFrame, int]:
    """The rows whose target is present; refused when more than half lack it."""
    has_target = _present(frame[target])
    n_missing = int((~has_target).sum())
    if n_missing > len(frame) / 2:
        raise DataError(
            f"The target column '{target}' of {path} is missing in {n_missing} of "
            f"{len(frame)} rows (more than half). Fill the target or choose another column."
        )
    return frame[has_target], n_missing
