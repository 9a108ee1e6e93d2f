"""Distillation against training the student from scratch, per system.

The paper's central question for a single system: did the teacher help? The same student
architecture, from the same initial weights, trained by the same loop on labels only, is
the control. Each distilled record carries the paired bootstrap of its gain over that
control on the same test rows (``quality.versus_scratch``, :mod:`potstill.evaluate.verdict`)
and its verdict; the best distilled student (by test metric) gets a verdict corrected for
being the best of the system's k methods (Holm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from potstill.evaluate import gate_status
from potstill.evaluate.verdict import NOT_MEASURED, best_of_k, holm, verdict
from potstill.results.recordview import dig, estimate
from potstill.types import Estimate

__all__ = [
    "MethodVerdict",
    "SystemComparison",
    "best_student",
    "distill_vs_scratch",
    "method_verdicts",
    "passes_gates",
]


@dataclass(frozen=True)
class MethodVerdict:
    """One distilled student against the from-scratch one (paired, same test rows)."""

    method: str
    family: str
    gain: Mapping[str, Any] | None  # the record's quality.versus_scratch
    verdict: str
    p_holm: float | None  # p_helped, Holm-adjusted over the system's k methods


@dataclass(frozen=True)
class SystemComparison:
    """Best distilled student of one system against its from-scratch student."""

    system: str
    sector: str
    metric: str
    higher_is_better: bool
    scratch: Estimate | None  # the scratch student's test metric
    scratch_retention: Estimate | None
    best_method: str | None
    best_family: str | None
    best: Estimate | None  # the best distilled student's test metric
    best_retention: Estimate | None
    difference: float | None  # best - scratch, in metric units
    gain: Mapping[str, Any] | None  # the best's paired gain over scratch (versus_scratch)
    verdict: str  # the best's own verdict, uncorrected
    corrected_verdict: str  # the best's verdict, corrected for best of k (Holm)
    p_holm: float | None  # the best's Holm-adjusted one-sided p-value
    methods: tuple[MethodVerdict, ...] = ()  # every distilled student with a metric
    note: str = ""  # why a comparison is missing


def _gain(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    gain = dig(record, "quality", "versus_scratch")
    return gain if isinstance(gain, Mapping) and gain.get("value") is not None else None


def method_verdicts(records: Sequence[Mapping[str, Any]]) -> tuple[MethodVerdict, ...]:
    """Each distilled record's verdict, with p_helped Holm-adjusted over the k records
    that have one."""
    gains = {r["method"]: g for r in records if (g := _gain(r)) is not None}
    measured = [m for m, g in gains.items() if g.get("p_helped") is not None]
    adjusted = dict(zip(measured, holm([float(gains[m]["p_helped"]) for m in measured]),
                        strict=True))  # fmt: skip
    return tuple(
        MethodVerdict(
            method=str(r["method"]),
            family=str(r["family"]),
            gain=gains.get(r["method"]),
            verdict=verdict(*(dig(r, "quality", "versus_scratch", k) for k in ("low", "high"))),
            p_holm=adjusted.get(r["method"]),
        )
        for r in records
    )


def _compare(system: str, recs: Sequence[Mapping[str, Any]]) -> SystemComparison:
    measured = [
        (r, e)
        for r in recs
        if r["status"] == "ok" and (e := estimate(dig(r, "quality", "student")))
    ]
    scratch, s_est = next(((r, e) for r, e in measured if r["family"] == "baseline"), (None, None))
    distilled = [(r, e) for r, e in measured if r["family"] != "baseline"]
    first = scratch or (distilled[0][0] if distilled else recs[0])
    hib = bool(dig(first, "quality", "higher_is_better", default=True))
    sign = 1.0 if hib else -1.0
    best, b_est = max(distilled, key=lambda pair: sign * pair[1].value, default=(None, None))
    methods = method_verdicts([r for r, _ in distilled])
    gains = {m.method: m.gain for m in methods if m.gain is not None}
    note, difference = "", None
    _, p_holm, corrected = best_of_k(gains, best["method"]) if best else (None, None, "")
    if s_est is None:
        note = "no ok from-scratch student with a measured metric"
    elif b_est is None:
        note = "no ok distilled student with a measured metric"
    else:
        difference = b_est.value - s_est.value
        if best is not None and best["method"] not in gains:
            note = "no paired comparison with scratch in the record"
    own = next((m.verdict for m in methods if best and m.method == best["method"]), "")
    return SystemComparison(
        system=system,
        sector=str(first["sector"]),
        metric=str(dig(first, "quality", "metric", default="")),
        higher_is_better=hib,
        scratch=s_est,
        scratch_retention=estimate(dig(scratch, "quality", "retention")) if scratch else None,
        best_method=best["method"] if best else None,
        best_family=best["family"] if best else None,
        best=b_est,
        best_retention=estimate(dig(best, "quality", "retention")) if best else None,
        difference=difference,
        gain=gains.get(best["method"]) if best else None,
        verdict=own or NOT_MEASURED,
        corrected_verdict=corrected or NOT_MEASURED,
        p_holm=p_holm,
        methods=methods,
        note=note,
    )


def distill_vs_scratch(records: Sequence[Mapping[str, Any]]) -> tuple[SystemComparison, ...]:
    """Per system: the best distilled student (by test metric) against the scratch one."""
    by_system: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_system.setdefault(r["system"], []).append(r)
    return tuple(_compare(s, by_system[s]) for s in sorted(by_system))


def passes_gates(record: Mapping[str, Any]) -> bool:
    """Whether no gate of an ``ok`` record failed (a record without gates passes; a gate
    that was not measured fails only under gates.strict, which stored it as failed)."""
    gates = [g for g in record.get("gates") or () if isinstance(g, Mapping)]
    return record["status"] == "ok" and all(gate_status(g) != "fail" for g in gates)


def best_student(records: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any] | None, bool]:
    """The student a system's headline and waterfall follow, and whether it passes the gates.

    Among the ``ok`` distillation records with a measured test metric, the best by that
    metric that passes every gate (ties: the cheaper one); when none passes, the best by
    metric, with ``False``. A system with only its from-scratch student falls back to it.
    """
    measured = [
        (r, e)
        for r in records
        if r["status"] == "ok" and (e := estimate(dig(r, "quality", "student")))
    ]
    distilled = [(r, e) for r, e in measured if r["family"] != "baseline"] or measured
    if not distilled:
        return None, False
    hib = bool(dig(distilled[0][0], "quality", "higher_is_better", default=True))
    sign = 1.0 if hib else -1.0

    def rank(pair: tuple[Mapping[str, Any], Estimate]) -> tuple[float, float]:
        usd = dig(pair[0], "costs", "usd_per_million")
        cheap = -float(usd) if isinstance(usd, (int, float)) and usd == usd else float("-inf")
        return sign * pair[1].value, cheap

    passing = [pair for pair in distilled if passes_gates(pair[0])]
    best = max(passing or distilled, key=rank)
    return best[0], bool(passing)
