"""Number and Markdown formatting, in one place so every figure reads the same way.

Percentages carry one decimal ("72.0%"), dollars three significant digits ("$0.0123",
"$1.50", "$1,230"), latencies three significant digits, metrics four. A missing value is
an em dash, never a zero. Text that comes from records (names, reasons) is escaped before
it enters a Markdown table, so a ``|`` or ``<script>`` in a reason cannot break the page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from potstill.types import Estimate

__all__ = [
    "MISSING",
    "code_block",
    "count",
    "esc",
    "interval",
    "md_table",
    "metric",
    "ms",
    "pct",
    "plural",
    "pp",
    "si",
    "usd",
]

MISSING = "—"


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _sig(x: float, digits: int) -> str:
    """``x`` rounded to ``digits`` significant digits, in fixed notation with separators."""
    if x == 0:
        return "0"
    rounded = float(f"{x:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:,.{decimals}f}"


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as a percentage: 0.72 → "72.0%"."""
    return f"{100 * x:.{digits}f}%" if _finite(x) else MISSING


def pp(x: Any) -> str:
    """A difference of fractions in signed percentage points: 0.012 → "+1.2 pp"."""
    return f"{100 * x:+.1f} pp" if _finite(x) else MISSING


def usd(x: Any, digits: int = 3) -> str:
    """Dollars with ``digits`` significant digits: "$0.0123", "$1.50", "$1,230"."""
    if not _finite(x):
        return MISSING
    return f"-${_sig(-x, digits)}" if x < 0 else f"${_sig(x, digits)}"


def ms(x: Any) -> str:
    """Milliseconds with three significant digits."""
    return f"{_sig(x, 3)} ms" if _finite(x) else MISSING


def metric(x: Any) -> str:
    """A task metric (accuracy, rmse, …) with four significant digits."""
    return _sig(x, 4) if _finite(x) else MISSING


def count(x: Any) -> str:
    """An integer count with thousands separators."""
    return f"{int(x):,}" if _finite(x) else MISSING


def si(x: Any) -> str:
    """A large count with an SI suffix and three significant digits: 1234567 → "1.23M"."""
    if not _finite(x):
        return MISSING
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= factor:
            return f"{_sig(x / factor, 3)}{suffix}"
    return _sig(x, 3)


def plural(n: int, noun: str) -> str:
    """``"1 system"``, ``"2 systems"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def interval(est: Estimate | None, fmt: Any = pct) -> str:
    """``value [low, high]`` with one formatter; just the value when there is no CI."""
    if est is None:
        return MISSING
    if est.low is None or est.high is None:
        return fmt(est.value)
    return f"{fmt(est.value)} [{fmt(est.low)}, {fmt(est.high)}]"


_SPECIAL = re.compile(r"([\\|*`\[\]<>#])")
_EDGE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def esc(text: Any) -> str:
    """Escape record text for a Markdown table cell (one line, no markup)."""
    flat = " ".join(str(text).split())
    return _EDGE_UNDERSCORE.sub(r"\\_", _SPECIAL.sub(r"\\\1", flat))


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: int = 0) -> str:
    """A GitHub-flavoured Markdown table; columns from index ``right`` on align right.

    ``right=0`` leaves every column left-aligned. Cells are used as given: escape record
    text with :func:`esc` first.
    """
    aligns = [":--" if right == 0 or i < right else "--:" for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def code_block(text: str, info: str = "") -> str:
    """A fenced code block whose fence is longer than any backtick run inside ``text``."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip()}\n{fence}"
