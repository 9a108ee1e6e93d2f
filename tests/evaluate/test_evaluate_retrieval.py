"""Retrieval fidelity of an embedding student: per-query hits, the query-level bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.errors import DataError
from potstill.evaluate import EvalConfig, evaluate_embeddings, retrieval_hits
from potstill.evaluate.bootstrap import resample_indices


def on_circle(angles: list[float]) -> np.ndarray:
    a = np.asarray(angles)
    return np.stack([np.cos(a), np.sin(a)], axis=1)


TEACHER = on_circle([0, 0.1, 0.32, 0.6, 1.0, 1.5])  # nearest: 1, 0, 1, 2, 3, 4
STUDENT = on_circle([0, 0.5, 0.6, 0.65, 1.0, 1.5])  # nearest: 1, 2, 3, 2, 3, 4


def test_hits_are_counted_per_query() -> None:
    np.testing.assert_array_equal(retrieval_hits(TEACHER, STUDENT, k=1), [1, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(retrieval_hits(TEACHER, TEACHER, k=3), np.ones(6))
    with pytest.raises(DataError, match=r"\(n, D\) embeddings"):
        retrieval_hits(TEACHER[:, 0], STUDENT[:, 0], k=1)


def test_quality_of_an_embedding_student() -> None:
    config = EvalConfig(n_resamples=300, seed=3)
    q = evaluate_embeddings(TEACHER, STUDENT, config, k=1)
    assert q.metric == "recall@1" and q.higher_is_better and q.n_test == 6
    assert q.teacher.value == 1.0 and q.student.value == pytest.approx(4 / 6)
    assert q.retention == q.student
    assert q.difference.value == pytest.approx(4 / 6 - 1)
    # the interval is a percentile interval over resampled queries, seeded
    hits = np.array([1, 0, 0, 1, 1, 1], dtype=float)
    means = [hits[rows].mean() for rows in resample_indices(6, 300, 3)]
    low, high = np.quantile(means, [0.025, 0.975])
    assert (q.student.low, q.student.high) == pytest.approx((low, high))
    assert q.difference.low == pytest.approx(low - 1)
    cos = np.cos([0, 0.4, 0.28, 0.05, 0, 0]).mean()
    assert q.fidelity["cosine"].value == pytest.approx(cos)
    assert q.secondary["recall@1"]["student"] == pytest.approx(4 / 6)


def test_identical_and_differently_sized_students() -> None:
    same = evaluate_embeddings(TEACHER, TEACHER, EvalConfig(n_resamples=50), k=2)
    assert (same.student.value, same.student.low, same.student.high) == (1.0, 1.0, 1.0)
    assert same.fidelity["similarity_spearman"].value == pytest.approx(1.0)
    wide = np.concatenate([STUDENT, np.zeros((6, 1))], axis=1)
    q = evaluate_embeddings(TEACHER, wide, EvalConfig(n_resamples=0), k=1)
    assert "cosine" not in q.fidelity  # different spaces: no per-text cosine
    assert q.student.value == pytest.approx(4 / 6) and q.student.low is None
