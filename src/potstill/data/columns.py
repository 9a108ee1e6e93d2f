"""Read a user's CSV or Parquet file and type its columns, one at a time.

A CSV is read as text and each column becomes numeric only if every present cell is a
finite number; a column whose cells are *mostly* numbers but not all is refused (a typo
in a number column would otherwise silently turn it into a category). Every refusal names
the file, the column and — for a bad cell — the line and the value found.
:mod:`potstill.data.table` puts the typed columns together into a task.

CSV line numbers count the header as line 1 and assume no quoted field spans lines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from potstill.data.screen import check_header, check_range
from potstill.errors import DataError
from potstill.types import Problem

__all__ = [
    "MAX_CLASSES_INFERRED",
    "SUPPORTED_SUFFIXES",
    "Where",
    "check_columns",
    "present",
    "problem_reason",
    "read_table",
    "rows_with_target",
    "type_feature",
    "type_target",
]

#: File suffixes load_table reads, and the reader for each.
SUPPORTED_SUFFIXES = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
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


def present(column: pd.Series) -> pd.Series:
    """True where a cell holds a value (blank strings count as missing)."""
    if pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype):
        text = column.astype(object).where(column.isna(), column.astype(str).str.strip())
        return text.notna() & (text != "")
    return column.notna()


def _as_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """The column as float64 (NaN where missing or bad) and the mask of present bad cells."""
    has = present(column)
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype("float64"), pd.Series(False, index=column.index)
    if pd.api.types.is_numeric_dtype(column.dtype):
        values = column.astype("float64")
    else:
        text = column.astype(object).where(has, None).astype(str).str.strip()
        values = pd.to_numeric(text.where(has, ""), errors="coerce").astype("float64")
    bad = has & ~np.isfinite(values)
    return values.where(has, np.nan), bad


def _bad_cell(column: pd.Series, bad: pd.Series, where: Where) -> tuple[str, object]:
    first = bad[bad].index[0]
    return where(int(first)), column.loc[first]


def _refuse_mostly_numeric(column: pd.Series, bad: pd.Series, where: Where, fix: str) -> None:
    """Raise if most present cells are numbers but some (``bad``) are not."""
    has = present(column)
    if bad.any() and (has & ~bad).sum() > has.sum() / 2:
        at, value = _bad_cell(column, bad, where)
        raise DataError(
            f"Column '{column.name}' looks numeric but has a non-numeric value at {at}: "
            f"{value!r}. Expected a finite number. Fix the cell, leave it empty (missing), "
            f"or {fix}."
        )


def type_feature(column: pd.Series, where: Where, categorical: bool) -> pd.Series:
    """Numeric if every present cell is a finite number; refuse mostly-numeric columns."""
    if categorical or pd.api.types.is_bool_dtype(column.dtype):
        return column.astype(object)
    values, bad = _as_numbers(column)
    if not bad.any():
        check_range(values, column, where)
        return values
    _refuse_mostly_numeric(column, bad, where, "pass the column in 'categorical' if it is one")
    return column.astype(object)


def type_target(
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


def check_columns(path: Path, columns: Sequence[str], role: str, names: Sequence[str]) -> None:
    absent = [n for n in names if n not in columns]
    if absent:
        listed = ", ".join(repr(n) for n in absent)
        verb = "is not a column" if len(absent) == 1 else "are not columns"
        raise DataError(
            f"The {role} {listed} {verb} of {path}. Available columns: {list(columns)}."
        )


def rows_with_target(frame: pd.DataFrame, target: str, path: Path) -> tuple[pd.DataFrame, int]:
    """The rows whose target is present; refused when more than half lack it."""
    has_target = present(frame[target])
    n_missing = int((~has_target).sum())
    if n_missing > len(frame) / 2:
        raise DataError(
            f"The target column '{target}' of {path} is missing in {n_missing} of "
            f"{len(frame)} rows (more than half). Fill the target or choose another column."
        )
    return frame[has_target], n_missing
