"""LLM → smaller-LLM systems in a study: cost per token, quality, records.

The teacher and every student of the system are timed together
(:func:`~potstill.costs.llm_tokens.measure_tokens`: greedy generation of
``student.llm.bench_new_tokens`` tokens from the system's question about the first test
texts, KV cache on, batch 1, the models taking turns) under the executor's bench guard.
Each record's costs are per token: ``usd_per_million`` and ``teacher_usd_per_million``
are $ per million output tokens on the fleet's instance, and ``reduction`` compares the
decode cost per token (1 - teacher decode tokens/s / student decode tokens/s), all from
that one session. The full per-token figures of both models are in ``costs.extra.tokens``.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from potstill.config import SystemPlan
from potstill.costs import PriceCatalog
from potstill.costs.environment import git_revision
from potstill.costs.llm_tokens import measure_tokens, priced
from potstill.costs.prices import PriceEntry
from potstill.costs.stats import StopRule
from potstill.evaluate import apply_gates
from potstill.events import stage
from potstill.models.llm import causal_lm_info
from potstill.models.llm_label import LLMLabelBackend
from potstill.models.teacher import Teacher
from potstill.results.store import ResultStore
from potstill.study.context import SystemContext
from potstill.study.error_info import error_info, failure_reason, log_failure
from potstill.study.llm_students import (
    LLMCell,
    llm_quality,
    prompts_of,
    student_probs,
    student_summary,
    train_llm_cells,
    with_gain_over_scratch,
)
from potstill.study.llm_summary import summary_scores, with_summaries
from potstill.study.resume import write_marker
from potstill.types import Costs, Quality, RunRecord, Task

__all__ = ["run_llm_students_system"]


def _token_costs(
    plan: SystemPlan, ctx: SystemContext, backend: LLMLabelBackend, task: Task, ok: list[LLMCell]
) -> dict[str, dict[str, Any]]:
    """Per-token figures of the teacher and each trained student, one interleaved session."""
    spec, bench = plan.spec.student.llm, plan.bench
    assert spec is not None  # only student.llm systems come here
    tok = backend.tokenizer
    texts = prompts_of(backend, task.test.X[: spec.bench_prompts])
    prompts = [tok(t, return_tensors="pt", add_special_tokens=False)["input_ids"] for t in texts]
    models = [("teacher", backend.model)]
    models += [(c.entry.label, c.student) for c in ok if c.student is not None]
    rule = StopRule(spec.bench_generations, bench.min_seconds, bench.max_seconds)
    threads = torch.get_num_threads()
    torch.set_num_threads(bench.threads)
    try:
        with ctx.bench_guard(), stage(ctx.events, plan.name, "bench") as st:
            rows = measure_tokens(models, prompts, new_tokens=spec.bench_new_tokens, rule=rule)
            st.outcome = f"{len(rows)} models, {spec.bench_new_tokens} new tokens per generation"
    finally:
        torch.set_num_threads(threads)
    return {row["name"]: row for row in rows}


def _costs(teacher: dict[str, Any], student: dict[str, Any], price: PriceEntry) -> Costs:
    """Money per million output tokens; the reduction compares decode cost per token."""
    usd = {n: priced(r["output_tokens_per_s"], [price], "tokens")[price.id]
           for n, r in (("teacher", teacher), ("student", student))}  # fmt: skip
    decode_ratio = teacher["decode_tokens_per_s"] / student["decode_tokens_per_s"]
    itl = student["itl_ms"]["p50_ms"] / teacher["itl_ms"]["p50_ms"]
    memory = student["peak_memory_bytes"] / teacher["peak_memory_bytes"]
    return Costs(
        instance=price.as_record(),
        usd_per_million=usd["student"], teacher_usd_per_million=usd["teacher"],
        reduction=1.0 - decode_ratio, latency_reduction=1.0 - itl, memory_reduction=1.0 - memory,
        extra={"decode_cost_vs_teacher": decode_ratio,
               "tokens": {"teacher": teacher, "student": student}},
        unit="output token",
    )  # fmt: skip


def _record(
    plan: SystemPlan, ctx: SystemContext, task: Task, teacher: dict[str, Any], cell: LLMCell,
    quality: Quality | None, costs: Costs | None, timings: dict[str, float],
) -> RunRecord:  # fmt: skip
    judged = quality is not None and cell.status == "ok"
    return RunRecord(
        system=plan.name, sector=task.sector, kind=task.kind, problem=task.problem,
        method=cell.entry.label, family=cell.family, status=cell.status,  # type: ignore[arg-type]
        seed=plan.seed, config_hash=ctx.config_hash,
        system_hash=ctx.system_hashes.get(plan.name, ""),
        variant=plan.variant.model_dump() if plan.variant is not None else None,
        dataset=replace(task.info, n_classes=task.n_classes), reason=cell.reason,
        error=cell.error, teacher=teacher, student=student_summary(cell), quality=quality,
        costs=costs, gates=apply_gates(quality, plan.gates) if judged and quality else [],
        timings=timings, environment=ctx.environment, git_revision=git_revision(),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )  # fmt: skip


def _price(ctx: SystemContext) -> PriceEntry:
    prices = ctx.fleet.prices
    return PriceCatalog.load(prices.override).get(prices.instance)


def _measure(
    plan: SystemPlan, ctx: SystemContext, task: Task, teacher: Teacher, cells: list[LLMCell],
    backend: LLMLabelBackend, timings: dict[str, float],
) -> tuple[dict[str, Quality], dict[str, dict[str, Any]]]:  # fmt: skip
    """Each trained student's quality on the test texts, then every model's token costs."""
    ok = [c for c in cells if c.status == "ok" and c.student is not None]
    t0 = time.perf_counter()
    t_probs = np.asarray(
        teacher.predict_scores(task.test.X)
    )  # memoised: each text through the LLM once
    prompts = prompts_of(backend, task.test.X)
    qualities, probs = {}, {}
    for c in ok:
        assert c.student is not None  # filtered above
        probs[c.entry.label] = student_probs(backend, c.student, prompts)
        qualities[c.entry.label] = llm_quality(plan, task, t_probs, probs[c.entry.label])
    qualities = with_gain_over_scratch(plan, qualities, probs, t_probs)
    spec = plan.spec.student.llm
    if spec is not None and spec.summary_texts and ok:
        with stage(ctx.events, plan.name, "evaluate", "summaries") as st:
            students = {c.entry.label: c.student for c in ok if c.student is not None}
            scores = summary_scores(spec, backend, task.test.X, students)
            qualities = with_summaries(qualities, scores)
            st.outcome = f"{min(spec.summary_texts, len(task.test.X))} texts per model"
    timings["evaluate_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tokens = _token_costs(plan, ctx, backend, task, ok) if ok else {}
    timings["bench_s"] = time.perf_counter() - t0
    return qualities, tokens


def run_llm_students_system(
    plan: SystemPlan, ctx: SystemContext, task: Task, teacher: Teacher,
    teacher_info: dict[str, Any], timings: dict[str, float],
) -> list[RunRecord]:  # fmt: skip
    """Train, score and time every cell of a ``student.llm`` system; write its records."""
    write_marker(ctx.out, plan.name, ctx.system_hashes.get(plan.name, ""))
    t0 = time.perf_counter()
    cells, backend = train_llm_cells(plan, task, teacher, ctx.out, ctx.events)
    timings["train_s"] = time.perf_counter() - t0
    qualities, tokens = _measure(plan, ctx, task, teacher, cells, backend, timings)
    price = _price(ctx)
    described = {**teacher.describe(), **teacher_info, "llm": causal_lm_info(backend.model)}
    records = []
    for c in cells:
        costs = None
        if c.status == "ok" and c.entry.label in tokens:
            try:
                costs = _costs(tokens["teacher"], tokens[c.entry.label], price)
            except Exception as exc:  # one student's pricing never costs the others
                log_failure(f"{plan.name}/{c.entry.label} (pricing)", exc)
                c.status, c.reason, c.error = "failed", failure_reason(exc), error_info(exc)
        cell_timings = {**timings, **({"train_s": c.info["train"]["train_s"]}
                                      if c.info.get("train") else {})}  # fmt: skip
        records.append(_record(plan, ctx, task, described, c, qualities.get(c.entry.label),
                               costs, cell_timings))  # fmt: skip
    store = ResultStore(ctx.out)
    for r in records:
        store.write(r)
    return records
