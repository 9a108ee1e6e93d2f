"""The one-sentence summary task of a smaller-LLM system: each student against its teacher.

The sentiment question scores a student by one answer word; a summary asks for free text,
where a smaller LLM drifts most from its teacher. With ``student.llm.summary_texts`` > 0 the
first test texts go to every model with ``student.llm.summary_prompt`` (chat-formatted like
the question when the tokenizer has a template), greedy, at most
``student.llm.summary_new_tokens`` new tokens, and each student's summaries are scored
against the teacher's (:func:`potstill.evaluate.generation.generation_agreement`: ROUGE-L F
and token agreement, and how many generations were empty). The scores go into
``quality.secondary["summary_vs_teacher"]``; they gate nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from torch import nn

from potstill.evaluate.generation import generation_agreement
from potstill.models.llm_label import LLMLabelBackend, render_prompt
from potstill.models.student_spec import LLMStudentSpec
from potstill.train.llm_generate import encode_prompts, greedy_completions
from potstill.types import Quality

__all__ = ["summary_scores", "with_summaries"]


def summary_scores(
    spec: LLMStudentSpec,
    backend: LLMLabelBackend,
    texts: np.ndarray,
    students: Mapping[str, nn.Module],
) -> dict[str, dict[str, Any]]:
    """Per student label, its summaries' agreement with the teacher's; {} without the task."""
    chosen = [str(t) for t in texts[: spec.summary_texts]]
    if not chosen or not students:
        return {}
    tok = backend.tokenizer
    template = backend.template.model_copy(update={"template": spec.summary_prompt})
    prompts = encode_prompts(tok, [render_prompt(template, tok, t) for t in chosen])

    def summaries(model: nn.Module) -> tuple[list[str], list[list[int]]]:
        return greedy_completions(model, tok, prompts, spec.summary_new_tokens, spec.batch_size)

    ref_texts, ref_tokens = summaries(backend.model)
    scores = {}
    for label, student in students.items():
        own_texts, own_tokens = summaries(student)
        scores[label] = {**generation_agreement(ref_texts, own_texts, ref_tokens, own_tokens),
                         "texts": len(chosen), "max_new_tokens": spec.summary_new_tokens}  # fmt: skip
    return scores


def with_summaries(
    qualities: Mapping[str, Quality], scores: Mapping[str, Mapping[str, Any]]
) -> dict[str, Quality]:
    """``qualities`` with each scored student's ``secondary["summary_vs_teacher"]``."""
    return {
        label: replace(q, secondary={**q.secondary, "summary_vs_teacher": dict(scores[label])})
        if label in scores
        else q
        for label, q in qualities.items()
    }
