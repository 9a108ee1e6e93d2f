"""The table a run ends with: one row per system, then where the report is and the exit code.

Per system: the teacher (and its test metric), the best student, its retention with the
bootstrap interval, its cost reduction, the verdict against the from-scratch student and
the gates — every figure read from the records (:mod:`potstill.study.outcome`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from potstill.errors import EXIT_BAD_INPUT, EXIT_GATES_FAILED, EXIT_OK, EXIT_RUNS_FAILED
from potstill.events import SystemOutcome
from potstill.watch.text import percent, retention_text

__all__ = ["EXIT_MEANINGS", "print_summary", "summary_table"]

#: What each exit code of ``study``/``demo``/``distill`` means, as the summary says it.
EXIT_MEANINGS = {
    EXIT_OK: "every run finished and no distilled student failed a gate",
    EXIT_GATES_FAILED: "a distilled student failed a deployment gate ('potstill check DIR' "
    "lists it)",
    EXIT_BAD_INPUT: "bad input: nothing was run (the message above says what to fix)",
    EXIT_RUNS_FAILED: "some runs failed: their records hold the error and a traceback, the "
    "report lists them, and rerunning the same command retries them",
}


def _teacher(o: SystemOutcome) -> str:
    if o.teacher_value is None:
        return o.teacher or "—"
    return f"{o.teacher} ({o.metric} {o.teacher_value:.4g})"


def _status(o: SystemOutcome) -> str:
    parts = [f"{o.failed} failed"] if o.failed else []
    if o.not_applicable:
        parts.append(f"{o.not_applicable} n/a")
    return ", ".join(parts)


def summary_table(outcomes: Sequence[SystemOutcome], *, plain: bool = False) -> Table:
    """The per-system summary (``plain``: ASCII borders for logs)."""
    table = Table(
        title="potstill: summary",
        box=box.ASCII if plain else box.SIMPLE_HEAD,
        header_style="" if plain else "bold",
        title_style="" if plain else "bold",
    )
    for column in ("system", "teacher", "best student", "retention [CI]",
                   "cost reduction", "vs scratch", "gates", "cells"):  # fmt: skip
        table.add_column(column, justify="right" if column == "cost reduction" else "left")
    for o in outcomes:
        table.add_row(
            o.system,
            _teacher(o),
            o.best or f"— ({o.note})",
            retention_text(o) if o.best else "—",
            percent(o.cost_reduction) if o.best else "—",
            o.verdict or "—",
            o.gates or "—",
            f"{o.records}" + (f" ({_status(o)})" if _status(o) else ""),
        )
    return table


def print_summary(
    console: Console,
    outcomes: Sequence[SystemOutcome],
    *,
    report: Path | None,
    out: Path,
    new_records: int,
    exit_code: int,
    plain: bool,
) -> None:
    """The table, the report's path, and what the exit code means."""
    if outcomes:
        console.print(summary_table(outcomes, plain=plain))
    console.print(
        f"report: {report}  ({new_records} new records in {out})", markup=False, highlight=False
    )
    meaning = EXIT_MEANINGS.get(exit_code, "see 'potstill --help'")
    console.print(f"exit code {exit_code}: {meaning}.", markup=False, highlight=False)
