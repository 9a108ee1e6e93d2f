"""Screen a user's table before it becomes a task: what would silently give a wrong result.

:mod:`potstill.data.table` types each column; this module looks at the columns together
and at what they would do to a study, and either refuses or changes them with a note that
the record keeps (``DatasetInfo.note``) and the log says:

- a repeated header (``a,b,y,y``): pandas would rename the second ``y`` to ``y.1`` and
  make the target a feature — refused;
- a feature that is the target under another name (a one-to-one relabelling) — refused
  as leakage, since the teacher and every student would score perfectly on it;
- a sensitive column equal to the target — refused (the fairness gap would be meaningless);
- an identifier (text unique per row, or integers counting rows) — dropped, since one-hot
  encoding 12,000 IDs makes 12,000 useless features;
- a high-cardinality category — capped to its most frequent values, the rest "other";
- a datetime column — encoded as days since 1970-01-01;
- numbers beyond float32 (models compute in float32; 1e308 becomes inf) — refused.
"""

from __future__ import annotations

import csv
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from potstill.errors import DataError

__all__ = [
    "FLOAT32_MAX",
    "MAX_CATEGORIES",
    "Screening",
    "check_header",
    "check_range",
    "screen_features",
]

log = logging.getLogger(__name__)

FLOAT32_MAX = float(np.finfo(np.float32).max)
#: A category column keeps at most this many values (the most frequent); the rest → "other".
MAX_CATEGORIES = 50
#: A value seen in fewer rows than this joins "other" too.
MIN_CATEGORY_ROWS = 5
OTHER = "other"

Where = Callable[[int], str]


@dataclass
class Screening:
    """What screening changed, in words for the record and the log."""

    notes: list[str] = field(default_factory=list)

    def say(self, note: str, level: int = logging.WARNING) -> None:
        self.notes.append(note)
        log.log(level, note)


def check_header(path: Path) -> None:
    """Refuse a CSV whose header names a column twice."""
    if path.suffix.lower() != ".csv":
        return
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    names = [h.strip() for h in header]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(
            f"The header of {path} names the column(s) {repeated} more than once. A repeated "
            "column (often the target pasted twice) would become a feature that leaks the "
            "answer. Rename or remove the duplicates."
        )


def check_range(values: pd.Series, column: pd.Series, where: Where) -> None:
    """Refuse numbers a float32 model cannot hold (they would become ±inf)."""
    big = values.abs() > FLOAT32_MAX
    if big.any():
        first = big[big].index[0]
        raise DataError(
            f"Column '{column.name}' has the value {column.loc[first]!r} at {where(int(first))}, "
            f"beyond the float32 range (±{FLOAT32_MAX:.3g}) that models compute in. Fix the "
            "cell or rescale the column."
        )


def _one_to_one(a: pd.Series, b: pd.Series) -> bool:
    """Whether ``a`` and ``b`` determine each other (a relabelling), with 2+ values."""
    both = pd.DataFrame({"a": a.astype(str), "b": b.astype(str)})[a.notna().to_numpy()]
    if both["b"].nunique() < 2 or len(both) < 2:
        return False
    return bool(
        (both.groupby("a")["b"].nunique() == 1).all()
        and (both.groupby("b")["a"].nunique() == 1).all()
    )


def _check_leakage(features: dict[str, pd.Series], y: pd.Series, target: str, path: Path) -> None:
    for name, column in features.items():
        if _one_to_one(column, y):
            raise DataError(
                f"Column '{name}' of {path} is the target '{target}' under another name (each of "
                "its values goes with exactly one target value and back): it leaks the answer, "
                f"and every model would look perfect. Add '{name}' to 'drop' (--drop {name})."
            )


def check_sensitive(sensitive: pd.Series, y: pd.Series, name: str, target: str) -> None:
    """Refuse a sensitive attribute that is the target itself."""
    if name == target:
        raise DataError(
            f"The sensitive column '{name}' is the target column; a fairness gap across it "
            "would measure accuracy per class, not fairness. Choose the column that holds "
            "the protected attribute."
        )
    if _one_to_one(sensitive, y):
        raise DataError(
            f"The sensitive column '{name}' is the target '{target}' under another name; a "
            "fairness gap across it would measure accuracy per class, not fairness. Choose the "
            "column that holds the protected attribute."
        )


def _is_identifier(column: pd.Series, raw: bool) -> bool:
    """Text unique in (almost) every row, or (not for ``raw`` inputs, which the teacher
    file defines) integers that count the rows."""
    present = column.dropna()
    if len(present) < 20:
        return False
    if pd.api.types.is_numeric_dtype(column.dtype):
        if raw:
            return False
        values = present.to_numpy(dtype=float)
        integral = bool(np.all(np.mod(values, 1) == 0))
        return integral and present.is_unique and bool(np.all(np.diff(np.sort(values)) == 1))
    return present.astype(str).nunique() >= 0.95 * len(present)


def _as_datetime(column: pd.Series) -> pd.Series | None:
    """Days since 1970-01-01 when (almost) every present text cell is a date, else None."""
    if pd.api.types.is_numeric_dtype(column.dtype):
        return None
    present = column.dropna().astype(str)
    if len(present) == 0 or not present.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it has to guess a format per cell
        parsed = pd.to_datetime(column, errors="coerce", utc=True)
    if parsed[column.notna()].isna().mean() > 0.05:
        return None
    days = (parsed - pd.Timestamp("1970-01-01", tz="UTC")) / pd.Timedelta(days=1)
    return days.astype("float64")


def _cap_categories(column: pd.Series) -> tuple[pd.Series, int]:
    """The column with rare values (and any beyond the top MAX_CATEGORIES) as "other"."""
    counts = column.dropna().astype(str).value_counts()
    keep = counts[counts >= MIN_CATEGORY_ROWS].index[:MAX_CATEGORIES]
    if len(keep) == len(counts):
        return column, 0
    text = column.astype(object).where(column.isna(), column.astype(str))
    capped = text.where(text.isna() | text.isin(keep), OTHER)
    return capped, len(counts) - len(keep)


def screen_features(
    features: dict[str, pd.Series], y: pd.Series, *, target: str, path: Path,
    screening: Screening, raw: bool = False,
) -> dict[str, pd.Series]:  # fmt: skip
    """The features with identifiers dropped, dates as numbers and categories capped;
    refuses leakage. Every change is said in ``screening``. With ``raw`` (a teacher file's
    own inputs) only text identifiers are dropped: the teacher defines its inputs."""
    _check_leakage(features, y, target, path)
    kept: dict[str, pd.Series] = {}
    for name, column in features.items():
        days = _as_datetime(column) if column.dtype == object and not raw else None
        if days is not None:
            screening.say(f"Column '{name}' of {path} holds dates; encoded as days since "
                          "1970-01-01.", logging.INFO)  # fmt: skip
            kept[name] = days
        elif _is_identifier(column, raw):
            screening.say(f"Column '{name}' of {path} looks like an identifier (a different "
                          "value in every row); it was dropped from the features.")  # fmt: skip
        elif column.dtype == object and not raw:
            kept[name], merged = _cap_categories(column)
            if merged:
                screening.say(f"Column '{name}' of {path}: {merged} rare value(s) (under "
                              f"{MIN_CATEGORY_ROWS} rows, or beyond the {MAX_CATEGORIES} most "
                              f"frequent) were merged into '{OTHER}'.")  # fmt: skip
        else:
            kept[name] = column
    if not kept:
        raise DataError(
            f"No feature of {path} is left after dropping identifier columns. Keep at least "
            "one column that describes the rows."
        )
    return kept
