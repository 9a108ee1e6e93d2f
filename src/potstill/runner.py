"""Run a fleet: every system through the pipeline, then the report.

The runner owns the study directory: it saves the resolved config (``config.yaml``) and
the environment (``environment.json``), runs systems locally, in a process pool or on
Ray (:mod:`potstill.executors`), logs each finished system's records to MLflow when
``tracking.mlflow`` is set (:mod:`potstill.tracking`), and finally renders the report —
which reads only the records it wrote.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from potstill._io import atomic_write_json, atomic_write_text
from potstill.config import FleetConfig, SystemSpec, format_validation_error, load_fleet
from potstill.costs import PriceCatalog
from potstill.costs.environment import capture_environment
from potstill.data import list_builtin
from potstill.errors import (
    EXIT_GATES_FAILED,
    EXIT_OK,
    EXIT_RUNS_FAILED,
    ConfigError,
    located_by_field,
)
from potstill.events import EventSink, StudyFinished, StudyStarted, SystemOutcome, ignore, stage
from potstill.executors import run_in_processes, run_in_this_process, run_on_ray
from potstill.executors.on_ray import import_ray
from potstill.methods import method_info
from potstill.report import render_report
from potstill.results.store import ResultStore
from potstill.study.failures import outcome_counts
from potstill.study.outcome import announce_finished, study_outcomes
from potstill.study.resume import prepare_resume
from potstill.study.system import SystemContext, system_done
from potstill.study.workspace import study_lock
from potstill.tracking import MlflowTracker, record_params, require_mlflow
from potstill.types import record_key

__all__ = ["StudyResult", "builtin_fleet", "config_hash", "preflight", "run_study", "with_executor"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StudyResult:
    """Where a study wrote its outputs, how many records it added, each system's outcome,
    and how its runs ended: ``failed`` runs and distilled students that ``gates_failed``,
    over the systems run."""

    out: Path
    new_records: int
    report: Path | None
    outcomes: tuple[SystemOutcome, ...] = ()
    failed: int = 0
    gates_failed: int = 0

    @property
    def exit_code(self) -> int:
        """3 when a run failed, else 1 when a distilled student failed a gate, else 0."""
        if self.failed:
            return EXIT_RUNS_FAILED
        return EXIT_GATES_FAILED if self.gates_failed else EXIT_OK


#: Fleet sections left out of ``config_hash``: they change no figure of a record.
_NOT_HASHED = {"executor", "tracking"}


def config_hash(config: FleetConfig) -> str:
    """Short sha256 of the resolved config: records say which config produced them."""
    # Where systems run and where records are tracked change no figure.
    text = json.dumps(config.model_dump(mode="json", exclude=_NOT_HASHED), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def builtin_fleet(quick: bool = False) -> FleetConfig:
    """The embedded default fleet (or its one-minute subset used by tests)."""
    name = "builtin-quick.yaml" if quick else "builtin.yaml"
    ref = resources.files("potstill.study").joinpath("fleets", name)
    with resources.as_file(ref) as path:
        return load_fleet(path)


def with_executor(config: FleetConfig, settings: Mapping[str, Any]) -> FleetConfig:
    """``config`` with ``settings`` (``None`` values ignored) replacing its executor's,
    checked like a fleet file's (``potstill study --executor ray --address auto``)."""
    chosen = {k: v for k, v in settings.items() if v is not None}
    if not chosen:
        return config
    executor = {**config.executor.model_dump(exclude_unset=True), **chosen}
    try:
        with located_by_field():
            return FleetConfig.model_validate({**config.model_dump(), "executor": executor})
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "executor options")) from None


def preflight(config: FleetConfig) -> None:
    """Refuse unknown datasets, methods, instances and missing files before any work."""

    names = sorted(s.name for s in list_builtin())
    for i, system in enumerate(config.systems):
        ds = system.dataset
        if ds.builtin is not None and ds.builtin not in names:
            raise ConfigError(
                f"systems[{i}].dataset.builtin: unknown built-in dataset {ds.builtin!r}. "
                f"Valid names: {', '.join(names)}."
            )
        files = (
            ("dataset.path", ds.path),
            ("dataset.images", ds.images),
            ("dataset.split.test", ds.split.test),
            ("teacher.path", system.teacher.path),
            ("teacher.architecture", system.teacher.architecture),
        )
        for what, path in files:
            if path is not None and not path.exists():
                raise ConfigError(f"systems[{i}].{what}: file not found: '{path}'.")
        for entry in config.plan_for(system).grid:
            for spec in [*entry.methods, *(entry.regression_methods or [])]:
                method_info(spec.name)  # MethodError listing the valid names
    PriceCatalog.load(config.prices.override).get(config.prices.instance)
    if config.executor.kind == "ray":
        import_ray()  # the error names the [ray] extra
    if config.tracking.mlflow is not None:
        require_mlflow()  # the error names the [mlflow] extra


def _render(out: Path, sink: EventSink) -> Path:
    with stage(sink, None, "report") as st:
        path = render_report(out).markdown
        st.outcome = str(path)
    return path


def _open_tracker(config: FleetConfig) -> MlflowTracker | None:
    if config.tracking.mlflow is None:
        return None
    try:
        return MlflowTracker(config.tracking, config.name)
    except Exception as exc:  # the study goes on; its records are the source of truth
        log.warning(
            "MLflow tracking at %r is unavailable (%s: %s); the study runs without it and a "
            "rerun of the same command logs its records",
            config.tracking.mlflow, type(exc).__name__, exc,
        )  # fmt: skip
        return None


def _track(tracker: MlflowTracker | None, config: FleetConfig, out: Path, spec: SystemSpec) -> None:
    """Log the system's records to MLflow; a failure is a warning, never a lost record."""
    if tracker is None:
        return
    plan, store = config.plan_for(spec), ResultStore(out)
    for entry in plan.grid:
        path = store.path_for(record_key(spec.name, entry.label))
        if not path.is_file():
            continue
        try:
            tracker.log(path, record_params(plan, entry.label),
                        out / "students" / spec.name / entry.label)  # fmt: skip
        except Exception as exc:
            log.warning(
                "MLflow tracking of %s failed (%s: %s); the record is kept in %s and a "
                "rerun logs it", path.stem, type(exc).__name__, exc, path,
            )  # fmt: skip


def _run_systems(
    config: FleetConfig, selected: list[SystemSpec], ctx: SystemContext, started: float
) -> int:
    """Every selected system on the configured executor; returns the records added."""
    executor, tracker = config.executor, _open_tracker(config)
    added, n, position = 0, len(selected), {s.name: i for i, s in enumerate(selected, 1)}

    def announce(spec: SystemSpec, count: int) -> None:
        seconds = time.perf_counter() - started
        ctx.events(announce_finished(ctx.out, spec.name, position[spec.name], n, count, seconds))

    def done(spec: SystemSpec, count: int) -> None:
        nonlocal added
        added += count
        if executor.kind != "local":  # a local system was announced as it ran
            announce(spec, count)
        _track(tracker, config, ctx.out, spec)

    workers = executor.workers or 1
    if executor.kind == "local" or (executor.kind == "process" and workers == 1):
        run_in_this_process(selected, ctx, done)
        return added
    todo = [s for s in selected if not system_done(s, ctx)]  # planned minus done
    for spec in selected:
        if spec not in todo:  # every record present: announced (and tracked) as it is
            done(spec, 0)
    if executor.kind == "process":
        log.warning(
            "%d systems run concurrently: their timings share the machine (recorded in "
            "environment.json)", workers,
        )  # fmt: skip
        run_in_processes(todo, ctx, workers, done)
    else:
        run_on_ray(todo, ctx, executor, config.cpus_per_system(), done)
    return added


def _selected(fleet: FleetConfig, systems: Sequence[str] | None) -> list[SystemSpec]:
    """The systems of the (expanded) ``fleet`` that ``systems`` names (None: all): a name
    of the fleet file selects every size and seed of that system."""
    if not systems:
        return list(fleet.systems)
    known = list(dict.fromkeys(n for s in fleet.systems for n in _names(s)))
    unknown = [s for s in systems if s not in known]
    if unknown:
        raise ConfigError(
            f"Unknown system(s) {', '.join(unknown)}; this fleet has: {', '.join(known)}."
        )
    return [s for s in fleet.systems if set(_names(s)) & set(systems)]


def _names(spec: SystemSpec) -> list[str]:
    return [spec.name] if spec.variant is None else [spec.variant.system, spec.name]


def run_study(
    config: FleetConfig,
    out: Path,
    *,
    systems: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    on_event: EventSink | None = None,
    report: bool = True,
    fail_fast: bool = False,
) -> StudyResult:
    """Run (or resume) every system of ``config`` into ``out`` and render the report.

    A failing cell or system becomes ``failed`` records and the study goes on; the report
    is written whatever failed. When one system runs (``distill``, a one-system fleet,
    ``--system`` naming one) or with ``fail_fast``, there is no rest to go on to: bad input
    found in the system (a ``PotstillError`` outside the grid cells) is raised, exit code 2,
    as is a grid where no distillation method applies. Resume is per system
    (:mod:`potstill.study.resume`). ``out`` must be a new folder, an empty one or an
    earlier study; the run holds its lock (:func:`~potstill.study.workspace.study_lock`)
    while it writes. ``on_event`` receives the run's events (:mod:`potstill.events`) as
    they happen; with the process and Ray backends only the system-level ones.
    """
    preflight(config)
    with study_lock(Path(out)):
        return _run_study(
            config, Path(out), systems=systems, cache_dir=cache_dir, sink=on_event or ignore,
            report=report, fail_fast=fail_fast,
        )  # fmt: skip


def _run_study(
    config: FleetConfig,
    out: Path,
    *,
    systems: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    sink: EventSink = ignore,
    report: bool = True,
    fail_fast: bool = False,
) -> StudyResult:
    started = time.perf_counter()
    fleet = config.expanded()  # one system per student size and seed
    selected = _selected(fleet, systems)
    names = [s.name for s in selected]
    hashes = prepare_resume(out, fleet, names if systems else None)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        out / "config.yaml", yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
    )
    environment = capture_environment()
    environment["seed"] = config.seed
    if config.seeds is not None:
        environment["seeds"] = config.seeds
    environment["executor"] = config.executor.model_dump()
    atomic_write_json(out / "environment.json", environment)
    ctx = SystemContext(
        fleet=fleet,
        out=out,
        config_hash=config_hash(config),
        environment=environment,
        cache_dir=cache_dir,
        events=sink,
        system_hashes=hashes,
        fail_fast=fail_fast or len(selected) == 1,
    )
    sink(StudyStarted(name=config.name, out=str(out), systems=tuple(names)))
    added = _run_systems(fleet, selected, ctx, started)
    report_path = _render(out, sink) if report else None
    outcomes = study_outcomes(out, names)
    sink(StudyFinished(out=str(out), report=None if report_path is None else str(report_path),
                       new_records=added, seconds=time.perf_counter() - started,
                       outcomes=outcomes))  # fmt: skip
    failed, gates_failed = outcome_counts(
        r for r in ResultStore(out).load_all() if r.get("system") in names
    )
    return StudyResult(out, added, report_path, outcomes, failed=failed, gates_failed=gates_failed)
