"""Reading run records as the JSON dicts the result store returns: safe lookups.

Every figure the aggregate and the report compute is read from record dicts through these
few accessors, so a missing or null field is handled the same way everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from potstill.types import Estimate

__all__ = ["dig", "estimate", "is_distillation", "number", "per_token"]


def number(value: Any) -> float | None:
    """``value`` as a float when it is a finite number (not a bool), else None."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def dig(record: Mapping[str, Any], *path: str | int, default: Any = None) -> Any:
    """``record[path[0]][path[1]]...``, or ``default`` where a step is missing or null."""
    value: Any = record
    for step in path:
        if isinstance(value, Mapping) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, Sequence) and not isinstance(value, str) and isinstance(step, int):
            value = value[step] if -len(value) <= step < len(value) else None
        else:
            return default
        if value is None:
            return default
    return value


def estimate(value: Any) -> Estimate | None:
    """An :class:`Estimate` from its JSON dict (``None`` when absent or without a value)."""
    if not isinstance(value, Mapping) or number(value.get("value")) is None:
        return None
    return Estimate(
        value=float(value["value"]),
        low=number(value.get("low")),
        high=number(value.get("high")),
        n=value.get("n"),
        level=number(value.get("level")),
    )


def per_token(record: Mapping[str, Any]) -> bool:
    """A record whose costs are per output token (an LLM student against its LLM teacher)
    and whose quality is agreement with that teacher: not poolable with per-prediction
    records in a fleet statistic."""
    return dig(record, "costs", "unit") == "output token"


def is_distillation(record: Mapping[str, Any]) -> bool:
    """An ``ok`` record of a distillation method (any family but the scratch baseline)."""
    return record["status"] == "ok" and record["family"] != "baseline"
