"""Which rows train, validate and test: the user's choice, or a seeded split.

Testing a student on the rows its teacher was trained on flatters both, and potstill
cannot know which rows a user's teacher saw. So the user may name the test rows
(:class:`SplitSpec`): a second file (``test: PATH``), a column whose values say
``train``/``val``/``test`` (``column: NAME``), or — the default — fractions of one file,
drawn with a seed and stratified by class. Whatever the mode, the record says how the rows
were split and how many each split holds (:func:`split_summary`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sklearn.model_selection import train_test_split

from potstill._validation import check_scalar
from potstill.errors import ConfigError, DataError

__all__ = [
    "SPLIT_NAMES",
    "SplitSpec",
    "column_parts",
    "split_indices",
    "split_summary",
    "subsample_indices",
]

#: The values a split column may hold.
SPLIT_NAMES = ("train", "val", "test")
#: Default shares of the rows held out for validation and test when potstill splits.
DEFAULT_FRACTION = 0.2

Parts = tuple[np.ndarray, np.ndarray, np.ndarray]


class SplitSpec(BaseModel):
    """How a user file's rows become train, validation and test rows (``dataset.split``).

    Give at most one of ``test`` (a second file) or ``column``; without either, potstill
    draws the split from the file with ``test_fraction``/``val_fraction`` (default 0.2
    each), ``seed`` and ``stratify``. With ``test`` or ``column``, ``val_fraction``,
    ``seed`` and ``stratify`` say how validation rows are drawn from the training rows
    when none are named.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: Path | None = Field(
        None,
        description="A second file with the same columns holding the test rows; train and val "
        "are split from the main file.",
    )
    column: str | None = Field(
        None,
        description="Column whose values (train, val, test) name each row's split; it is not a "
        "feature. Without 'val' rows, val is drawn from the train rows (val_fraction).",
    )
    test_fraction: float | None = Field(
        None, gt=0, lt=1, description="Share of the rows potstill holds out for test (0.2)."
    )
    val_fraction: float | None = Field(
        None, gt=0, lt=1, description="Share of the rows potstill holds out for validation (0.2)."
    )
    seed: int | None = Field(
        None, ge=0, description="Seed of the split potstill draws (default: the fleet's seed)."
    )
    stratify: bool | None = Field(
        None, description="Keep the class proportions in every split (default: classification)."
    )

    @model_validator(mode="after")
    def _one_mode(self) -> SplitSpec:
        if self.test is not None and self.column is not None:
            raise ValueError(
                f"give at most one of 'test' or 'column' (got test={str(self.test)!r}, "
                f"column={self.column!r})"
            )
        if self.test_fraction is not None and self.mode != "fractions":
            raise ValueError(
                f"'test_fraction' only applies when potstill draws the test rows; with "
                f"'{'test' if self.test is not None else 'column'}' the test rows are named. "
                "Remove test_fraction."
            )
        return self

    @property
    def mode(self) -> Literal["fractions", "test_file", "column"]:
        """ "test_file", "column", or "fractions" (potstill draws the split)."""
        if self.test is not None:
            return "test_file"
        return "column" if self.column is not None else "fractions"

    @property
    def val_share(self) -> float:
        return DEFAULT_FRACTION if self.val_fraction is None else self.val_fraction

    @property
    def test_share(self) -> float:
        return DEFAULT_FRACTION if self.test_fraction is None else self.test_fraction


def _split_sizes(n: int, val_size: float, test_size: float) -> tuple[int, int, int]:
    n_test, n_val = math.ceil(test_size * n), math.ceil(val_size * n)
    return n - n_val - n_test, n_val, n_test


def _check_enough(n: int, sizes: Sequence[int], y: np.ndarray, stratify: bool,
                  class_names: Sequence[str]) -> None:  # fmt: skip
    classes, counts = np.unique(y, return_counts=True) if stratify else (np.array([0]), [n])
    need = max(len(classes), 1)
    if min(sizes) < need:
        names = "/".join(("train", "val", "test")[: len(sizes)])
        raise DataError(
            f"Too few rows to split: {n} rows give {names} = {'/'.join(map(str, sizes))}, "
            f"and each split needs at least {need} row(s)"
            + (f" (one per class, {len(classes)} classes)" if stratify else "")
            + ". Provide more rows or change val_fraction/test_fraction."
        )
    if stratify and min(counts) < len(sizes):
        rare = classes[int(np.argmin(counts))].item()
        label = class_names[rare] if rare in range(len(class_names)) else rare
        raise DataError(
            f"Too few rows to split: class {label!r} has {min(counts)} row(s); a stratified "
            f"split into {len(sizes)} parts needs at least {len(sizes)} rows of each class. "
            "Add rows of that class or merge it with another."
        )


def split_indices(
    y: np.ndarray,
    *,
    seed: int = 0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    stratify: bool = True,
    class_names: Sequence[str] = (),
) -> Parts:
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
    _check_enough(n, (n_train, n_val, n_test), y, stratify, class_names)
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


def hold_out(
    rows: np.ndarray, y: np.ndarray, share: float, *, seed: int, stratify: bool,
    class_names: Sequence[str] = (),
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Split ``rows`` (indices into ``y``) into (kept, held out) with ``ceil(share * n)``
    held out, seeded and stratified by ``y`` if asked."""
    n_out = math.ceil(share * len(rows))
    _check_enough(len(rows), (len(rows) - n_out, n_out), y[rows], stratify, class_names)
    try:
        kept, out = train_test_split(
            rows, test_size=n_out, random_state=seed, stratify=y[rows] if stratify else None
        )
    except ValueError as exc:
        raise DataError(
            f"Too few rows to split {len(rows)} rows stratified by class: {exc}"
        ) from exc
    return np.sort(kept), np.sort(out)


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


def column_parts(values: pd.Series, where: Callable[[int], str]) -> dict[str, np.ndarray]:
    """Positions of the rows whose split column says train, val or test (case and spaces
    ignored); any other value is refused naming the first row that holds it."""
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    bad = ~text.isin(SPLIT_NAMES)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"The split column '{values.name}' must hold train, val or test in every row; "
            f"{where(int(values.index[first]))} has {values.iloc[first]!r}. Fix the cell, or "
            "remove dataset.split.column to let potstill split the rows."
        )
    parts = {name: np.flatnonzero((text == name).to_numpy()) for name in SPLIT_NAMES}
    for name in ("train", "test"):
        if len(parts[name]) == 0:
            raise DataError(
                f"The split column '{values.name}' names no {name} row; it needs at least one "
                f"row marked '{name}'. Values found: {sorted(set(text))}."
            )
    return parts


def split_summary(spec: SplitSpec, parts: Parts, missing: Sequence[int], *, seed: int,
                  stratify: bool, source: str = "") -> dict[str, Any]:  # fmt: skip
    """What the record says about the split: how, rows per split, imputed cells per split."""
    how = spec.mode
    sizes = {name: len(p) for name, p in zip(SPLIT_NAMES, parts, strict=True)}
    out: dict[str, Any] = {"how": how, "rows": sizes,
                           "imputed_cells": dict(zip(SPLIT_NAMES, map(int, missing), strict=True))}  # fmt: skip
    drawn = f"seed {seed}" + (", stratified by class" if stratify else "")
    if how == "fractions":
        out.update(test_fraction=spec.test_share, val_fraction=spec.val_share, seed=seed,
                   stratified=stratify)  # fmt: skip
        out["description"] = (
            f"potstill drew the split: test {spec.test_share:.0%}, val "
            f"{spec.val_share:.0%} ({drawn})"
        )
    elif how == "test_file":
        out.update(test_source=source, val_fraction=spec.val_share, seed=seed, stratified=stratify)
        out["description"] = (
            f"test rows from {source}; val {spec.val_share:.0%} of the main file ({drawn})"
        )
    else:
        out.update(column=spec.column, seed=seed)
        out["description"] = f"by the values of column '{spec.column}'"
    return out
