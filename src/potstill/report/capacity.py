"""Capacity curves and seeds: one fleet system run at several student sizes and seeds.

When ``student.sizes`` or ``seeds`` expand a fleet, every record carries its ``variant``
(``{system, size, seed}``). Here the records of one fleet system are grouped by size; at
each size every distilled method's gain over scratch is the paired bootstrap combined
over the seeds (:func:`potstill.results.paired.combined_pairs`, from the test scores the
study kept; one seed: the record's own ``versus_scratch``), and the size's best method is
corrected for being the best of k (Holm, :func:`~potstill.evaluate.verdict.best_of_k`).
The chart draws the test metric and $ per 1M predictions against the student's measured
parameters, scratch beside every method; the metric, $ and parameters are means over the
seeds' records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from potstill.evaluate import EvalConfig
from potstill.evaluate.verdict import NOT_MEASURED, best_of_k, verdict
from potstill.results.paired import combined_pairs, predictions_path
from potstill.results.recordview import dig, number
from potstill.types import record_key

__all__ = ["Capacity", "SizeBest", "SizeRow", "capacity", "eval_config", "size_label"]

Records = Sequence[Mapping[str, Any]]
Size = float | int | None


@dataclass(frozen=True)
class SizeRow:
    """One method of one fleet system at one student size, over its seeds."""

    system: str
    size: Size
    method: str
    family: str
    params: float | None  # mean measured student parameters
    metric: float | None  # mean test metric
    usd: float | None  # mean $ per 1M predictions (the record's headline)
    gain: Mapping[str, Any] | None  # versus_scratch, combined over seeds
    verdict: str
    n_seeds: int


@dataclass(frozen=True)
class SizeBest:
    """The best distilled method of a fleet system at one size, corrected for best of k."""

    system: str
    size: Size
    method: str | None
    gain: Mapping[str, Any] | None
    p_holm: float | None
    verdict: str


@dataclass(frozen=True)
class Capacity:
    """Every (system, size, method) row and each (system, size)'s best method."""

    rows: tuple[SizeRow, ...]
    best: tuple[SizeBest, ...]
    metric: Mapping[str, str]  # fleet system -> its metric name
    higher_is_better: Mapping[str, bool]

    def systems(self) -> list[str]:
        """Fleet systems run at more than one student size (a capacity curve)."""
        return sorted({r.system for r in self.rows if len(self.sizes(r.system)) > 1})

    def sizes(self, system: str) -> list[Size]:
        return list(dict.fromkeys(r.size for r in self.rows if r.system == system))


def size_label(size: Size) -> str:
    """``0.25`` (a fraction of the teacher), ``20,000 params`` (a target), or ``default``."""
    if size is None:
        return "default"
    return f"{size:,} params" if isinstance(size, int) else f"{size:g}"


def eval_config(config: Mapping[str, Any], system: str) -> EvalConfig:
    """The quality settings a fleet system ran with, from ``config.yaml`` (parsed)."""
    systems = config.get("systems")
    listed = systems if isinstance(systems, list) else []
    own = next((s for s in listed if isinstance(s, Mapping) and s.get("name") == system), {})
    section = own.get("evaluate") or config.get("evaluate") or {}
    return EvalConfig.model_validate(section)


def _groups(records: Records) -> dict[str, dict[Size, list[Mapping[str, Any]]]]:
    """Expanded records by fleet system, then size, in the fleet's order of sizes."""
    out: dict[str, dict[Size, list[Mapping[str, Any]]]] = {}
    for r in records:
        variant = r.get("variant")
        if isinstance(variant, Mapping):
            by_size = out.setdefault(str(variant["system"]), {})
            by_size.setdefault(variant.get("size"), []).append(r)
    return out


def _largest_first(item: tuple[Size, list[Mapping[str, Any]]]) -> float:
    """Sizes from the largest student (mean measured parameters) down; unmeasured last."""
    params = _mean([dig(r, "student", "params") for r in item[1]])
    return -params if params is not None else float("inf")


def _mean(values: Sequence[Any]) -> float | None:
    finite = [v for v in (number(x) for x in values) if v is not None]
    return sum(finite) / len(finite) if finite else None


def _gain(
    directory: Path, recs: Sequence[Mapping[str, Any]], method: str, config: EvalConfig
) -> Mapping[str, Any] | None:
    """``method``'s gain over scratch at one size: one seed, its record's own
    ``versus_scratch``; several, combined over the seeds that kept both students' test
    scores (``n_seeds`` says how many)."""
    mine = [r for r in recs if r["method"] == method and r["status"] == "ok"]
    if len(mine) == 1:
        own = dig(mine[0], "quality", "versus_scratch")
        return own if isinstance(own, Mapping) else None
    runs = []
    for r in mine:
        scratch = next((s for s in recs if s["system"] == r["system"]
                        and s["family"] == "baseline" and s["status"] == "ok"), None)  # fmt: skip
        if scratch is None:
            continue
        keys = (record_key(r["system"], scratch["method"]), record_key(r["system"], method))
        if all(predictions_path(directory, k).is_file() for k in keys):
            runs.append((directory, *keys))
    return combined_pairs(runs, config).to_record() if runs else None


def _rows(
    directory: Path, system: str, size: Size, recs: Sequence[Mapping[str, Any]], config: EvalConfig
) -> list[SizeRow]:
    rows = []
    ordered = sorted(recs, key=lambda r: r["family"] != "baseline")  # scratch first
    for method in dict.fromkeys(r["method"] for r in ordered):
        mine = [r for r in recs if r["method"] == method and r["status"] == "ok"]
        if not mine:
            continue
        family = str(mine[0]["family"])
        gain = None if family == "baseline" else _gain(directory, recs, method, config)
        rows.append(SizeRow(
            system=system, size=size, method=str(method), family=family,
            params=_mean([dig(r, "student", "params") for r in mine]),
            metric=_mean([dig(r, "quality", "student", "value") for r in mine]),
            usd=_mean([dig(r, "costs", "usd_per_million") for r in mine]),
            gain=gain,
            verdict=verdict((gain or {}).get("low"), (gain or {}).get("high")),
            n_seeds=len({r.get("seed") for r in mine}),
        ))  # fmt: skip
    return rows


def _best(system: str, size: Size, rows: Sequence[SizeRow], hib: bool) -> SizeBest:
    gains = {r.method: r.gain for r in rows if r.family != "baseline" and r.gain is not None}
    distilled = [r for r in rows if r.family != "baseline" and r.metric is not None]
    sign = 1.0 if hib else -1.0
    pick = max(distilled, key=lambda r: sign * float(r.metric or 0.0), default=None)
    if pick is None:
        return SizeBest(system, size, None, None, None, NOT_MEASURED)
    method, p_holm, corrected = best_of_k(gains, pick.method)
    return SizeBest(system, size, method, gains.get(pick.method), p_holm, corrected)


def capacity(directory: Path, records: Records, config: Mapping[str, Any]) -> Capacity:
    """The capacity and seed comparison of the study in ``directory`` (empty when no
    record carries a ``variant``)."""
    rows: list[SizeRow] = []
    best: list[SizeBest] = []
    metrics: dict[str, str] = {}
    hibs: dict[str, bool] = {}
    for system, by_size in sorted(_groups(records).items()):
        settings = eval_config(config, system)
        every = [r for recs in by_size.values() for r in recs]
        first = next((r for r in every if dig(r, "quality", "metric")), every[0])
        metrics[system] = str(dig(first, "quality", "metric", default="") or "")
        hibs[system] = bool(dig(first, "quality", "higher_is_better", default=True))
        for size, recs in sorted(by_size.items(), key=_largest_first):
            size_rows = _rows(Path(directory), system, size, recs, settings)
            rows.extend(size_rows)
            best.append(_best(system, size, size_rows, hibs[system]))
    return Capacity(tuple(rows), tuple(best), metrics, hibs)
