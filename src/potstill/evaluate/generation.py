"""How close a student LLM's generations are to its teacher's: ROUGE-L and token agreement.

Both compare one student generation with the teacher's for the same prompt (greedy decoding,
the same maximum number of new tokens), the teacher's being the reference:

* :func:`rouge_l` — the ROUGE-L F-measure (longest common subsequence of words, Lin 2004)
  from the ``rouge-score`` package with its default tokenizer (lower-cased, every
  character other than a-z and 0-9 splits words, no stemming). The package scores 0 when
  either text has no word, two empty texts included.
* :func:`token_agreement` — the share of positions where the two greedy token sequences
  hold the same token, over the longer sequence (a position one sequence did not reach
  counts as a disagreement; two empty sequences agree fully).

:func:`completion_tokens` cuts a generation at its first end-of-sequence token, and
:func:`generation_agreement` averages both scores over prompts and counts the empty
generations (an end-of-sequence token first), which score ROUGE-L 0 even when both are empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from potstill.errors import DataError, missing_dependency

__all__ = ["completion_tokens", "generation_agreement", "rouge_l", "token_agreement"]


def _scorer() -> Any:
    try:
        from rouge_score import rouge_scorer  # optional: the [llm] extra (imports nltk)
    except ImportError as exc:
        raise missing_dependency("rouge-score", "llm", "ROUGE-L of generated summaries") from exc
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(reference: str, candidate: str) -> float:
    """ROUGE-L F-measure of ``candidate`` against ``reference`` (``rouge-score``)."""
    return float(_scorer().score(reference, candidate)["rougeL"].fmeasure)


def token_agreement(reference: Sequence[int], candidate: Sequence[int]) -> float:
    """Share of positions, over the longer sequence, holding the same token in both."""
    longest = max(len(reference), len(candidate))
    if longest == 0:
        return 1.0
    same = sum(int(a) == int(b) for a, b in zip(reference, candidate, strict=False))
    return same / longest


def completion_tokens(
    ids: Sequence[Sequence[int]], completion_mask: Sequence[Sequence[int]], eos: Sequence[int]
) -> list[list[int]]:
    """Each row's generated tokens (mask 1), cut before its first end-of-sequence token."""
    stop = {int(e) for e in eos}
    rows = []
    for row, mask in zip(ids, completion_mask, strict=True):
        tokens = [int(t) for t, m in zip(row, mask, strict=True) if int(m)]
        end = next((i for i, t in enumerate(tokens) if t in stop), len(tokens))
        rows.append(tokens[:end])
    return rows


def generation_agreement(
    reference_texts: Sequence[str],
    candidate_texts: Sequence[str],
    reference_tokens: Sequence[Sequence[int]],
    candidate_tokens: Sequence[Sequence[int]],
) -> dict[str, Any]:
    """Mean ROUGE-L F and mean token agreement of candidates against references, per prompt."""
    n = len(reference_texts)
    if not n or {len(candidate_texts), len(reference_tokens), len(candidate_tokens)} != {n}:
        raise DataError(
            "generation_agreement needs one candidate text and token list per reference, at "
            f"least one. Got {n} references, {len(candidate_texts)} candidate texts, "
            f"{len(reference_tokens)} and {len(candidate_tokens)} token lists."
        )
    scorer = _scorer()
    rouge = [
        scorer.score(r, c)["rougeL"].fmeasure
        for r, c in zip(reference_texts, candidate_texts, strict=True)
    ]
    tokens = [
        token_agreement(r, c) for r, c in zip(reference_tokens, candidate_tokens, strict=True)
    ]
    return {
        "rouge_l_f": float(np.mean(rouge)),
        "token_agreement": float(np.mean(tokens)),
        "n": n,
        "empty_references": sum(not t for t in reference_tokens),
        "empty_candidates": sum(not t for t in candidate_tokens),
    }
