"""The ``select`` command (registered on the main Typer app): a cost-aware search.

Option help comes from :class:`~potstill.auto.SelectConfig`'s field descriptions. Progress
(one line per measured candidate, with the current Pareto front) goes to stderr; the
last line on stdout is one JSON object.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from potstill import api
from potstill.auto import SelectConfig

__all__ = ["register"]


def _opt(name: str, *flags: str) -> Any:
    field = SelectConfig.model_fields[name]
    return typer.Option(*flags, help=f"{field.description} (default: {field.get_default()})",
                        show_default=False)  # fmt: skip


def _progress(line: str) -> None:
    sys.stderr.write(f"select: {line}\n")
    sys.stderr.flush()


def select(
    fleet: Annotated[
        Path | None, typer.Argument(help="Fleet YAML file (or --builtin / --teacher).")
    ] = None,
    builtin: Annotated[
        str | None, typer.Option(help="A system of the built-in fleet, e.g. credit_scoring.")
    ] = None,
    teacher: Annotated[Path | None, typer.Option(help="Your teacher model file.")] = None,
    data: Annotated[Path | None, typer.Option(help="Your data (as for 'distill').")] = None,
    target: Annotated[str | None, typer.Option(help="The column to predict.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (a study).")] = Path(
        "potstill-select"
    ),
    system: Annotated[
        list[str] | None, typer.Option(help="Search only these systems (repeatable).")
    ] = None,
    quick: Annotated[
        bool, typer.Option(help="Short rungs and the quick harness (indicative figures).")
    ] = False,
    trials: Annotated[int | None, _opt("trials")] = None,
    timeout: Annotated[float | None, _opt("timeout")] = None,
    sampler: Annotated[str | None, _opt("sampler")] = None,
    seed: Annotated[int | None, _opt("seed")] = None,
) -> None:
    """Find the cheapest student that passes every gate: search size, method, temperature,
    alpha, learning rate, runtime and threads against validation retention and measured $
    per 1M predictions; study the choice as the record 'auto'. Rerunning resumes."""
    result = api.select(
        fleet, out=out, builtin=builtin, teacher=teacher, data=data, target=target,
        quick=quick, systems=system, progress=_progress, trials=trials, timeout=timeout,
        sampler=sampler, seed=seed,
    )  # fmt: skip
    sys.stdout.write(json.dumps(result.summary()) + "\n")
    raise typer.Exit(result.exit_code)


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(select)
