"""Parameter validation with scikit-learn style messages.

``check_scalar(3, "temperature", owner="KD", gt=0)`` returns the value or raises
``ConfigError("The 'temperature' parameter of KD must be > 0. Got -1 instead.")``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from potstill.errors import ConfigError

__all__ = ["check_choice", "check_scalar"]

N = TypeVar("N", int, float)


def check_scalar(
    value: N,
    name: str,
    *,
    owner: str,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    integer: bool = False,
    error: type[Exception] = ConfigError,
) -> N:
    """Return ``value`` if it is a real number within the bounds, else raise ``error``."""
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not is_number or (integer and not float(value).is_integer()):
        expected = "an integer" if integer else "a number"
        raise error(f"The '{name}' parameter of {owner} must be {expected}. Got {value!r} instead.")
    if value != value:  # NaN
        raise error(f"The '{name}' parameter of {owner} must be a finite number. Got nan instead.")
    for bound, ok, symbol in (
        (gt, lambda b: value > b, ">"),
        (ge, lambda b: value >= b, ">="),
        (lt, lambda b: value < b, "<"),
        (le, lambda b: value <= b, "<="),
    ):
        if bound is not None and not ok(bound):
            raise error(
                f"The '{name}' parameter of {owner} must be {symbol} {bound}. Got {value!r} instead."
            )
    return value


def check_choice(
    value: Any,
    name: str,
    *,
    owner: str,
    choices: Collection[Any],
    error: type[Exception] = ConfigError,
) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise listing the valid ones."""
    if value not in choices:
        valid = ", ".join(repr(c) for c in sorted(choices, key=str))
        raise error(
            f"The '{name}' parameter of {owner} must be one of {valid}. Got {value!r} instead."
        )
    return value
