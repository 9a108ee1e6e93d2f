"""Costs under noise: which candidate of the front is really the cheapest, and is it
cheaper than the default student?

The front's feasible candidates and the default are re-measured in alternating rounds
(A B C, C B A, …: each round is one harness session per deployment, so drift of the
machine hits all alike); the choice is the cheapest by mean — unless others cost the
same within the interval, then the tied one that retains most on validation — and the
ratio of its mean $ per 1M predictions to the default's gets a bootstrap confidence
interval over the paired rounds. A ratio whose interval holds 1 is a tie: the same
function (:func:`potstill.costs.stats.ratio_interval`) gives every study record's cost
reduction its interval. The machine's 1-minute load is recorded before each round;
rounds taken while it exceeded the CPU count are flagged (and inside each round the
harness re-times a block that waited for the CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill.auto.search import SearchOutcome, TrialResult
from potstill.auto.space import Candidate
from potstill.auto.trial import SearchContext, measure_usd
from potstill.costs.contention import cpu_count, load_exceeds, read_load
from potstill.costs.stats import ratio_interval
from potstill.models.export import load_model

__all__ = ["front_remeasure", "pick_among_ties", "remeasure"]


def remeasure(
    ctx: SearchContext, entries: Mapping[int, tuple[Candidate, Path]], rounds: int
) -> tuple[dict[int, list[float]], list[float | None]]:
    """$ per 1M of each deployment (candidate, trained model folder) over ``rounds``
    rounds, the order reversed every other round; and the machine's load before each."""
    models = {k: load_model(folder) for k, (_, folder) in entries.items()}
    usd: dict[int, list[float]] = {k: [] for k in entries}
    loads: list[float | None] = []
    order = list(entries)
    for r in range(rounds):
        loads.append(read_load())
        for key in order if r % 2 == 0 else order[::-1]:
            work = ctx.folder / "remeasure" / str(key)
            usd[key].append(measure_usd(ctx, models[key], entries[key][0], work))
    return usd, loads


def front_remeasure(
    ctx: SearchContext, outcome: SearchOutcome, rounds: int, folder: Callable[[TrialResult], Path],
    limit: int = 5,
) -> dict[str, Any] | None:  # fmt: skip
    """Re-measure the final rung's feasible candidates (the ``limit`` cheapest by the quick
    price) with the default student in alternating rounds; the choice is the cheapest by
    mean, and its ratio to the default has a bootstrap interval. None: nothing feasible."""
    rung = outcome.final_rung
    feasible = sorted(
        (t for t in outcome.trials if rung in t.rungs and t.rungs[rung].feasible),
        key=lambda t: (t.rungs[rung].usd_per_million, t.number),
    )[:limit]
    if not feasible:
        return None
    default = outcome.default()
    pool = feasible + ([default] if default is not None and default not in feasible else [])
    usd, loads = remeasure(ctx, {t.number: (t.candidate, folder(t)) for t in pool}, rounds)
    means = {n: float(np.mean(v)) for n, v in usd.items()}
    retention = {t.number: t.rungs[rung].retention for t in feasible}
    choice, tied = pick_among_ties(usd, retention, seed=ctx.fleet.seed)
    base = default.number if default is not None else choice
    cpus = cpu_count()
    return {**ratio_interval(usd[choice], usd[base], seed=ctx.fleet.seed),
            "choice": choice, "default": base, "candidates": sorted(usd), "tied": tied,
            "mean_usd": {str(n): m for n, m in means.items()}, "load_1min": loads, "cpus": cpus,
            "contended_rounds": [i for i, load in enumerate(loads) if load_exceeds(load, cpus)]}  # fmt: skip


def pick_among_ties(
    usd: Mapping[int, Sequence[float]], retention: Mapping[int, float], *, seed: int = 0
) -> tuple[int, list[int]]:
    """The choice among the candidates ``retention`` names: the cheapest by mean $ per 1M,
    unless others cost the same within the interval (:func:`~potstill.costs.stats.
    ratio_interval` of their paired rounds holds 1): then the tied one that retains most.
    Returns the choice and the candidates tied with the cheapest (the cheapest included)."""
    cheapest = min(retention, key=lambda n: (float(np.mean(usd[n])), n))
    tied = [n for n in sorted(retention)
            if n == cheapest or ratio_interval(usd[n], usd[cheapest], seed=seed)["tie"]]  # fmt: skip
    return max(tied, key=lambda n: (retention[n], -float(np.mean(usd[n])), -n)), tied
