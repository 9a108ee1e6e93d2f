"""The library functions behind each CLI command (design rule 1: library first).

Everything here is also importable from :mod:`potstill`; the CLI only parses arguments
and prints what these return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from rich.table import Table

from potstill.auto import SelectConfig, SelectResult
from potstill.auto import select as run_select
from potstill.auto.fleet import study_with_auto
from potstill.auto.search import Progress
from potstill.auto.sources import fleet_for
from potstill.config import (
    DatasetSpec,
    FleetConfig,
    GridEntry,
    SystemSpec,
    TransferSpec,
    format_validation_error,
    load_fleet,
)
from potstill.costs import (
    BenchConfig,
    PriceCatalog,
    bench_paths,
    render_bench,
    render_prices,
)
from potstill.data import list_builtin
from potstill.distill_fleet import DistillOptions, distill_config
from potstill.errors import ConfigError
from potstill.evaluate import GatesConfig
from potstill.events import EventSink
from potstill.methods import list_methods, method_info
from potstill.models.inspection import inspect_teacher
from potstill.models.student_spec import LLMStudentSpec
from potstill.report import render_report
from potstill.results import check_study
from potstill.runner import StudyResult, builtin_fleet, run_study, with_executor
from potstill.serve import MonitorConfig, ReplayConfig, ServeConfig
from potstill.zoo.spec import LLMTeacherSpec

__all__ = [
    "bench",
    "check",
    "config_help",
    "datasets",
    "demo",
    "distill",
    "distill_with",
    "inspect",
    "methods",
    "monitor",
    "prices",
    "replay",
    "report",
    "select",
    "serve",
    "study",
]

DEFAULT_DEMO_DIR = Path("potstill-demo")


def demo(
    out: Path | None = None,
    *,
    quick: bool = False,
    cache_dir: Path | None = None,
    on_event: EventSink | None = None,
) -> StudyResult:
    """Run the built-in fleet into ``out`` (default ``./potstill-demo``).

    ``on_event`` is called with every event of the run (:mod:`potstill.events`)."""
    return run_study(
        builtin_fleet(quick=quick), out or DEFAULT_DEMO_DIR, cache_dir=cache_dir, on_event=on_event
    )


def study(
    fleet: Path,
    *,
    out: Path | None = None,
    systems: Sequence[str] | None = None,
    on_event: EventSink | None = None,
    executor: dict[str, Any] | None = None,
) -> StudyResult:
    """Run the fleet of a YAML file into ``out`` (default ``./potstill-<name>``), then its
    ``auto:`` searches; ``executor`` settings replace the fleet's; events go to ``on_event``."""
    config = with_executor(load_fleet(fleet), executor or {})
    return study_with_auto(
        config, out or Path(f"potstill-{config.name}"), systems=systems, on_event=on_event
    )


def report(directory: Path) -> Any:
    """Render the report of an existing study directory."""
    return render_report(Path(directory))


def check(directory: Path, *, strict: bool = False, **gates: float | None) -> Any:
    """Re-apply deployment gates to a study; ``.passed`` is False when any gate of a
    distilled student fails (under ``strict``, also a gate that was not measured)."""
    chosen: dict[str, Any] = {k: v for k, v in gates.items() if v is not None}
    if strict:  # only when asked: otherwise the study's own gates.strict applies
        chosen["strict"] = True
    return check_study(Path(directory), GatesConfig(**chosen))


def bench(
    models: Sequence[Path],
    *,
    quick: bool = False,
    threads: int | None = None,
    input_shape: tuple[int, ...] | None = None,
) -> str:
    """Benchmark saved models; returns the rendered table followed by one JSON line."""
    config = BenchConfig.quick() if quick else BenchConfig()
    if threads is not None:
        try:  # validated like a YAML value (model_copy would skip the checks)
            config = BenchConfig.model_validate({**config.model_dump(), "threads": threads})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, "--threads")) from None
    profiles = bench_paths([Path(m) for m in models], config, input_shape=input_shape)
    return render_bench(profiles)


def inspect(
    teacher: Path, *, trust_pickle: bool = False, input_shape: tuple[int, ...] | None = None
) -> dict[str, Any]:
    """What a teacher file holds: inputs, outputs, classes, problem guess, parameter count,
    candidate hidden layers (ONNX tensors, torch layers) or trees and leaves. Any file
    :func:`~potstill.models.load_teacher` opens; others are refused with the reason."""
    return inspect_teacher(Path(teacher), trust_pickle=trust_pickle, input_shape=input_shape)


def prices(override: Path | None = None) -> str:
    """The price catalog, rendered for the terminal."""
    return render_prices(PriceCatalog.load(override))


def datasets() -> Table:
    """The built-in datasets as a table."""
    table = Table(
        "name",
        "sector",
        "kind",
        "problem",
        "metric",
        "package",
        "description",
        title="built-in datasets",
    )
    for s in list_builtin():
        table.add_row(
            s.name, s.sector, s.kind, s.problem, s.metric, s.package or "-", s.description
        )
    return table


def methods(family: str | None = None) -> Table:
    """The registered distillation methods as a table."""
    table = Table("name", "family", "requires", "problems", "paper", title="distillation methods")
    for name in list_methods(family):
        info = method_info(name)
        table.add_row(
            name,
            info.family,
            ", ".join(sorted(info.requires)),
            ", ".join(sorted(info.problems)),
            info.paper,
        )
    return table


def _describe(model: type[BaseModel], prefix: str, rows: list[tuple[str, str, str, str]]) -> None:
    for name, field in model.model_fields.items():
        ann = field.annotation
        sub = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
        default = (
            "required"
            if field.is_required()
            else repr(field.get_default(call_default_factory=False))
        )
        if field.default_factory is not None:
            default = "(default)"
        type_name = getattr(ann, "__name__", str(ann)).replace("typing.", "")
        rows.append((f"{prefix}{name}", type_name, default, field.description or ""))
        if sub is not None:
            _describe(sub, f"{prefix}{name}.", rows)


def config_help() -> Table:
    """Every fleet-YAML field, generated from the pydantic models' own metadata."""
    rows: list[tuple[str, str, str, str]] = []
    _describe(FleetConfig, "", rows)
    for label, model in (
        ("systems[].", SystemSpec),
        ("systems[].dataset.", DatasetSpec),
        ("systems[].teacher.llm.", LLMTeacherSpec),
        ("systems[].student.llm.", LLMStudentSpec),
        ("grid[].", GridEntry),
        ("transfer.", TransferSpec),
    ):
        _describe(model, label, rows)
    table = Table("field", "type", "default", "help", title="fleet YAML reference")
    for row in rows:
        table.add_row(*row)
    return table


def distill(
    *,
    teacher: Path,
    data: Path,
    target: str | None = None,
    out: Path,
    methods: Sequence[str] = ("kd",),
    text_column: str | None = None,
    sensitive: str | None = None,
    width: float = 0.25,
    trust_pickle: bool = False,
    quick: bool = False,
    progress: bool = True,
    on_event: EventSink | None = None,
    input_shape: Sequence[int] | None = None,
    max_length: int | None = None,
    drop: Sequence[str] = (),
    positive_label: str | None = None,
    classes: Sequence[str] | None = None,
    test_data: Path | None = None,
    split_column: str | None = None,
    sensitive_is_feature: bool = False,
    allow_weak_teacher: bool = False,
    teacher_architecture: Path | None = None,
    allow_larger: bool = False,
    problem: str | None = None,
    transfer: Mapping[str, Any] | None = None,
    labelled_fraction: float | None = None,
    nproc: int = 1,
) -> StudyResult:
    """Distill the user's own teacher on the user's own data: a one-system study.

    ``data`` is a CSV/Parquet file (``target`` names the column to predict), an .npz of
    images ``X`` and labels ``y``, or a folder with one sub-folder of images per class.
    ``input_shape`` is the shape of one input the teacher takes (e.g. ``(1, 28, 28)``);
    ``max_length`` the tokens a text teacher reads (default: the length recorded with it).

    Bad input found while loading the data or the teacher is raised (exit code 2), and so
    is a request where none of ``methods`` applies to the teacher (every reason named) or
    ``nproc`` cannot run; a method that fails while training is a ``failed`` record (exit 3).

    ``quick``: short training and the harnesses' quick presets (cost figures indicative
    only). The other options are the fleet fields of the same name (``classes``: the
    teacher's labels in output order; ``test_data``/``split_column``: ``dataset.split``;
    ``allow_weak_teacher``: ``teacher.allow_weak``; ``teacher_architecture``:
    ``teacher.architecture``; ``nproc``: ``train.nproc``; ``transfer``: the system's
    section). ``on_event`` gets every event.
    """
    given = dict(locals())  # every parameter above, by name: DistillOptions' fields and
    events, _ = given.pop("on_event"), given.pop("progress")  # these two
    return distill_with(DistillOptions(**given), on_event=events)


def distill_with(options: DistillOptions, *, on_event: EventSink | None = None) -> StudyResult:
    """:func:`distill` from one :class:`~potstill.distill_fleet.DistillOptions` value (what
    the CLI builds from its flags); ``on_event`` gets every event."""
    config = distill_config(options)
    return run_study(config, options.out, on_event=on_event, fail_fast=True)


def _settings(model: type[BaseModel], values: dict[str, Any], where: str) -> Any:
    """Validate command-line values like a YAML section; None means 'use the default'."""
    try:
        return model.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where)) from None


def select(
    fleet: Path | None = None,
    *,
    out: Path,
    builtin: str | None = None,
    own: DistillOptions | None = None,
    quick: bool = False,
    systems: Sequence[str] | None = None,
    progress: Progress = lambda line: None,
    on_event: EventSink | None = None,
    **settings: Any,
) -> SelectResult:
    """Search for the cheapest student that passes every gate (``potstill select``).

    The source is a fleet YAML file, ``builtin`` (a system of the built-in fleet) or
    ``own``: the user's teacher and data with every option :func:`distill` takes for them
    (its ``methods`` and ``nproc`` play no part). ``settings`` are fields of
    :class:`~potstill.auto.SelectConfig` (None keeps the default; ``quick`` starts from its
    quick preset and the harness's). ``progress`` receives one line per measured candidate.
    """
    config = fleet_for(fleet, builtin=builtin, own=own, quick=quick)
    base = SelectConfig.quick() if quick else SelectConfig()
    chosen = {k: v for k, v in settings.items() if v is not None}
    search = _settings(SelectConfig, {**base.model_dump(), **chosen}, "command-line options")
    return run_select(config, out, search, systems=systems, report=progress, on_event=on_event)


def serve(student: Path, **options: Any) -> None:
    """Serve a studied student (``students/<system>/<label>``) until interrupted; options
    are the fields of :class:`~potstill.serve.ServeConfig`. The server, the monitor and
    the replay client are imported when called: they need the optional ``serve`` extra."""
    from potstill.serve.server import run_server

    run_server(_settings(ServeConfig, {"student": student, **options}, "serve options"))


def monitor(store: str, **options: Any) -> Any:
    """Judge a serving store's recent windows; ``.broken`` when the latest window breaks a
    threshold. Options are the fields of :class:`~potstill.serve.MonitorConfig`."""
    from potstill.serve.monitor import monitor as judge
    from potstill.serve.monitor_report import write_monitor_html

    config = _settings(MonitorConfig, options, "monitor options")
    result = judge(store, config)
    if config.report is not None:
        write_monitor_html(result, config.report)
    return result


def replay(student: Path, data: Path, **options: Any) -> dict[str, Any]:
    """Send the rows of ``data`` to a server on this machine (see ``potstill replay``)."""
    from potstill.serve.replay import replay as send

    return send(Path(student), Path(data), _settings(ReplayConfig, options, "replay options"))
