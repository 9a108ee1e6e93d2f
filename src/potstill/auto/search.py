"""The search of one system: Optuna samples candidates, potstill runs the rungs.

- **Rung 0** is an Optuna study (``study.optimize``): each trial draws a candidate
  (:class:`~potstill.auto.space.SearchSpace`), trains it ``rung_epochs[0]`` epochs and
  returns (validation retention ↑, $ per 1M ↓); every gate and the p99 SLO are set as
  constraints (``trial.set_constraint``), so the sampler learns what is feasible. The
  system's hand-picked default student is enqueued as the first trial.
- **Rungs 1…** (successive halving; Optuna's pruners do not handle several objectives):
  the non-dominated candidates of a rung plus a margin (:func:`~potstill.auto.pareto.promote`)
  are trained on from their weights to the next rung's epochs and measured again.
- **Resume**: the Optuna storage is SQLite in the search folder, with a heartbeat; each
  rung's measurements are written atomically to ``rungs.json`` and each trained student
  to its own folder. A rerun skips every finished trial and rung measurement; a trial that
  was running when the process died is marked failed and its candidate enqueued again.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from potstill._io import atomic_write_json
from potstill.auto.config import SelectConfig
from potstill.auto.pareto import Point, non_dominated, promote
from potstill.auto.space import Candidate, SearchSpace, candidate_from
from potstill.auto.trial import Measurement, SearchContext, run_candidate
from potstill.errors import PotstillError, missing_dependency

__all__ = ["SearchOutcome", "TrialResult", "run_search"]

log = logging.getLogger(__name__)

#: Progress lines go here (the CLI writes them to stderr).
Progress = Callable[[str], None]
_INTERRUPTED = "potstill_interrupted"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise missing_dependency("optuna", purpose="'potstill select'", extra="search") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class TrialResult:
    """A sampled candidate and its measurement at every rung it reached."""

    number: int
    candidate: Candidate
    rungs: dict[int, Measurement] = field(default_factory=dict)
    default: bool = False

    @property
    def last(self) -> Measurement:
        return self.rungs[max(self.rungs)]

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "params": self.candidate.params(),
                "default": self.default,
                "rungs": {str(k): m.to_dict() for k, m in sorted(self.rungs.items())}}  # fmt: skip


@dataclass
class SearchOutcome:
    """Every trial of a system's search, its front, and the choice (None: nothing passed)."""

    system: str
    trials: list[TrialResult]
    final_rung: int
    choice: TrialResult | None
    seconds: float
    sampler: str

    def front(self) -> list[TrialResult]:
        """The non-dominated trials of the final rung's measurements."""
        done = [t for t in self.trials if self.final_rung in t.rungs]
        keys = {p.key for p in non_dominated([_point(t, self.final_rung) for t in done])}
        return [t for t in done if t.number in keys]

    def default(self) -> TrialResult | None:
        return next((t for t in self.trials if t.default), None)


def _point(t: TrialResult, rung: int) -> Point:
    m = t.rungs[rung]
    return Point(t.number, m.retention, m.usd_per_million, m.feasible)


def _storage(optuna: Any, folder: Path) -> Any:
    url = f"sqlite:///{(folder / 'optuna.db').resolve()}"
    with warnings.catch_warnings():  # the heartbeat is an experimental Optuna feature
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(url, heartbeat_interval=30, grace_period=90)


def _sampler(optuna: Any, config: SelectConfig) -> Any:
    if config.sampler == "random":
        return optuna.samplers.RandomSampler(seed=config.seed)
    startup = max(4, min(10, config.trials // 3))
    return optuna.samplers.TPESampler(seed=config.seed, n_startup_trials=startup)


def _reopen_interrupted(optuna: Any, study: Any, storage: Any) -> None:
    """Trials left running by a killed process (this folder is locked, so no live process
    owns them): mark them failed and enqueue their candidates again."""
    state = optuna.trial.TrialState
    for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        storage.set_trial_system_attr(t._trial_id, _INTERRUPTED, True)
        storage.set_trial_state_values(t._trial_id, state=state.FAIL)
        if t.params:
            study.enqueue_trial(t.params, user_attrs=dict(t.user_attrs))
        log.info("trial %d was interrupted; its candidate runs again", t.number)


def _finished(optuna: Any, study: Any) -> int:
    state = optuna.trial.TrialState
    return sum(
        1
        for t in study.get_trials(deepcopy=False, states=(state.COMPLETE, state.FAIL))
        if not t.system_attrs.get(_INTERRUPTED)
    )


def _trial_folder(folder: Path, number: int, rung: int) -> Path:
    return folder / "trials" / f"{number:04d}" / f"rung{rung}"


def _objective(
    ctx: SearchContext, space: SearchSpace, config: SelectConfig, report: Progress,
    results: dict[int, TrialResult],
) -> Callable[[Any], tuple[float, float]]:  # fmt: skip
    def objective(trial: Any) -> tuple[float, float]:
        cand = space.suggest(trial)
        m = run_candidate(ctx, cand, rung=0, epochs=config.rung_epochs[0],
                          folder=_trial_folder(ctx.folder, trial.number, 0))  # fmt: skip
        if m.retention != m.retention:  # NaN: nothing to compare
            raise PotstillError(f"trial {trial.number}: the validation retention is undefined")
        for name, value in m.violations.items():
            trial.set_constraint(name, value)
        trial.set_user_attr("rung0", m.to_dict())
        results[trial.number] = TrialResult(
            trial.number, cand, {0: m}, bool(trial.user_attrs.get("default"))
        )
        report(_line(ctx.spec.name, f"trial {trial.number}", m, list(results.values()), 0))
        return m.retention, m.usd_per_million

    return objective


def _line(system: str, what: str, m: Measurement, trials: list[TrialResult], rung: int) -> str:
    done = [t for t in trials if rung in t.rungs]
    front = non_dominated([_point(t, rung) for t in done])
    cheapest = min(front, key=lambda p: p.usd, default=None)
    best = (
        "no feasible candidate yet"
        if cheapest is None
        else f"cheapest on the front ${cheapest.usd:.4g}/1M at retention {cheapest.retention:.3f}"
    )
    return (f"{system} rung {rung} {what}: retention {m.retention:.3f}, "
            f"${m.usd_per_million:.4g}/1M, {'feasible' if m.feasible else 'infeasible'} | "
            f"front {len(front)} of {len(done)}; "
            f"{best}")  # fmt: skip


def _load_rung0(optuna: Any, study: Any) -> dict[int, TrialResult]:
    state = optuna.trial.TrialState
    out = {}
    for t in study.get_trials(deepcopy=False, states=(state.COMPLETE,)):
        if "rung0" in t.user_attrs:
            m = Measurement.from_dict(t.user_attrs["rung0"])
            default = bool(t.user_attrs.get("default"))
            out[t.number] = TrialResult(t.number, candidate_from(t.params), {0: m}, default)
    return out


def _rung0(
    ctx: SearchContext, space: SearchSpace, config: SelectConfig, default: Candidate | None,
    report: Progress,
) -> tuple[dict[int, TrialResult], str]:  # fmt: skip
    optuna = _optuna()
    storage = _storage(optuna, ctx.folder)
    study = optuna.create_study(
        study_name=ctx.spec.name, storage=storage, directions=["maximize", "minimize"],
        sampler=_sampler(optuna, config), load_if_exists=True,
    )  # fmt: skip
    if not study.get_trials(deepcopy=False) and default is not None:
        study.enqueue_trial(default.params(), user_attrs={"default": True})
    _reopen_interrupted(optuna, study, storage)
    results = _load_rung0(optuna, study)
    left = config.trials - _finished(optuna, study)
    if results:
        report(f"{ctx.spec.name}: resuming, {len(results)} trial(s) already measured")
    if left > 0:
        study.optimize(
            _objective(ctx, space, config, report, results), n_trials=left,
            timeout=config.timeout, catch=(PotstillError,),
        )  # fmt: skip
    return _load_rung0(optuna, study), type(study.sampler).__name__


def _rungs_file(folder: Path) -> Path:
    return folder / "rungs.json"


def _load_rungs(folder: Path, results: dict[int, TrialResult]) -> None:
    path = _rungs_file(folder)
    if not path.is_file():
        return
    stored = json.loads(path.read_text(encoding="utf-8"))
    for rung, by_trial in stored.items():
        for number, m in by_trial.items():
            if int(number) in results:
                results[int(number)].rungs[int(rung)] = Measurement.from_dict(m)


def _save_rungs(folder: Path, results: dict[int, TrialResult]) -> None:
    out: dict[str, dict[str, Any]] = {}
    for t in results.values():
        for rung, m in t.rungs.items():
            if rung > 0:
                out.setdefault(str(rung), {})[str(t.number)] = m.to_dict()
    atomic_write_json(_rungs_file(folder), out)


def _promotions(
    ctx: SearchContext, config: SelectConfig, results: dict[int, TrialResult], report: Progress
) -> None:
    """Successive halving over the later rungs; finished measurements are skipped."""
    _load_rungs(ctx.folder, results)
    for rung in range(1, len(config.rung_epochs)):
        pool = [t for t in results.values() if rung - 1 in t.rungs]
        keys = promote([_point(t, rung - 1) for t in pool], config.eta, config.margin)
        for number in keys:
            t = results[number]
            if rung in t.rungs:
                continue
            try:
                t.rungs[rung] = run_candidate(
                    ctx, t.candidate, rung=rung, epochs=config.rung_epochs[rung],
                    folder=_trial_folder(ctx.folder, number, rung),
                    previous=_trial_folder(ctx.folder, number, rung - 1),
                    previous_epochs=config.rung_epochs[rung - 1],
                )  # fmt: skip
            except PotstillError as exc:
                log.warning("%s trial %d rung %d failed: %s", ctx.spec.name, number, rung, exc)
                continue
            _save_rungs(ctx.folder, results)
            report(_line(ctx.spec.name, f"trial {number}", t.rungs[rung],
                         list(results.values()), rung))  # fmt: skip


def _choose(results: list[TrialResult], rung: int) -> TrialResult | None:
    """The cheapest candidate that met every constraint at the final rung."""
    passing = [t for t in results if rung in t.rungs and t.rungs[rung].feasible]
    return min(passing, key=lambda t: (t.rungs[rung].usd_per_million, t.number), default=None)


def run_search(
    ctx: SearchContext, space: SearchSpace, config: SelectConfig, *,
    default: Candidate | None = None, report: Progress = lambda line: None,
) -> SearchOutcome:  # fmt: skip
    """Search ``ctx``'s system (resuming what its folder holds) and choose a student."""
    t0 = time.perf_counter()
    ctx.folder.mkdir(parents=True, exist_ok=True)
    results, sampler = _rung0(ctx, space, config, default, report)
    _promotions(ctx, config, results, report)
    trials = sorted(results.values(), key=lambda t: t.number)
    final = max((max(t.rungs) for t in trials), default=0)
    outcome = SearchOutcome(ctx.spec.name, trials, final, _choose(trials, final),
                            time.perf_counter() - t0, sampler)  # fmt: skip
    atomic_write_json(ctx.folder / "trials.json", [t.to_dict() for t in trials])
    return outcome
