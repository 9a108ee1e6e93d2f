"""The ``potstill`` command line: thin Typer commands over the library API.

Each command parses its arguments and calls one function of :mod:`potstill.api`. Every
``PotstillError`` is printed as one clear message on stderr — no traceback — and the
process exits with the error's code. Exit codes (also in ``potstill --help``): 0 ok, 1 a
deployment gate failed, 2 bad input refused before any work, 3 some runs failed.
"""

from __future__ import annotations

import logging
import shlex
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from potstill import api, cli_select, cli_serve
from potstill import cli_options as opt
from potstill.errors import (
    EXIT_BAD_INPUT,
    EXIT_GATES_FAILED,
    EXIT_OK,
    EXIT_RUNS_FAILED,
    PotstillError,
)
from potstill.evaluate.config import GatesConfig
from potstill.models.inspection import render_inspection
from potstill.runner import StudyResult
from potstill.watch import LogFormat, Watch, stdout_to_devnull, watching

__all__ = ["app", "main"]

EXIT_CODES_HELP = (
    f"Exit codes: {EXIT_OK} ok; {EXIT_GATES_FAILED} a deployment gate failed; "
    f"{EXIT_BAD_INPUT} bad input, refused before any work; {EXIT_RUNS_FAILED} some runs "
    "failed (records with status 'failed' hold the error; 3 wins over 1)."
)

app = typer.Typer(
    name="potstill",
    help="Distill deployed models into cheaper students, and prove the trade with measured "
    "cost and quality.\n\n" + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Piped output (scripts, CI logs) is not cut to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


OutOpt = Annotated[
    Path | None, typer.Option("--out", "-o", help="Study directory (records, report).")
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        help="auto: a live view in a terminal, plain timestamped lines otherwise; "
        "rich; plain; json: one JSON object per event on stdout.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only errors and the final summary.")
]


def _finish(watch: Watch, result: StudyResult) -> None:
    """The summary (the report's path and what the exit code means), then exit with it."""
    watch.summary(result, result.exit_code)
    raise typer.Exit(result.exit_code)


@app.command()
def demo(
    out: OutOpt = None,
    quick: Annotated[
        bool, typer.Option(help="A small subset that finishes in about a minute.")
    ] = False,
    log_format: LogFormatOpt = LogFormat.auto,
    quiet: QuietOpt = False,
) -> None:
    """Run the built-in fleet (real datasets, real teachers) and write its report."""
    with watching(console, err, log_format, quiet) as watch:
        result = api.demo(out=out, quick=quick, on_event=watch.emit)
    _finish(watch, result)


@app.command()
def study(
    fleet: Annotated[Path, typer.Argument(help="Fleet YAML file (see 'potstill config-help').")],
    out: OutOpt = None,
    system: Annotated[
        list[str] | None, typer.Option(help="Run only these systems (repeatable).")
    ] = None,
    log_format: LogFormatOpt = LogFormat.auto,
    quiet: QuietOpt = False,
    executor: opt.Executor = None,
    address: opt.Address = None,
) -> None:
    """Run a fleet study from a YAML file; rerunning resumes and skips finished records."""
    chosen = {"kind": executor.value if executor else None, "address": address}
    with watching(console, err, log_format, quiet) as watch:
        result = api.study(fleet, out=out, systems=system, on_event=watch.emit, executor=chosen)
    _finish(watch, result)


@app.command()
def report(directory: Annotated[Path, typer.Argument(help="Study directory.")]) -> None:
    """(Re)write report.md, report.html and results.csv from a study's records."""
    paths = api.report(directory)
    console.print(f"report: {paths.markdown}\nhtml:   {paths.html}\ncsv:    {paths.csv}")


@app.command()
def check(
    directory: Annotated[Path, typer.Argument(help="Study directory.")],
    min_retention: Annotated[
        float | None, typer.Option(help="Minimum metric retention (e.g. 0.97).")
    ] = None,
    max_fairness_gap_increase: Annotated[
        float | None, typer.Option(help="Largest allowed fairness-gap increase.")
    ] = None,
    max_ece: Annotated[float | None, typer.Option(help="Largest allowed student ECE.")] = None,
    min_robust_retention: Annotated[
        float | None, typer.Option(help="Minimum retention under perturbation.")
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help=GatesConfig.model_fields["strict"].description)
    ] = False,
) -> None:
    """Gate a study for deployment: exit 1 when a distilled student fails a gate, or when
    no distilled student was measured (from-scratch baselines are shown, not counted)."""
    report_ = api.check(
        directory,
        strict=strict,
        min_retention=min_retention,
        max_fairness_gap_increase=max_fairness_gap_increase,
        max_ece=max_ece,
        min_robust_retention=min_robust_retention,
    )
    console.print(report_.render(), markup=False, highlight=False)
    if not report_.passed:
        raise typer.Exit(EXIT_GATES_FAILED)


@app.command()
def bench(
    models: Annotated[
        list[Path], typer.Argument(help="Saved models: potstill model folders or .onnx files.")
    ],
    quick: Annotated[bool, typer.Option(help="Short measurement (for smoke tests).")] = False,
    threads: Annotated[
        int | None, typer.Option(help="Intra-op threads (default: the config's).")
    ] = None,
    input_shape: Annotated[
        str | None, typer.Option(help="Shape of one input without the batch axis, e.g. 1,28,28.")
    ] = None,
) -> None:
    """Benchmark saved teachers/students: a table, then one JSON line for scripts."""
    shape = opt.parse_shape(input_shape) if input_shape else None
    sys.stdout.write(api.bench(models, quick=quick, threads=threads, input_shape=shape))


@app.command("inspect")
def inspect_(
    teacher: Annotated[
        Path, typer.Argument(help="Teacher file: .onnx, TorchScript, potstill folder, or pickle.")
    ],
    trust_pickle: Annotated[
        bool, typer.Option(help="Allow a pickled teacher (executes code on load).")
    ] = False,
    input_shape: Annotated[
        str | None,
        typer.Option(help="Torch teachers: one input without the batch axis, e.g. 1,28,28."),
    ] = None,
) -> None:
    """Show a teacher's inputs, outputs, classes and candidate hidden layers; then one JSON line."""
    shape = opt.parse_shape(input_shape) if input_shape else None
    info = api.inspect(teacher, trust_pickle=trust_pickle, input_shape=shape)
    sys.stdout.write(render_inspection(info))


@app.command()
def prices(
    override: Annotated[
        Path | None, typer.Option(help="YAML file of extra/overriding entries.")
    ] = None,
) -> None:
    """List the price catalog (provider, instance, region, $/h, source, date)."""
    sys.stdout.write(api.prices(override))


@app.command()
def datasets() -> None:
    """List the built-in datasets with their sector, task and source."""
    console.print(api.datasets())


@app.command()
def methods(
    family: Annotated[str | None, typer.Option(help="response, feature or relation.")] = None,
) -> None:
    """List the registered distillation methods with their family and paper."""
    console.print(api.methods(family))


@app.command("config-help")
def config_help() -> None:
    """Every fleet-YAML field with its type, default and help (generated from the code)."""
    console.print(api.config_help())


@app.command()
def distill(
    teacher: opt.Teacher,
    data: opt.Data,
    out: opt.Out,
    target: opt.Target = None,
    method: opt.Method = None,
    text_column: opt.TextColumn = None,
    sensitive: opt.Sensitive = None,
    width: opt.Width = 0.25,
    trust_pickle: opt.TrustPickle = False,
    quick: opt.Quick = False,
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
    nproc: opt.Nproc = 1,
    log_format: LogFormatOpt = LogFormat.auto,
    quiet: QuietOpt = False,
) -> None:
    """Distill your own teacher on your own data: student, ONNX export, records and report."""
    options = dict(locals())  # every option above, by name
    with watching(console, err, options.pop("log_format"), options.pop("quiet")) as watch:
        result = api.distill_with(opt.distill_options(options), on_event=watch.emit)
    _finish(watch, result)


cli_serve.register(app)
cli_select.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the app, turning PotstillError into a clean exit.

    Typer's standalone mode handles usage errors (exit 2) and ``--help``; everything a
    user can get wrong in a file or a value arrives here as a ``PotstillError``.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, prog_name="potstill")
    except PotstillError as exc:
        # Text, not markup: messages contain brackets such as systems[2].dataset.
        err.print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # a Typer that lets Ctrl-C through
        _interrupted(argv)
    except SystemExit as exc:  # Typer turns Ctrl-C into a silent exit 130
        if _caused_by_ctrl_c(exc):
            _interrupted(argv)
        raise


#: Commands whose finished work is written as it goes, so a rerun resumes it.
RESUMABLE = frozenset({"demo", "study", "distill"})


def _caused_by_ctrl_c(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is anywhere in ``exc``'s chain of causes."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _interrupted(argv: list[str] | None) -> NoReturn:
    """Say on stderr what Ctrl-C stopped and what a rerun does, then exit 130."""
    args = sys.argv[1:] if argv is None else argv
    command = shlex.join(["potstill", *args])
    if args and args[0] in RESUMABLE:
        then = "finished records are kept; rerun the same command to resume."
    else:
        then = "rerun the same command to run it again."
    err.print(Text(f"interrupted: {command} — {then}"), soft_wrap=True)
    try:  # a Ctrl-C also stops '| cat': the exit's flush must not add a second message
        sys.stdout.flush()
    except BrokenPipeError:
        stdout_to_devnull()
    sys.exit(130)


if __name__ == "__main__":
    main()
