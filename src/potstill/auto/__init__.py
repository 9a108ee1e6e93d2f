"""potstill.auto — cost-aware automatic selection: the cheapest student that passes.

:func:`select` searches each system's students (size, method, temperature, alpha,
learning rate, runtime, threads) with Optuna against two measured objectives — retention
on the validation split and $ per 1M predictions — under the gates and the p99 SLO as
constraints, trains the promising ones longer (successive halving), and studies the
cheapest passing one as an ordinary record (method ``auto``). Needs the ``[search]`` extra.
"""

from __future__ import annotations

from potstill.auto.config import SelectConfig
from potstill.auto.pareto import Point, hypervolume, non_dominated, promote, ranks
from potstill.auto.run import SelectResult, search_space, select
from potstill.auto.search import SearchOutcome, TrialResult, run_search
from potstill.auto.space import Candidate, SearchSpace
from potstill.auto.trial import Measurement, SearchContext, open_context, run_candidate

__all__ = [
    "Candidate",
    "Measurement",
    "Point",
    "SearchContext",
    "SearchOutcome",
    "SearchSpace",
    "SelectConfig",
    "SelectResult",
    "TrialResult",
    "hypervolume",
    "non_dominated",
    "open_context",
    "promote",
    "ranks",
    "run_candidate",
    "run_search",
    "search_space",
    "select",
]
