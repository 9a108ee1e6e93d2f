"""Costs under noise: which candidate of the front is really the cheapest, and is it
cheaper than the default student?

The front's feasible candidates and the default are re-measured in alternating rounds
(A B C, C B A, …: each round is one harness session per deployment, so drift of the
machine hits all alike); the choice is the cheapest by mean, and the ratio of its mean $
per 1M predictions to the default's gets a bootstrap confidence interval over the paired
rounds. A ratio whose interval holds 1 is a tie. The machine's 1-minute load is
recorded before each round; rounds taken while it exceeded the CPU count are flagged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill.auto.search import SearchOutcome, TrialResult
from potstill.auto.space import Candidate
from potstill.auto.trial import SearchContext, measure_usd
from potstill.models.export import load_model

__all__ = ["front_remeasure", "ratio_interval", "remeasure"]


def ratio_interval(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 2000, level: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """mean(a) / mean(b) with a paired percentile-bootstrap interval over the rounds."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need two equal series of >= 2 rounds; got {len(x)} and {len(y)}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(resamples, len(x)))
    ratios = x[idx].mean(axis=1) / y[idx].mean(axis=1)
    tail = (1 - level) / 2
    low, high = (float(v) for v in np.quantile(ratios, [tail, 1 - tail]))
    ratio = float(x.mean() / y.mean())
    return {"ratio": ratio, "low": low, "high": high, "level": level, "rounds": len(x),
            "reduction": 1 - ratio, "reduction_low": 1 - high, "reduction_high": 1 - low,
            "tie": bool(low <= 1.0 <= high)}  # fmt: skip


def remeasure(
    ctx: SearchContext, entries: Mapping[int, tuple[Candidate, Path]], rounds: int
) -> tuple[dict[int, list[float]], list[float]]:
    """$ per 1M of each deployment (candidate, trained model folder) over ``rounds``
    rounds, the order reversed every other round; and the machine's load before each."""
    models = {k: load_model(folder) for k, (_, folder) in entries.items()}
    usd: dict[int, list[float]] = {k: [] for k in entries}
    loads, order = [], list(entries)
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
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
    choice = min((t.number for t in feasible), key=lambda n: (means[n], n))
    base = default.number if default is not None else choice
    cpus = os.cpu_count() or 1
    return {**ratio_interval(usd[choice], usd[base], seed=ctx.fleet.seed),
            "choice": choice, "default": base, "candidates": sorted(usd),
            "mean_usd": {str(n): m for n, m in means.items()}, "load_1min": loads, "cpus": cpus,
            "contended_rounds": [i for i, load in enumerate(loads) if load > cpus]}  # fmt: skip
