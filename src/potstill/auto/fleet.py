"""A fleet's ``auto:`` section: after the study, each system that asks for it is searched
(:func:`~potstill.auto.run.select`) and the chosen student joins the study as an ordinary
record, method ``auto``.

``auto:`` in the fleet applies to every system; a system's own ``auto:`` replaces it, and
``auto: false`` leaves the system out. Each search and the study of its choice live in
``auto/<system>/`` (its own resume: rerunning the study reruns nothing finished); the
choice's record is then copied into the study's ``records/`` with the study's settings
hash for that system (so a later change of the system's settings sets it aside with the
others), and the study's report is written again.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from potstill._io import atomic_write_json
from potstill.auto.final import LABEL
from potstill.auto.run import SelectResult, select
from potstill.auto.search import Progress
from potstill.auto.search import _optuna as optuna_or_error
from potstill.config import FleetConfig, SystemSpec
from potstill.errors import ConfigError, PotstillError
from potstill.events import EventSink
from potstill.results.store import ResultStore
from potstill.runner import StudyResult, run_study
from potstill.search_config import SelectConfig
from potstill.study.resume import system_hashes
from potstill.types import record_key

__all__ = ["auto_settings", "auto_systems", "run_auto", "study_with_auto"]

log = logging.getLogger(__name__)


def auto_settings(fleet: FleetConfig, spec: SystemSpec) -> SelectConfig | None:
    """The search settings of ``spec``: its own ``auto:``, else the fleet's; None: none."""
    if spec.auto is False:
        return None
    return spec.auto if spec.auto is not None else fleet.auto


def auto_systems(
    fleet: FleetConfig, systems: Sequence[str] | None = None
) -> dict[str, SelectConfig]:
    """``{system: search settings}`` of the (named) systems that ask for a search."""
    found = {}
    for spec in fleet.systems:
        config = auto_settings(fleet, spec)
        if config is None or (systems and spec.name not in systems):
            continue
        labels = [g.label for g in fleet.plan_for(spec).grid]
        if LABEL in labels:
            raise ConfigError(
                f"System '{spec.name}' has a grid cell labelled {LABEL!r} and an 'auto:' "
                f"search, whose record is {LABEL!r} too. Rename the grid cell."
            )
        found[spec.name] = config
    return found


def _adopt(sub: Path, out: Path, system: str, system_hash: str) -> Path | None:
    """Copy the choice's record (and its test scores) from the search's study ``sub`` into
    the study ``out``, under the study's settings hash; None when there is no record."""
    key = record_key(system, LABEL)
    source = ResultStore(sub)
    if not source.exists(key):
        return None
    record = source.read(key)
    record["system_hash"] = system_hash
    record.setdefault("student", {}).setdefault("search", {})["study"] = str(sub.relative_to(out))
    target = ResultStore(out).path_for(key)
    atomic_write_json(target, record)
    scores = sub / "predictions" / f"{key}.npz"
    if scores.is_file():
        (out / "predictions").mkdir(exist_ok=True)
        shutil.copy2(scores, out / "predictions" / scores.name)
    return target


def run_auto(
    fleet: FleetConfig, out: Path, *, systems: Sequence[str] | None = None,
    on_event: EventSink | None = None, report: Progress = lambda line: None,
    cache_dir: Path | None = None,
) -> dict[str, SelectResult | str]:  # fmt: skip
    """Search every (named) system with ``auto:`` into ``out/auto/<system>/`` and add each
    choice to the study ``out`` as the record ``auto``; ``{system: result or why not}``.
    A system whose search finds nothing to study is logged and left without the record."""
    wanted = auto_systems(fleet, systems)
    hashes = system_hashes(fleet.model_dump(mode="json"))
    results: dict[str, SelectResult | str] = {}
    for name, config in wanted.items():
        spec = next(s for s in fleet.systems if s.name == name)
        one = fleet.model_copy(update={"systems": [spec], "auto": None})
        sub = Path(out) / "auto" / name
        try:
            results[name] = select(one, sub, config, report=report, on_event=on_event,
                                   cache_dir=cache_dir)  # fmt: skip
        except PotstillError as exc:
            log.warning("system %s: the 'auto:' search wrote no record: %s", name, exc)
            results[name] = str(exc)
            continue
        _adopt(sub, Path(out), name, hashes[name])
    return results


def study_with_auto(
    fleet: FleetConfig, out: Path, *, systems: Sequence[str] | None = None,
    on_event: EventSink | None = None,
) -> StudyResult:  # fmt: skip
    """:func:`~potstill.runner.run_study`, then the ``auto:`` searches of its systems
    (:func:`run_auto`) and the report again, with their records."""
    wanted = auto_systems(fleet, systems)  # a clash with a grid label fails before the study
    if wanted:
        optuna_or_error()  # so does a missing [search] extra
    study = run_study(fleet, out, systems=systems, on_event=on_event)
    if not wanted:
        return study
    run_auto(fleet, Path(out), systems=systems, on_event=on_event,
             report=lambda line: log.info("auto: %s", line))  # fmt: skip
    from potstill.report import render_report  # matplotlib: loaded only to render

    paths = render_report(Path(out))
    return StudyResult(study.out, study.new_records, paths.markdown, study.outcomes,
                       failed=study.failed, gates_failed=study.gates_failed)  # fmt: skip
