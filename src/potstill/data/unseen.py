"""Rows a transfer set may add: none that the system already trains, validates or tests on.

One rule for every transfer file (a text corpus as token ids, a table as its feature
matrix): rows are compared exactly as the models read them, by the bytes of each row, so
two rows are one when every value is bit-for-bit the same (a NaN equals a NaN; ``0.0``
and ``-0.0`` differ).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["unseen_rows"]


def _key(row: np.ndarray) -> bytes:
    return np.ascontiguousarray(row).tobytes()


def unseen_rows(
    rows: np.ndarray, known: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, int]]:
    """(the indices of ``rows`` to keep, how many were dropped and why).

    A row equal to a row of one of the ``known`` splits (e.g. ``{"train": ..., "val": ...,
    "test": ...}``) is dropped and counted under the first such split's name; a repeat of
    an earlier kept row is dropped and counted as ``"repeated"``. Kept rows keep their order.
    ``rows`` and the splits must share a dtype and a row shape (else nothing matches)."""
    seen = {name: {_key(r) for r in np.asarray(split)} for name, split in known.items()}
    dropped = {name: 0 for name in known} | {"repeated": 0}
    kept: list[int] = []
    taken: set[bytes] = set()
    for i, row in enumerate(np.asarray(rows)):
        key = _key(row)
        found = next((name for name, keys in seen.items() if key in keys), None)
        if found is not None:
            dropped[found] += 1
        elif key in taken:
            dropped["repeated"] += 1
        else:
            taken.add(key)
            kept.append(i)
    return np.asarray(kept, dtype=np.int64), dropped
