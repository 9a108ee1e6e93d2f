"""Fleet aggregation: the paper's Results table, reproduced from measured run records.

The paper reports cost reduction per sector (mean ± sd) and accuracy retention (median,
per distillation family). A reader must be able to check that every such number in our
report is a plain statistic of the records, so the statistics live here as pure functions
of record dicts (the JSON :meth:`ResultStore.load_all` returns): no I/O, no formatting,
no hidden selection. Whatever a statistic leaves out (not-applicable, failed, or
incomplete records) is returned beside it, never dropped silently.

Conventions:

- a *distillation* record is an ``ok`` record whose family is not ``"baseline"``;
- fractions stay fractions (0.72, not 72 %); the report formats them;
- ``sd`` is the sample standard deviation (ddof = 1), ``None`` when n < 2;
- the ``"benchmark"`` sector is reported on its own and is part of no sector and of no
  overall figure: *overall* means every enterprise sector (all sectors but benchmark);
- *accuracy retention* pools classification systems only: a regression's retention is a
  ratio of errors (teacher RMSE ÷ student RMSE) and an embedding's is retrieval fidelity,
  so each gets its own statistic and is never pooled with it;
- a retention flagged ``retention_suspect`` (outside [0.5, 1.5]: the teacher is scored
  wrongly or too weak to compare against) is in no retention statistic, and a negative
  cost reduction (a student that costs more than its teacher) is in no cost statistic:
  both are listed in ``StudySummary.left_out`` with the reason, and the report counts them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from potstill.errors import StoreError
from potstill.evaluate import gate_status
from potstill.evaluate.sanity import SUSPECT_RETENTION, is_suspect
from potstill.results.comparison import (
    SystemComparison,
    best_student,
    distill_vs_scratch,
    passes_gates,
)
from potstill.results.recordview import dig, estimate, is_distillation, number, per_token

__all__ = [
    "BENCHMARK",
    "FAMILY_ORDER",
    "SECTOR_ORDER",
    "Excluded",
    "GateCount",
    "GroupStat",
    "StudySummary",
    "SystemComparison",
    "best_student",
    "cost_reduction_by_sector",
    "dig",
    "distill_vs_scratch",
    "estimate",
    "excluded_records",
    "gate_counts",
    "group_stat",
    "is_distillation",
    "left_out_records",
    "passes_gates",
    "retention_by_family",
    "retention_regression",
    "retrieval_fidelity",
    "summarise",
]

BENCHMARK = "benchmark"
#: Order in which sectors and families are listed (unknown ones follow, sorted).
SECTOR_ORDER = ("financial", "healthcare", "manufacturing", "other")
FAMILY_ORDER = ("baseline", "response", "feature", "relation", "combined")
_REQUIRED = ("system", "sector", "method", "family", "status")


@dataclass(frozen=True)
class GroupStat:
    """Statistics of one group of fractions (cost reductions or retentions)."""

    group: str
    n: int  # records
    n_systems: int
    mean: float | None
    sd: float | None
    median: float | None
    minimum: float | None
    maximum: float | None


@dataclass(frozen=True)
class GateCount:
    """How the records of one family did on one gate (``gate="all"``: a run passes when it
    passed every gate, fails when it failed any). ``passed + failed + not_measured ==
    total``; a not-measured gate neither passed nor failed (it fails under gates.strict,
    and is then counted as failed)."""

    family: str
    gate: str
    passed: int
    total: int
    not_measured: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Excluded:
    """A record left out of (some) statistics, and why."""

    system: str
    sector: str
    method: str
    family: str
    status: str
    reason: str


@dataclass(frozen=True)
class StudySummary:
    """The fleet-level results: every figure of the report's summary and Results table."""

    n_records: int
    systems: tuple[str, ...]
    cost_by_sector: tuple[GroupStat, ...]
    cost_overall: GroupStat
    cost_benchmark: GroupStat | None
    retention_overall: GroupStat
    retention_by_family: tuple[GroupStat, ...]
    retention_benchmark: GroupStat | None
    comparisons: tuple[SystemComparison, ...]
    gates: tuple[GateCount, ...]
    excluded: tuple[Excluded, ...]  # not_applicable and failed records
    incomplete: tuple[Excluded, ...]  # ok records missing a number a statistic needs
    retention_retrieval: GroupStat | None = None  # embedding systems: retrieval fidelity
    retention_regression: GroupStat | None = None  # regression systems: error ratio, apart
    #: ok records left out of one statistic: suspect retentions, negative cost reductions
    left_out: tuple[Excluded, ...] = ()

    def left_out_count(self, statistic: str) -> int:
        """How many records ``"retention"`` or ``"cost reduction"`` statistics left out."""
        return sum(e.reason.startswith(statistic) for e in self.left_out)

    def to_rows(self) -> list[dict[str, Any]]:
        """Long-format rows (one dict per figure) for CSV; each row names its ``table``."""
        rows: list[dict[str, Any]] = []
        for table, stats in (
            ("cost_reduction", (*self.cost_by_sector, self.cost_overall)),
            ("cost_reduction_benchmark", (self.cost_benchmark,)),
            ("retention", (self.retention_overall, *self.retention_by_family)),
            ("retention_benchmark", (self.retention_benchmark,)),
            ("retention_retrieval", (self.retention_retrieval,)),
            ("retention_regression", (self.retention_regression,)),
        ):
            rows.extend({"table": table, **asdict(s)} for s in stats if s is not None)
        for c in self.comparisons:
            row: dict[str, Any] = {"table": "vs_scratch", "group": c.system}
            for key, value in asdict(c).items():
                if isinstance(value, Mapping):  # an Estimate, or the paired gain
                    row.update({f"{key}_{k}": v for k, v in value.items() if k != "level"})
                elif key not in ("system", "methods"):
                    row[key] = value
            rows.append(row)
            rows.extend(
                {"table": "vs_scratch_methods", "group": c.system, "method": m.method,
                 "family": m.family, "verdict": m.verdict, "p_holm": m.p_holm,
                 **{f"gain_{k}": v for k, v in (m.gain or {}).items() if k != "verdict"}}
                for m in c.methods
            )  # fmt: skip
        rows.extend({"table": "gates", "group": g.family, **asdict(g)} for g in self.gates)
        for table, items in (
            ("excluded", self.excluded),
            ("incomplete", self.incomplete),
            ("left_out", self.left_out),
        ):
            rows.extend({"table": table, "group": e.system, **asdict(e)} for e in items)
        return rows


# --------------------------------------------------------------------------- helpers


def group_stat(group: str, values: Sequence[float], systems: Iterable[str] = ()) -> GroupStat:
    """Mean, sample sd, median, min and max of ``values`` (all ``None`` when empty)."""
    n = len(values)
    return GroupStat(
        group=group,
        n=n,
        n_systems=len(set(systems)),
        mean=statistics.fmean(values) if n else None,
        sd=statistics.stdev(values) if n >= 2 else None,
        median=statistics.median(values) if n else None,
        minimum=min(values) if n else None,
        maximum=max(values) if n else None,
    )


def _ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    unique = set(names)
    return [n for n in order if n in unique] + sorted(unique - set(order))


def _grouped(
    records: Sequence[Mapping[str, Any]], key: str, path: tuple[str, ...]
) -> dict[str, tuple[list[float], list[str]]]:
    """Values at ``path`` of the distillation records, grouped by ``record[key]``."""
    groups: dict[str, tuple[list[float], list[str]]] = {}
    for r in records:
        value = number(dig(r, *path))
        if is_distillation(r) and value is not None:
            values, systems = groups.setdefault(r[key], ([], []))
            values.append(value)
            systems.append(r["system"])
    return groups


def _pooled(group: str, records: Sequence[Mapping[str, Any]], path: tuple[str, ...]) -> GroupStat:
    pairs = [(r["system"], number(dig(r, *path))) for r in records if is_distillation(r)]
    kept = [(s, v) for s, v in pairs if v is not None]
    return group_stat(group, [v for _, v in kept], [s for s, _ in kept])


# --------------------------------------------------------------------------- statistics

_REDUCTION, _RETENTION = ("costs", "reduction"), ("quality", "retention", "value")


def _negative_cost(record: Mapping[str, Any]) -> bool:
    value = number(dig(record, *_REDUCTION))
    return value is not None and value < 0


def cost_reduction_by_sector(
    records: Sequence[Mapping[str, Any]],
) -> tuple[tuple[GroupStat, ...], GroupStat, GroupStat | None]:
    """Cost reduction per enterprise sector, overall (enterprise), and the benchmark; a
    negative reduction (the student costs more) is in none (see :func:`left_out_records`)."""
    records = [r for r in records if not _negative_cost(r) and not per_token(r)]
    enterprise = [r for r in records if r["sector"] != BENCHMARK]
    bench = [r for r in records if r["sector"] == BENCHMARK]
    groups = _grouped(enterprise, "sector", _REDUCTION)
    sectors = tuple(group_stat(s, *groups[s]) for s in _ordered(groups, SECTOR_ORDER))
    benchmark = _pooled(BENCHMARK, bench, _REDUCTION) if bench else None
    return sectors, _pooled("overall", enterprise, _REDUCTION), benchmark


def retention_by_family(
    records: Sequence[Mapping[str, Any]],
) -> tuple[GroupStat, tuple[GroupStat, ...], GroupStat | None]:
    """Accuracy retention overall (enterprise), per family (enterprise), and the benchmark,
    over classification systems only: a regression's retention is a ratio of errors and an
    embedding's is retrieval fidelity (:func:`retention_regression`,
    :func:`retrieval_fidelity`)."""
    tasks = [
        r
        for r in records
        if r.get("problem", "classification") == "classification"
        and not is_suspect(r)
        and not per_token(r)
    ]
    enterprise = [r for r in tasks if r["sector"] != BENCHMARK]
    bench = [r for r in tasks if r["sector"] == BENCHMARK]
    groups = _grouped(enterprise, "family", _RETENTION)
    families = tuple(group_stat(f, *groups[f]) for f in _ordered(groups, FAMILY_ORDER))
    benchmark = _pooled(BENCHMARK, bench, _RETENTION) if bench else None
    return _pooled("overall", enterprise, _RETENTION), families, benchmark


def retrieval_fidelity(records: Sequence[Mapping[str, Any]]) -> GroupStat | None:
    """Retention of the embedding systems (recall@k of the teacher's neighbours), apart."""
    embedding = [r for r in records if r.get("problem") == "embedding" and not is_suspect(r)]
    return _pooled("embedding", embedding, _RETENTION) if embedding else None


def retention_regression(records: Sequence[Mapping[str, Any]]) -> GroupStat | None:
    """Retention of the regression systems (teacher error ÷ student error), kept apart."""
    regression = [r for r in records if r.get("problem") == "regression" and not is_suspect(r)]
    return _pooled("regression", regression, _RETENTION) if regression else None


def _tally(counts: dict[tuple[str, str], list[int]], key: tuple[str, str], status: str) -> None:
    """[passed, total, not measured, failed] of one (family, gate)."""
    tally = counts.setdefault(key, [0, 0, 0, 0])
    tally[1] += 1
    tally[{"pass": 0, "not measured": 2}.get(status, 3)] += 1


def gate_counts(records: Sequence[Mapping[str, Any]]) -> tuple[GateCount, ...]:
    """Counts of every gate's statuses, per family, over the records that evaluated gates."""
    counts: dict[tuple[str, str], list[int]] = {}
    for r in records:
        statuses = [gate_status(g) for g in (r.get("gates") or ()) if isinstance(g, Mapping)]
        names = [str(g.get("name")) for g in (r.get("gates") or ()) if isinstance(g, Mapping)]
        for name, status in zip(names, statuses, strict=True):
            _tally(counts, (r["family"], name), status)
        if statuses:
            overall = "fail" if "fail" in statuses else (
                "not measured" if "not measured" in statuses else "pass")  # fmt: skip
            _tally(counts, (r["family"], "all"), overall)
    out: list[GateCount] = []
    for family in _ordered((f for f, _ in counts), FAMILY_ORDER):
        names = [*sorted(n for f, n in counts if f == family and n != "all"), "all"]
        out.extend(GateCount(family, n, *counts[(family, n)]) for n in names)
    return tuple(out)


def _excluded(r: Mapping[str, Any], reason: str) -> Excluded:
    keys = ("system", "sector", "method", "family", "status")
    return Excluded(**{k: str(r[k]) for k in keys}, reason=reason)


def excluded_records(
    records: Sequence[Mapping[str, Any]],
) -> tuple[tuple[Excluded, ...], tuple[Excluded, ...]]:
    """(not-applicable and failed records, ok records missing a cost or retention figure)."""
    excluded = tuple(
        _excluded(r, str(r.get("reason") or "no reason recorded"))
        for r in records
        if r["status"] != "ok"
    )
    incomplete = []
    for r in (r for r in records if r["status"] == "ok"):
        paths = (("cost reduction", _REDUCTION), ("retention", _RETENTION))
        missing = [what for what, path in paths if number(dig(r, *path)) is None]
        if missing:
            incomplete.append(
                _excluded(r, f"status ok but no {' or '.join(missing)} in the record")
            )
    return excluded, tuple(incomplete)


def left_out_records(records: Sequence[Mapping[str, Any]]) -> tuple[Excluded, ...]:
    """Distillation records left out of the retention statistics (a suspect retention), of
    the cost statistics (a negative cost reduction) or of both (costs per output token),
    each with its value or reason."""
    out = []
    for r in (r for r in records if is_distillation(r)):
        if per_token(r):
            reason = ("an LLM student: cost per output token and agreement with its LLM "
                      "teacher, not per prediction (its own table)")  # fmt: skip
            out.append(_excluded(r, reason))
            continue
        if is_suspect(r):
            value = number(dig(r, *_RETENTION))
            low, high = SUSPECT_RETENTION
            reason = f"retention {value:.1%} is suspect (outside [{low:.0%}, {high:.0%}])"
            out.append(_excluded(r, reason))
        if _negative_cost(r):
            value = number(dig(r, *_REDUCTION))
            out.append(_excluded(r, f"cost reduction {value:.1%} is negative (student costs more)"))
    return tuple(out)


def _check(records: Sequence[Mapping[str, Any]]) -> None:
    if not records:
        raise StoreError(
            "Cannot summarise a study without records: got an empty list. "
            "Run 'potstill study FLEET.yaml --out DIR' or 'potstill demo' first."
        )
    for i, r in enumerate(records):
        if not isinstance(r, Mapping):
            raise StoreError(f"Record #{i} must be a JSON object. Got {type(r).__name__} instead.")
        missing = [k for k in _REQUIRED if not isinstance(r.get(k), str)]
        if missing:
            raise StoreError(
                f"Record #{i} (system {r.get('system')!r}, method {r.get('method')!r}) lacks "
                f"the text field(s) {missing}; every record needs {list(_REQUIRED)}. "
                "Delete it and rerun the study to recompute it."
            )


def summarise(records: Sequence[Mapping[str, Any]]) -> StudySummary:
    """Every fleet-level figure of the report, from the record dicts of one study."""
    _check(records)
    sectors, cost_overall, cost_benchmark = cost_reduction_by_sector(records)
    retention_overall, families, retention_benchmark = retention_by_family(records)
    excluded, incomplete = excluded_records(records)
    return StudySummary(
        n_records=len(records),
        systems=tuple(sorted({str(r["system"]) for r in records})),
        cost_by_sector=sectors,
        cost_overall=cost_overall,
        cost_benchmark=cost_benchmark,
        retention_overall=retention_overall,
        retention_by_family=families,
        retention_benchmark=retention_benchmark,
        comparisons=distill_vs_scratch(records),
        gates=gate_counts(records),
        excluded=excluded,
        incomplete=incomplete,
        retention_retrieval=retrieval_fidelity(records),
        retention_regression=retention_regression(records),
        left_out=left_out_records(records),
    )
