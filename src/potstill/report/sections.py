"""The results sections of the report, as Markdown: summary, the paper's claims beside
ours, the Results table, distillation vs from-scratch, the per-system table, and the
runs left out.

Every number here is a field of a record or a statistic of :mod:`potstill.results.aggregate`;
the only constants are the paper's figures (:mod:`potstill.report.claims`), which are
printed as the paper's. Each function returns one section, headed ``##``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from potstill.evaluate.verdict import HELPED, HURT, NO_DIFFERENCE
from potstill.report.claims import PAPER_CLAIMS, PAPER_TITLE, Claim
from potstill.report.format import (
    MISSING,
    count,
    esc,
    interval,
    md_table,
    metric,
    pct,
    plural,
    pp,
)
from potstill.report.verdicts import gain_text, methods_table, p_text, verdict_sentence
from potstill.report.waterfalls import size_warnings
from potstill.results.aggregate import (
    BENCHMARK,
    SECTOR_ORDER,
    GroupStat,
    StudySummary,
    SystemComparison,
)

__all__ = [
    "claims_section",
    "comparison_section",
    "excluded_section",
    "results_section",
    "summary_section",
]

Records = Sequence[Mapping[str, Any]]


def _family_medians(summary: StudySummary) -> str:
    parts = [f"{s.group} {pct(s.median)} (n={s.n})" for s in summary.retention_by_family]
    return ", ".join(parts) if parts else "no family had a measured retention"


def _left_out(summary: StudySummary, statistic: str, what: str, of: str = "it") -> str:
    """ " Left out of it: N …" for the records a statistic excluded, or ""."""
    n = summary.left_out_count(statistic)
    if not n:
        return ""
    return f" Left out of {of}: {plural(n, what)} (listed under the runs left out)."


def _figures(summary: StudySummary) -> list[str]:
    """The summary's cost and retention sentences, each saying what it left out."""
    cost, ret, parts = summary.cost_overall, summary.retention_overall, []
    if cost.n:
        parts.append(
            f"Over the {plural(cost.n, 'distillation run')} on "
            f"{plural(cost.n_systems, 'enterprise system')}, the cost per million predictions "
            f"fell by {pct(cost.mean)} on average (sd {pct(cost.sd)}, range "
            f"{pct(cost.minimum)}–{pct(cost.maximum)})."
        )
    else:
        parts.append("No distillation run on an enterprise system has a measured cost reduction.")
    parts[-1] += _left_out(summary, "cost reduction", "negative cost reduction")
    if ret.n:
        parts.append(
            f"The median accuracy retention (classification systems) was {pct(ret.median)} "
            f"(n={ret.n}); per family: {_family_medians(summary)}."
        )
    reg = summary.retention_regression
    if reg is not None and reg.n:
        parts.append(
            f"Regression systems, kept apart (retention = teacher error ÷ student error): "
            f"median {pct(reg.median)} (n={reg.n})."
        )
    suspect = _left_out(summary, "retention", "suspect retention", "every retention figure")
    return [*parts, suspect.strip()] if suspect else parts


def summary_section(records: Records, summary: StudySummary) -> str:
    """One paragraph whose every number comes from the aggregate."""
    sector_of = {r["system"]: r["sector"] for r in records}
    bench = [s for s, sector in sector_of.items() if sector == BENCHMARK]
    per_sector = Counter(sector for sector in sector_of.values() if sector != BENCHMARK)
    order = {s: i for i, s in enumerate(SECTOR_ORDER)}
    sectors = ", ".join(
        f"{s} {n}" for s, n in sorted(per_sector.items(), key=lambda kv: order.get(kv[0], 99))
    )
    statuses = [r["status"] for r in records]
    n_na, n_failed = statuses.count("not_applicable"), statuses.count("failed")
    parts = [
        f"This report covers {plural(summary.n_records, 'run record')} of "
        f"{plural(len(summary.systems), 'system')}: "
        f"{plural(sum(per_sector.values()), 'enterprise system')} ({sectors or 'none'}) and "
        f"{plural(len(bench), 'benchmark system')}, reported separately."
    ]
    parts += _figures(summary)
    parts.append(verdict_sentence(summary))
    parts.append(
        f"{plural(n_na, 'run')} {'was' if n_na == 1 else 'were'} not applicable and "
        f"{n_failed} failed; they are listed with their reasons below. The paper's claims are "
        "set beside these measurements in the next section."
    )
    warnings = size_warnings(records)
    if warnings:
        parts.append(
            f"**Warning: {plural(len(warnings), 'system')} distilled into a student larger "
            "than its teacher (student.allow_larger)**: " + "; ".join(esc(w) for w in warnings)
        )
    text = " ".join(parts)
    return "## Summary\n\n" + text


def _ours(claim: Claim, summary: StudySummary) -> tuple[GroupStat | None, str, str]:
    """Our statistic matching a claim, its text, and the difference to the paper's."""
    if claim.kind == "cost":
        pool = [*summary.cost_by_sector, summary.cost_overall]
    else:
        pool = [summary.retention_overall, *summary.retention_by_family]
    stat = next((s for s in pool if s.group == claim.group and s.n > 0), None)
    if stat is None:
        return None, "not measured", MISSING
    if claim.statistic == "range":
        inside = claim.low is not None and claim.high is not None and stat.mean is not None
        within = inside and claim.low <= stat.mean <= claim.high  # type: ignore[operator]
        verdict = "mean inside the claimed range" if within else "mean outside the claimed range"
        text = (
            f"mean {pct(stat.mean)} ± {pct(stat.sd)}, range {pct(stat.minimum)}–{pct(stat.maximum)}"
        )
        return stat, text, verdict
    ours = stat.median if claim.statistic == "median" else stat.mean
    text = pct(ours) if claim.statistic == "median" else f"{pct(stat.mean)} ± {pct(stat.sd)}"
    diff = ours - claim.value if ours is not None and claim.value is not None else None
    return stat, f"{text} ({claim.statistic})", pp(diff)


def claims_section(summary: StudySummary) -> str:
    """The paper's figures, quoted and labelled, beside the matching measurements."""
    rows = []
    for claim in PAPER_CLAIMS:
        stat, ours, diff = _ours(claim, summary)
        what = "Cost reduction" if claim.kind == "cost" else "Accuracy retention"
        rows.append(
            [f"{what}, {claim.group}", claim.quoted, ours, str(stat.n if stat else 0), diff]
        )
    table = md_table(
        ["Figure", "Paper's claim (quoted)", "Our measurement", "n (runs)", "Ours vs paper"],
        rows,
    )
    return (
        "## The paper's claims beside our measurements\n\n"
        f"The left column quotes *{PAPER_TITLE}*; those figures are the paper's and were not "
        "measured here. Our figures are statistics of this study's records (enterprise "
        "sectors only; the benchmark system is not mixed in).\n\n" + table
    )


def _stat_row(label: str, s: GroupStat, centre: str) -> list[str]:
    main = s.median if centre == "median" else s.mean
    other = s.mean if centre == "median" else s.median
    return [label, str(s.n_systems), str(s.n), pct(main), pct(s.sd), pct(other),
            pct(s.minimum), pct(s.maximum)]  # fmt: skip


def results_section(summary: StudySummary) -> str:
    """The Results table (cost reduction per sector, retention per family), ours."""
    cost_rows = [_stat_row(s.group, s, "mean") for s in summary.cost_by_sector]
    cost_rows.append(_stat_row("Overall (enterprise)", summary.cost_overall, "mean"))
    if summary.cost_benchmark is not None:
        cost_rows.append(_stat_row("Benchmark (separate)", summary.cost_benchmark, "mean"))
    head = ["Systems", "Runs (n)"]
    cost = md_table(
        ["Sector", *head, "Mean reduction", "SD", "Median", "Min", "Max"], cost_rows, right=1
    )
    ret_rows = [_stat_row("Overall (enterprise)", summary.retention_overall, "median")]
    ret_rows += [_stat_row(s.group, s, "median") for s in summary.retention_by_family]
    if summary.retention_benchmark is not None:
        ret_rows.append(_stat_row("Benchmark (separate)", summary.retention_benchmark, "median"))
    if summary.retention_regression is not None:
        label = "Regression systems: error retention (separate)"
        ret_rows.append(_stat_row(label, summary.retention_regression, "median"))
    if summary.retention_retrieval is not None:
        label = "Embedding systems: retrieval fidelity (separate)"
        ret_rows.append(_stat_row(label, summary.retention_retrieval, "median"))
    ret = md_table(
        ["Group", *head, "Median retention", "SD", "Mean", "Min", "Max"], ret_rows, right=1
    )
    return (
        "## Results (measured)\n\n"
        "Cost reduction is each run's `costs.reduction`: 1 − $ per 1M predictions of the "
        "student's cheapest deployment that keeps its quality ÷ that of the teacher's cheapest "
        "measured deployment, on comparable runtimes, both measured on the same machine in the "
        "same run (the runtimes: `results.csv` and the cost waterfalls; a run whose teacher "
        "could not be measured on a comparable runtime has none); retention is "
        "`quality.retention` (student ÷ teacher metric, inverted for lower-is-better metrics). "
        "Accuracy retention pools classification systems only: a regression's retention is "
        "a ratio of errors (teacher RMSE ÷ student RMSE), so it gets its own row and is never "
        "pooled into it, nor compared with the paper's accuracy figures. "
        "An embedding system's retention is its retrieval fidelity (the student's recall@k of "
        "the teacher's neighbours), not a task metric: it gets its own row and is never pooled "
        "into the accuracy retention, nor compared with the paper's. "
        "Statistics are over ok runs of distillation methods (from-scratch baselines "
        "excluded); SD is the sample standard deviation.\n\n"
        f"### Cost reduction per sector\n\n{cost}\n\n"
        f"### Accuracy retention overall and per family\n\n{ret}"
    )


def _verdict_text(c: SystemComparison) -> str:
    if c.scratch is None or c.best is None:
        return f"not compared: {esc(c.note)}"
    if c.note:
        return f"{esc(c.corrected_verdict)} ({esc(c.note)})"
    return esc(c.corrected_verdict)


_EMBEDDING_BASELINE = (
    " An embedding system (metric recall@k: the share of the teacher's k nearest neighbours "
    "the student also returns) has no labels to train on: its baseline is the same student "
    "as built, untrained (a layer-dropped copy starts from the teacher's own layers)."
)


def _is_recall(metric: str) -> bool:
    """Whether ``metric`` is an embedding system's retrieval fidelity (``recall@k``)."""
    return metric.startswith("recall@")


def comparison_section(summary: StudySummary) -> str:
    """Best distilled student vs the from-scratch student of the same system, then every
    distilled student's paired gain and verdict."""
    rows = [
        [esc(c.system), esc(c.sector), esc(c.metric) + ("" if c.higher_is_better else " (↓)"),
         interval(c.scratch, metric),
         f"{interval(c.best, metric)} ({esc(c.best_method)})" if c.best_method else MISSING,
         gain_text(c.gain), pct((c.gain or {}).get("share_above_zero")), p_text(c.p_holm),
         interval(c.scratch_retention), interval(c.best_retention), _verdict_text(c)]
        for c in summary.comparisons
    ]  # fmt: skip
    table = md_table(
        ["System", "Sector", "Metric", "From scratch [CI]", "Best distilled [CI] (method)",
         "Gain over scratch [paired CI]", "Resamples > 0", "Holm p (best of k)",
         "Scratch retention [CI]", "Best retention [CI]", "Verdict (best of k)"],
        rows,
    )  # fmt: skip
    return (
        "## Distillation vs training the student from scratch\n\n"
        "For each system, the distilled student with the best test metric is set against the "
        "same student architecture trained on labels only. *Gain* is distilled − from scratch "
        "in metric units, signed so that + means the distilled student is better ((↓): lower "
        "is better, so the gain is scratch − distilled). Its interval is a paired bootstrap: "
        "both students are scored on the same resampled test rows, which the two students' "
        "separate intervals (in brackets beside their metrics) cannot show. "
        f'The verdict reads the gain\'s interval: "{HELPED}", "{HURT}", else '
        f'"{NO_DIFFERENCE}". Picking the best of a system\'s k methods is optimistic, so the '
        "best's verdict needs its one-sided p-value, Holm-adjusted over the k methods, below "
        "half the interval's miss rate (0.025 for 95% intervals)."
        + (_EMBEDDING_BASELINE if any(_is_recall(c.metric) for c in summary.comparisons) else "")
        + "\n\n"
        + table
        + "\n\n### Every distilled student against scratch\n\n"
        + methods_table(summary)
    )


def excluded_section(summary: StudySummary) -> str:
    """Runs that are not applicable, failed, or lack a figure: listed with their reasons."""
    parts = ["## Runs not applicable, failed or incomplete"]
    head = ["System", "Sector", "Method", "Family", "Status", "Reason"]
    for title, items in (
        ("Not applicable or failed", summary.excluded),
        ("Ok but missing a cost or retention figure", summary.incomplete),
        ("Ok but left out of a statistic (suspect retention, negative cost reduction)",
         summary.left_out),
    ):  # fmt: skip
        rows = [
            [esc(e.system), esc(e.sector), esc(e.method), esc(e.family),
             esc(e.status.replace("_", " ")), esc(e.reason)]
            for e in items
        ]  # fmt: skip
        body = md_table(head, rows) if rows else "None."
        parts.append(f"### {title} ({count(len(rows))})\n\n{body}")
    return "\n\n".join(parts)
