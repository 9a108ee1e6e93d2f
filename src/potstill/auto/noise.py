"""Costs under noise: is the chosen student really cheaper than the default one?

Two deployments are re-measured in alternating rounds (A B, B A, A B, …: each round is
one harness session per deployment, so drift of the machine hits both alike) and the
ratio of their mean $ per 1M predictions gets a bootstrap confidence interval over the
paired rounds. A ratio whose interval holds 1 is a tie. The machine's 1-minute load is
recorded before each round; rounds taken while it exceeded the CPU count are flagged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill.auto.space import Candidate
from potstill.auto.trial import SearchContext, measure_usd
from potstill.models.export import load_model

__all__ = ["compare_costs", "ratio_interval"]


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


def compare_costs(
    ctx: SearchContext, a: tuple[Candidate, Path], b: tuple[Candidate, Path], rounds: int
) -> dict[str, Any]:
    """Re-measure deployment ``a`` against ``b`` (candidate, trained model folder) in
    ``rounds`` alternating rounds; the ratio a / b of $ per 1M with its interval."""
    models = {"a": load_model(a[1]), "b": load_model(b[1])}
    cands = {"a": a[0], "b": b[0]}
    usd: dict[str, list[float]] = {"a": [], "b": []}
    loads, cpus = [], os.cpu_count() or 1
    work = ctx.folder / "remeasure"
    for r in range(rounds):
        loads.append(os.getloadavg()[0])
        for key in ("a", "b") if r % 2 == 0 else ("b", "a"):
            usd[key].append(measure_usd(ctx, models[key], cands[key], work / key))
    out = ratio_interval(usd["a"], usd["b"], seed=ctx.fleet.seed)
    contended = [i for i, load in enumerate(loads) if load > cpus]
    return {**out, "usd_a": usd["a"], "usd_b": usd["b"], "load_1min": loads,
            "contended_rounds": contended, "cpus": cpus}  # fmt: skip
