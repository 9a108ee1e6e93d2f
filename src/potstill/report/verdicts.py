"""The verdict of distillation against training from scratch, as the report words it.

Every figure is a field of a record's ``quality.versus_scratch`` (the paired bootstrap of
distilled − scratch on the same test rows) or its Holm correction
(:mod:`potstill.results.comparison`); nothing here computes a statistic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from potstill.evaluate.verdict import HELPED, HURT, NO_DIFFERENCE, NOT_MEASURED
from potstill.report.format import MISSING, esc, md_table, metric, pct, plural
from potstill.results.aggregate import StudySummary, SystemComparison

__all__ = [
    "VERDICT_ORDER",
    "gain_text",
    "methods_table",
    "p_text",
    "verdict_counts",
    "verdict_sentence",
]

VERDICT_ORDER = (HELPED, HURT, NO_DIFFERENCE, NOT_MEASURED)


def _signed(x: Any) -> str:
    if isinstance(x, (int, float)) and abs(x) < 1e-12:
        x = 0.0  # the residue of averaging gains that cancel (+0.0109 and −0.0109 over 2 seeds)
    text = metric(x)
    return "+" + text if text != MISSING and x > 0 else text


def gain_text(gain: Mapping[str, Any] | None) -> str:
    """``+0.012 [+0.004, +0.020]``: the paired gain over scratch with its interval."""
    if not gain:
        return MISSING
    low, high = gain.get("low"), gain.get("high")
    if low is None or high is None:
        return _signed(gain.get("value"))
    return f"{_signed(gain.get('value'))} [{_signed(low)}, {_signed(high)}]"


def p_text(p: Any) -> str:
    """A p-value with three decimals, "< 0.001" below that."""
    if not isinstance(p, (int, float)) or p != p:
        return MISSING
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def verdict_counts(summary: StudySummary) -> tuple[Counter[str], Counter[str]]:
    """(systems by their best method's corrected verdict, distilled runs by own verdict)."""
    compared = [c for c in summary.comparisons if c.scratch is not None and c.best is not None]
    systems = Counter(c.corrected_verdict for c in compared)
    runs = Counter(m.verdict for c in compared for m in c.methods)
    return systems, runs


def _listing(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[v]} {v}" for v in VERDICT_ORDER if counts[v])


def verdict_sentence(summary: StudySummary) -> str:
    """The fleet's count of each verdict, for the summary paragraph."""
    systems, runs = verdict_counts(summary)
    n = sum(systems.values())
    if not n:
        return "No system had both a from-scratch and a distilled student to compare."
    return (
        f"Against the from-scratch student (paired bootstrap on the same test rows; the best "
        f"method's verdict corrected for picking the best of the system's methods, Holm), "
        f"over {plural(n, 'system')}: {_listing(systems)}. Per distilled run "
        f"({sum(runs.values())}, uncorrected): {_listing(runs)}."
    )


def _method_row(c: SystemComparison, m: Any) -> list[str]:
    gain = m.gain or {}
    return [
        esc(c.system), esc(m.method), esc(m.family), gain_text(m.gain),
        pct(gain.get("share_above_zero")), p_text(gain.get("p_helped")), p_text(m.p_holm),
        esc(m.verdict),
    ]  # fmt: skip


def methods_table(summary: StudySummary) -> str:
    """Every distilled student's paired gain over scratch and its verdict."""
    rows = [_method_row(c, m) for c in summary.comparisons for m in c.methods]
    if not rows:
        return "No distilled student has a measured metric."
    return md_table(
        ["System", "Method", "Family", "Gain over scratch [CI]", "Resamples > 0",
         "One-sided p", "Holm p", "Verdict"],
        rows,
    )  # fmt: skip
