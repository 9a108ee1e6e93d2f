"""``potstill select``: search each system of a fleet, then study the chosen students.

The output folder is an ordinary study (``records/``, ``students/``, ``exports/``, the
report) plus ``search/<system>/`` (the Optuna SQLite storage, ``rungs.json``, every
candidate's trained weights, ``trials.json``). Rerunning the same command resumes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import yaml

from potstill._io import atomic_write_json, atomic_write_text
from potstill.auto.config import SelectConfig
from potstill.auto.final import (
    annotate_records,
    final_fleet,
    pick,
    place_student,
    search_summary,
    with_retention_floor,
)
from potstill.auto.noise import front_remeasure
from potstill.auto.search import Progress, SearchOutcome, TrialResult, run_search
from potstill.auto.search_folder import claim_search_folder, search_keys
from potstill.auto.space import (
    SCRATCH,
    SEARCHED_METHODS,
    TRANSFORMER_WIDTHS,
    SearchSpace,
    default_candidate,
)
from potstill.auto.trial import SearchContext, open_context
from potstill.config import FleetConfig
from potstill.errors import ConfigError
from potstill.events import EventSink
from potstill.methods import applicable_methods
from potstill.models.hf.model import HFClassifier
from potstill.results.store import ResultStore
from potstill.runner import StudyResult, preflight, run_study
from potstill.study.cells import hidden_kind
from potstill.study.resume import prepare_resume
from potstill.study.workspace import study_lock
from potstill.types import record_key

__all__ = ["SelectResult", "search_space", "select", "trained_folder"]

_STUDENT_CAPS = frozenset({"logits", "hidden", "embedding"})
_RUNTIMES = ("eager", "onnx", "onnx-int8")


@dataclass
class SelectResult:
    """The searches and the study of their choices."""

    study: StudyResult
    outcomes: dict[str, SearchOutcome]
    passed: dict[str, bool] = field(default_factory=dict)
    versus: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return self.study.exit_code

    def summary(self) -> dict[str, Any]:
        """The command's last line: per system, the choice on validation and its record."""
        store = ResultStore(self.study.out)
        rows = [{**_system_row(store, name, o, self.passed.get(name, False)),
                 "versus_default": _brief(self.versus.get(name))}
                for name, o in self.outcomes.items()]  # fmt: skip
        return {"out": str(self.study.out), "report": str(self.study.report or ""),
                "exit_code": self.exit_code, "systems": rows}  # fmt: skip


def _brief(versus: dict[str, Any] | None) -> dict[str, Any] | None:
    keys = ("ratio", "low", "high", "tie", "rounds", "contended_rounds")
    return None if versus is None else {k: versus[k] for k in keys}


def _system_row(store: ResultStore, name: str, o: SearchOutcome, passed: bool) -> dict[str, Any]:
    key = record_key(name, "auto")
    record = store.read(key) if store.exists(key) else {}
    costs, quality = record.get("costs") or {}, record.get("quality") or {}
    default = o.default()
    chosen = o.choice
    return {
        "system": name, "trials": len(o.trials), "seconds": round(o.seconds, 1),
        "passed_on_validation": passed,
        "choice": chosen.candidate.params() if chosen is not None else None,
        "val_retention": chosen.last.retention if chosen is not None else None,
        "val_usd_per_million": chosen.last.usd_per_million if chosen is not None else None,
        "default_val_usd_per_million": default.last.usd_per_million if default else None,
        "default_val_retention": default.last.retention if default else None,
        "test_retention": (quality.get("retention") or {}).get("value"),
        "usd_per_million": costs.get("usd_per_million"), "reduction": costs.get("reduction"),
        "status": record.get("status"),
    }  # fmt: skip


def search_space(ctx: SearchContext, config: SelectConfig) -> SearchSpace:
    """The system's space: the searched methods that apply to it, and scratch; the
    runtimes of its bench settings; the configured thread counts."""
    applicable = set(
        applicable_methods(
            teacher_capabilities=ctx.teacher.capabilities, student_capabilities=_STUDENT_CAPS,
            problem=ctx.task.problem, hidden_kind=hidden_kind(ctx.teacher, ctx.task),
        )
    )  # fmt: skip
    methods = (*(m for m in SEARCHED_METHODS if m in applicable), SCRATCH)
    runtimes = tuple(r for r in ctx.bench.runtimes if r in _RUNTIMES)
    if not runtimes:
        raise ConfigError(
            f"System '{ctx.spec.name}': bench.runtimes {list(ctx.bench.runtimes)} holds none of "
            f"{', '.join(_RUNTIMES)}; 'potstill select' deploys students on those."
        )
    return SearchSpace(methods, runtimes, config.threads, min_width=config.min_width,
                       **_transformer_sizes(ctx))  # fmt: skip


def _transformer_sizes(ctx: SearchContext) -> dict[str, Any]:
    """A transformer teacher's students are sized by the layers they keep (1 to the
    teacher's) and a width among :data:`TRANSFORMER_WIDTHS` and the system's own."""
    module = ctx.teacher.module
    if not isinstance(module, HFClassifier):
        return {}
    widths = sorted({*TRANSFORMER_WIDTHS, ctx.spec.student.width})
    return {"teacher_layers": module.n_layers, "transformer_widths": tuple(widths)}


def _grid_methods(fleet: FleetConfig, name: str, problem: str) -> list[str]:
    return [m.name for g in fleet.plan_for(name).grid for m in g.for_problem(problem)]


def trained_folder(out: Path, system: str, trial: TrialResult) -> Path:
    """Where the search kept ``trial``'s student as trained at its last rung."""
    return out / "search" / system / "trials" / f"{trial.number:04d}" / f"rung{trial.last.rung}"


def _remeasure(
    ctx: SearchContext, outcome: SearchOutcome, config: SelectConfig, out: Path
) -> dict[str, Any] | None:
    """Re-measure the front against the default (kept across reruns); the choice becomes
    the cheapest by the re-measured mean."""
    saved = ctx.folder / "remeasure.json"
    rung = outcome.final_rung
    pool = sorted(t.number for t in outcome.trials if rung in t.rungs and t.rungs[rung].feasible)
    key = {"pool": pool, "rounds": config.remeasure_blocks}
    result = None
    if saved.is_file():  # a rerun: the finished re-measurement is kept
        kept = json.loads(saved.read_text(encoding="utf-8"))
        result = kept if kept.get("key") == key else None
    if result is None:
        folder = partial(trained_folder, out, ctx.spec.name)
        result = front_remeasure(ctx, outcome, config.remeasure_blocks, folder)
        if result is None:
            return None
        result["key"] = key
        atomic_write_json(saved, result)
    outcome.choice = next(t for t in outcome.trials if t.number == result["choice"])
    return dict(result)


def _search_all(
    fleet: FleetConfig, out: Path, config: SelectConfig, report: Progress,
    cache_dir: Path | None,
) -> tuple[dict[str, SearchOutcome], dict[str, Any]]:  # fmt: skip
    outcomes, versus = {}, {}
    keys = search_keys(fleet, config)
    for spec in fleet.systems:
        folder, moved = claim_search_folder(out, spec.name, keys[spec.name])
        if moved is not None:
            report(f"{spec.name}: the search in {folder} was made under other settings; it "
                   f"moved to {moved} and the search starts afresh")  # fmt: skip
        ctx = open_context(spec, fleet, folder, resamples=config.eval_resamples,
                           cache_dir=cache_dir)  # fmt: skip
        space = search_space(ctx, config)
        lr = fleet.plan_for(spec).train.lr
        methods = _grid_methods(fleet, spec.name, ctx.task.problem)
        default = default_candidate(spec, space, ctx.size, lr, methods)
        outcomes[spec.name] = run_search(ctx, space, config, default=default, report=report)
        versus[spec.name] = _remeasure(ctx, outcomes[spec.name], config, out)
        v = versus[spec.name]
        if v is not None:
            report(f"{spec.name}: re-measured, choice {v['choice']} vs default $ per 1M ratio {v['ratio']:.3f} "
                   f"[{v['low']:.3f}, {v['high']:.3f}]{' (a tie)' if v['tie'] else ''}")  # fmt: skip
    return outcomes, versus


def _prepare(out: Path, final: FleetConfig, trained: dict[str, Path]) -> None:
    """Set aside what an earlier choice produced (the study's own resume rule), record the
    new config as the study's, and put each chosen student where the study reuses it."""
    prepare_resume(out, final)
    text = yaml.safe_dump(final.model_dump(mode="json"), sort_keys=False)
    atomic_write_text(out / "config.yaml", text)  # the study finds nothing more to set aside
    for name, folder in trained.items():
        place_student(folder, out, name)


def select(
    fleet: FleetConfig, out: Path, config: SelectConfig, *, systems: Sequence[str] | None = None,
    report: Progress = lambda line: None, on_event: EventSink | None = None,
    cache_dir: Path | None = None,
) -> SelectResult:  # fmt: skip
    """Search every (or each named) system of ``fleet`` into ``out``; study the choices."""
    preflight(fleet)
    if systems:
        unknown = sorted(set(systems) - {s.name for s in fleet.systems})
        if unknown:
            raise ConfigError(f"Unknown system(s) {', '.join(unknown)}; this fleet has: "
                              f"{', '.join(s.name for s in fleet.systems)}.")  # fmt: skip
        fleet = fleet.model_copy(
            update={"systems": [s for s in fleet.systems if s.name in systems]}
        )
    fleet, floored = with_retention_floor(fleet, config.min_retention)
    for name in floored:
        report(f"{name}: its gates set no min_retention; the search keeps retention >= "
               f"{config.min_retention} (select's min_retention)")  # fmt: skip
    out = Path(out)
    with study_lock(out):
        (out / "records").mkdir(exist_ok=True)  # marks the folder as a study for the rerun
        outcomes, versus = _search_all(fleet, out, config, report, cache_dir)
    chosen: dict[str, tuple[TrialResult, int]] = {}
    passed, summaries = {}, {}
    trained: dict[str, Path] = {}
    for name, outcome in outcomes.items():
        trial, passed[name] = pick(outcome)
        summaries[name] = {**search_summary(outcome, trial, passed[name]),
                           "versus_default": versus.get(name)}  # fmt: skip
        if trial is None:
            continue
        chosen[name] = (trial, trial.last.epochs)
        trained[name] = trained_folder(out, name, trial)
    if not chosen:
        raise ConfigError("No candidate met the latency SLO on any system; nothing to study. "
                          "Raise prices.slo_ms or widen the search.")  # fmt: skip
    final = final_fleet(fleet, chosen)
    _prepare(out, final, trained)
    study = run_study(final, out, on_event=on_event, report=False, fail_fast=True)
    annotate_records(out, summaries)
    from potstill.report import render_report  # matplotlib: loaded only to render

    report_path = render_report(out).markdown
    study = StudyResult(study.out, study.new_records, report_path, study.outcomes,
                        failed=study.failed, gates_failed=study.gates_failed)  # fmt: skip
    return SelectResult(study, outcomes, passed, versus)
