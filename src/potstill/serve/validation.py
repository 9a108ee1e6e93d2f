"""Validate a prediction request against the student's saved feature schema.

A request is ``{"rows": [{feature: value, ...}, ...]}`` with the raw inputs the teacher
takes. Every row must hold every feature of the schema, each a finite JSON number, and no
other key. Problems are collected (up to :data:`MAX_ERRORS`) and returned as FastAPI-style
422 details, each naming the row, the field and the value received.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["MAX_ERRORS", "RequestError", "rows_to_array"]

MAX_ERRORS = 20


class RequestError(Exception):
    """A request the schema refuses; ``details`` are FastAPI-style 422 entries."""

    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(d["msg"] for d in details))
        self.details = details


def _detail(loc: Sequence[Any], msg: str, value: Any = None) -> dict[str, Any]:
    return {"loc": ["body", *loc], "msg": msg, "input": value, "type": "value_error"}


def _rows(payload: Any, max_rows: int) -> list[Any]:
    if not isinstance(payload, dict) or "rows" not in payload:
        raise RequestError([_detail([], "The body must be a JSON object with a 'rows' list.")])
    rows = payload["rows"]
    extra = [k for k in payload if k != "rows"]
    if extra:
        raise RequestError(
            [_detail([extra[0]], f"Unknown key {extra[0]!r}; the body holds 'rows' only.")]
        )
    if not isinstance(rows, list) or not rows:
        raise RequestError([_detail(["rows"], "'rows' must be a non-empty list of objects.", rows)])
    if len(rows) > max_rows:
        raise RequestError(
            [_detail(["rows"], f"At most {max_rows} rows per request. Got {len(rows)}.", len(rows))]
        )
    return rows


def _check_value(i: int, name: str, value: Any, errors: list[dict[str, Any]]) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.append(
            _detail(
                ["rows", i, name],
                f"Feature {name!r} of row {i} must be a number. "
                f"Got {value!r} ({type(value).__name__}) instead.",
                value,
            )
        )
    elif not math.isfinite(value):
        errors.append(
            _detail(
                ["rows", i, name],
                f"Feature {name!r} of row {i} must be finite. Got {value!r}.",
                value,
            )
        )


def _check_row(i: int, row: Any, features: Sequence[str], errors: list[dict[str, Any]]) -> None:
    if not isinstance(row, dict):
        errors.append(_detail(["rows", i], f"Row {i} must be an object of features.", row))
        return
    for name in features:
        if name not in row:
            errors.append(_detail(["rows", i, name], f"Row {i} lacks feature {name!r}.", None))
        else:
            _check_value(i, name, row[name], errors)
    if len(row) > len(features):
        known = set(features)
        for key in row:
            if key not in known:
                errors.append(
                    _detail(["rows", i, key], f"Row {i} has an unknown feature {key!r}.", row[key])
                )


def _fast_path(rows: list[Any], features: Sequence[str]) -> np.ndarray | None:
    """The common case without per-value messages: exact keys, plain numbers, finite."""
    width = len(features)
    if not all(type(r) is dict and len(r) == width for r in rows):
        return None
    if not all(n in r for r in rows for n in features):
        return None
    values = [[r[n] for n in features] for r in rows]
    if not all(type(v) in (int, float) for vs in values for v in vs):
        return None
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf: slow path names it
        X = np.asarray(values, dtype=np.float32)
    return X if np.isfinite(X).all() else None


def rows_to_array(payload: Any, features: Sequence[str], max_rows: int) -> np.ndarray:
    """The rows of ``payload`` as float32 (n, len(features)), or :class:`RequestError`."""
    rows = _rows(payload, max_rows)
    fast = _fast_path(rows, features)
    if fast is not None:
        return fast
    errors: list[dict[str, Any]] = []
    for i, row in enumerate(rows):
        _check_row(i, row, features, errors)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise RequestError(errors[:MAX_ERRORS])
    with np.errstate(over="ignore"):
        X = np.asarray([[r[n] for n in features] for r in rows], dtype=np.float32)
    bad = np.argwhere(~np.isfinite(X))
    if len(bad):
        i, j = (int(v) for v in bad[0])
        name = features[j]
        raise RequestError(
            [
                _detail(
                    ["rows", i, name],
                    f"Feature {name!r} of row {i} is out of the float32 "
                    f"range the student takes. Got {rows[i][name]!r}.",
                    rows[i][name],
                )
            ]
        )
    return X
