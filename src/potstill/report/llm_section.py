"""The report's table of smaller-LLM students: per-token costs beside agreement.

A record of a ``student.llm`` system prices output tokens, not predictions
(``costs.unit == "output token"``); its per-token figures, measured for teacher and
student in one session, are in ``costs.extra.tokens``. Nothing here computes a statistic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from potstill.report.format import MISSING, esc, md_table, metric, ms, pct, si, usd
from potstill.results.recordview import per_token

__all__ = ["llm_students_section"]

_HEADERS = [
    "System", "Method", "Layers, teacher → student", "Params, teacher → student",
    "Agreement with teacher", "Accuracy vs labels, teacher → student",
    "Decode tok/s, teacher → student", "Decode cost vs teacher", "ITL p50, teacher → student",
    "$/1M output tokens, teacher → student",
]  # fmt: skip


def _pair(teacher: Any, student: Any, fmt: Any) -> str:
    return f"{fmt(teacher)} → {fmt(student)}"


def _tps(x: Any) -> str:
    return metric(x) if x is not None else MISSING


def _row(record: Mapping[str, Any]) -> list[str]:
    extra = record["costs"]["extra"]
    t, s = extra["tokens"]["teacher"], extra["tokens"]["student"]
    quality = record.get("quality") or {}
    accuracy = (quality.get("secondary") or {}).get("accuracy") or {}
    agreement = (quality.get("student") or {}).get("value")
    return [
        esc(record["system"]), esc(record["method"]),
        _pair(t.get("layers"), s.get("layers"), lambda x: str(x) if x is not None else MISSING),
        _pair(t.get("params"), s.get("params"), si),
        pct(agreement), _pair(accuracy.get("teacher"), accuracy.get("student"), metric),
        _pair(t.get("decode_tokens_per_s"), s.get("decode_tokens_per_s"), _tps),
        metric(extra.get("decode_cost_vs_teacher")),
        _pair((t.get("itl_ms") or {}).get("p50_ms"), (s.get("itl_ms") or {}).get("p50_ms"), ms),
        _pair(record["costs"].get("teacher_usd_per_million"),
              record["costs"].get("usd_per_million"), usd),
    ]  # fmt: skip


def _is_llm_student(record: Mapping[str, Any]) -> bool:
    extra = (record.get("costs") or {}).get("extra") or {}
    return per_token(record) and isinstance(extra.get("tokens"), Mapping)


def llm_students_section(records: Sequence[Mapping[str, Any]]) -> str:
    """Markdown for every smaller-LLM record, or "" when the study has none."""
    rows = [_row(r) for r in records if r.get("status") == "ok" and _is_llm_student(r)]
    if not rows:
        return ""
    intro = (
        "## Smaller LLM students (per token)\n\n"
        "Records of `student.llm` systems price output tokens, not predictions: their "
        "`$/1M` and cost reduction in the tables above are per million output tokens, and "
        "the reduction compares decode cost per token (1 − teacher decode tokens/s ÷ student "
        "decode tokens/s), teacher and students timed in one interleaved session (greedy "
        "generation, KV cache, batch 1). Agreement is the share of test texts where the "
        "student answers the system's question as the teacher does. The fleet statistics "
        "(sector cost reductions, retention by family, the paper's claims) leave these "
        "records out: a per-token cost and an agreement do not pool with per-prediction ones."
    )
    return f"{intro}\n\n{md_table(_HEADERS, rows, right=2)}"
