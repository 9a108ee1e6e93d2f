"""ROUGE-L and token agreement of generations, pinned against values computed by hand."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("rouge_score")

from potstill.errors import DataError, MissingDependencyError
from potstill.evaluate.generation import (
    completion_tokens,
    generation_agreement,
    rouge_l,
    token_agreement,
)


def test_rouge_l_is_the_lcs_f_measure() -> None:
    # LCS "the cat on the mat" = 5 words: P = 5/5, R = 5/6, F = 2PR / (P + R) = 10/11
    assert rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(10 / 11)
    # [a b c d] vs [b d a]: LCS "b d" = 2: P = 2/3, R = 2/4, F = 4/7
    assert rouge_l("A B C D", "B D A") == pytest.approx(4 / 7)
    # lower-cased, punctuation splits words
    assert rouge_l("Hello, World!", "hello world") == pytest.approx(1.0)
    assert rouge_l("good drug", "bad pain") == 0.0
    assert rouge_l("", "") == 0.0  # the package scores an empty text 0


def test_token_agreement_counts_positions_over_the_longer_sequence() -> None:
    assert token_agreement([1, 2, 3, 4], [1, 5, 3]) == pytest.approx(2 / 4)
    assert token_agreement([7, 8], [7, 8]) == 1.0
    assert token_agreement([7], []) == 0.0
    assert token_agreement([], []) == 1.0
    assert token_agreement([1, 2], [2, 1]) == 0.0  # same tokens, other positions


def test_completion_tokens_keep_the_generated_part_up_to_eos() -> None:
    ids = [[9, 9, 5, 6, 2, 0], [9, 5, 6, 7, 8, 4]]
    mask = [[0, 0, 1, 1, 1, 0], [0, 1, 1, 1, 1, 1]]
    assert completion_tokens(ids, mask, eos=[2]) == [[5, 6], [5, 6, 7, 8, 4]]
    assert completion_tokens(ids, mask, eos=[2, 5]) == [[], []]


def test_generation_agreement_averages_over_prompts() -> None:
    out = generation_agreement(
        ["the cat sat on the mat", "A B C D"],
        ["the cat on the mat", "B D A"],
        [[1, 2, 3, 4], [7]],
        [[1, 5, 3], [7]],
    )
    assert out["n"] == 2
    assert out["rouge_l_f"] == pytest.approx((10 / 11 + 4 / 7) / 2)
    assert out["token_agreement"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["empty_references"] == out["empty_candidates"] == 0
    empty = generation_agreement(["", "a b"], ["", "a b"], [[], [4, 5]], [[], [4, 5]])
    assert (empty["rouge_l_f"], empty["token_agreement"]) == (0.5, 1.0)
    assert empty["empty_references"] == empty["empty_candidates"] == 1
    with pytest.raises(DataError, match="one candidate text and token list per reference"):
        generation_agreement(["a"], ["a", "b"], [[1]], [[1]])
    with pytest.raises(DataError, match="at least one"):
        generation_agreement([], [], [], [])


def test_missing_rouge_score_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "rouge_score", None)
    with pytest.raises(MissingDependencyError, match=r"potstill\[llm\]"):
        rouge_l("a", "a")
