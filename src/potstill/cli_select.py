"""The ``select`` command (registered on the main Typer app): a cost-aware search.

Option help comes from :class:`~potstill.auto.SelectConfig`'s field descriptions; the
flags that describe the user's own teacher and data are ``distill``'s own
(:mod:`potstill.cli_options`), so a system ``distill`` takes, ``select`` takes too. Progress
(one line per measured candidate, with the current Pareto front) goes to stderr; the
last line on stdout is one JSON object.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from potstill import api
from potstill import cli_options as opt
from potstill.auto import SelectConfig
from potstill.distill_fleet import DistillOptions
from potstill.errors import ConfigError
from potstill.models.student_spec import StudentSpec

__all__ = ["register"]


def _opt(name: str, *flags: str) -> Any:
    field = SelectConfig.model_fields[name]
    return typer.Option(*flags, help=f"{field.description} (default: {field.get_default()})",
                        show_default=False)  # fmt: skip


def _progress(line: str) -> None:
    sys.stderr.write(f"select: {line}\n")
    sys.stderr.flush()


Fleet = Annotated[Path | None, typer.Argument(help="Fleet YAML file (or --builtin / --teacher).")]
Builtin = Annotated[
    str | None, typer.Option(help="A system of the built-in fleet, e.g. credit_scoring.")
]
Teacher = Annotated[Path | None, typer.Option(help="Your teacher model file.")]
Data = Annotated[Path | None, typer.Option(help="Your data (as for 'distill').")]
Width = Annotated[
    float | None,
    typer.Option(help="The default student's width, as a fraction of the teacher's: the "
                 "student the choice is compared with. (default: "
                 f"{StudentSpec.model_fields['width'].default})"),
]  # fmt: skip
Out = Annotated[Path, typer.Option("--out", "-o", help="Output folder (a study).")]
Systems = Annotated[list[str] | None, typer.Option(help="Search only these systems (repeatable).")]
Quick = Annotated[
    bool, typer.Option(help="Short rungs and the quick harness (indicative figures).")
]


def select(
    fleet: Fleet = None,
    builtin: Builtin = None,
    teacher: Teacher = None,
    data: Data = None,
    target: opt.Target = None,
    text_column: opt.TextColumn = None,
    sensitive: opt.Sensitive = None,
    width: Width = None,
    trust_pickle: opt.TrustPickle = False,
    drop: opt.Drop = None,
    positive_label: opt.Positive = None,
    classes: opt.Classes = None,
    test_data: opt.TestData = None,
    split_column: opt.SplitColumn = None,
    sensitive_is_feature: opt.SensitiveFeature = False,
    allow_weak_teacher: opt.AllowWeak = False,
    input_shape: opt.InputShape = None,
    max_length: opt.MaxLength = None,
    allow_larger: opt.AllowLarger = False,
    problem: opt.Problem = None,
    teacher_architecture: opt.Architecture = None,
    transfer: opt.TransferKind = None,
    transfer_path: opt.TransferPath = None,
    transfer_size: opt.TransferSize = None,
    munge_p: opt.MungeP = None,
    munge_s: opt.MungeS = None,
    mixup_alpha: opt.MixupAlpha = None,
    noise_scale: opt.NoiseScale = None,
    labelled_fraction: opt.LabelledFraction = None,
    out: Out = Path("potstill-select"),
    system: Systems = None,
    quick: Quick = False,
    trials: Annotated[int | None, _opt("trials")] = None,
    timeout: Annotated[float | None, _opt("timeout")] = None,
    sampler: Annotated[str | None, _opt("sampler")] = None,
    seed: Annotated[int | None, _opt("seed")] = None,
    min_retention: Annotated[float | None, _opt("min_retention")] = None,
) -> None:
    """Find the cheapest student that passes every gate: search size, method, temperature,
    alpha, learning rate, runtime and threads against validation retention and measured $
    per 1M predictions; study the choice as the record 'auto'. Rerunning resumes."""
    own = _own(dict(locals()))
    result = api.select(
        fleet, out=out, builtin=builtin, own=own, quick=quick, systems=system,
        progress=_progress, trials=trials, timeout=timeout, sampler=sampler, seed=seed,
        min_retention=min_retention,
    )  # fmt: skip
    sys.stdout.write(json.dumps(result.summary()) + "\n")
    raise typer.Exit(result.exit_code)


#: The options of ``select`` that set up the search; every other one (``distill``'s)
#: describes the user's own teacher and data.
_SEARCH = ("fleet", "builtin", "out", "system", "quick", "trials", "timeout", "sampler", "seed",
           "min_retention")  # fmt: skip


def _own(options: dict[str, Any]) -> DistillOptions | None:
    """The user's own system from the flags (None without --teacher and --data); a flag
    that describes it given without them is refused, not ignored."""
    own = {k: v for k, v in options.items() if k not in _SEARCH}
    if own["teacher"] is None and own["data"] is None:
        defaults = inspect.signature(select).parameters
        given = [k for k, v in own.items() if v != defaults[k].default]
        if given:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in given)
            raise ConfigError(
                f"{flags} describe(s) your own teacher and data, but --teacher and --data "
                "are not given. Give them, or set these fields in the fleet YAML."
            )
        return None
    if own["teacher"] is None or own["data"] is None:
        missing = "--teacher" if own["teacher"] is None else "--data"
        raise ConfigError(f"Give --teacher with --data (and --target for a table); {missing} "
                          "is missing.")  # fmt: skip
    return opt.distill_options({**own, "out": options["out"], "quick": options["quick"]})


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command()(select)
