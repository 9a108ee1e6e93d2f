"""What an embedding student kept: does it retrieve the same neighbours as its teacher?

An embedding service has no labels to score; its users see the neighbours it returns
(search, deduplication, retrieval-augmented generation). So the primary figure of an
embedding system is **retrieval fidelity**: for each held-out text, the fraction of the
teacher's k nearest neighbours (cosine, the text itself excluded) that the student also
puts in its top k — recall@k against the teacher. The teacher's own value is 1 by
definition, so retention equals the student's recall@k.

Neighbours are searched once, over the whole test set, for both models. The paired
bootstrap then resamples *queries* (each text's hit fraction), the usual query-level
interval of an IR metric. Two secondary fidelity figures: the mean cosine between the
student's and the teacher's embedding of the same text (only when both have the same
width), and the Spearman correlation of all pairwise cosine similarities (one value: its
O(n²) pairs are not resampled).

The similarity agreement is also a registered metric of the ``embedding`` problem,
``similarity_spearman`` (teacher embeddings first): the training loop validates an
embedding student on it.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from potstill._validation import check_scalar
from potstill.errors import DataError
from potstill.evaluate.bootstrap import estimate, paired_bootstrap
from potstill.evaluate.config import EvalConfig
from potstill.evaluate.metrics import register_metric
from potstill.types import Estimate, Quality

__all__ = [
    "cosine_agreement",
    "evaluate_embeddings",
    "recall_metric_name",
    "retrieval_hits",
    "retrieval_recall",
    "similarity_agreement",
]


def recall_metric_name(k: int) -> str:
    """The name an embedding system's primary metric carries in records: ``recall@k``."""
    return f"recall@{k}"


def _neighbours(emb: np.ndarray, k: int) -> np.ndarray:
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(emb)
    found = index.kneighbors(emb, return_distance=False)
    rows = [[j for j in row if j != i][:k] for i, row in enumerate(found)]
    return np.asarray(rows, dtype=np.int64)


def retrieval_hits(teacher_emb: np.ndarray, student_emb: np.ndarray, k: int = 10) -> np.ndarray:
    """Per text: |student top-k ∩ teacher top-k| / k (cosine, self excluded), float64 (n,)."""
    t, s = np.asarray(teacher_emb), np.asarray(student_emb)
    check_scalar(k, "k", owner="retrieval_recall", ge=1, integer=True)
    if t.ndim != 2 or s.ndim != 2:
        raise DataError(
            f"Retrieval fidelity needs (n, D) embeddings. Got shapes {t.shape} and {s.shape}."
        )
    if len(t) != len(s) or len(t) < k + 1:
        raise DataError(
            f"retrieval_recall needs the same texts embedded by both models and more than k={k} "
            f"of them. Got {len(t)} teacher and {len(s)} student rows."
        )
    t_nn, s_nn = _neighbours(t, k), _neighbours(s, k)
    hits = [len(set(a) & set(b)) for a, b in zip(t_nn.tolist(), s_nn.tolist(), strict=True)]
    return np.asarray(hits, dtype=np.float64) / k


def retrieval_recall(teacher_emb: np.ndarray, student_emb: np.ndarray, k: int = 10) -> float:
    """Mean over texts of |student top-k ∩ teacher top-k| / k (cosine, self excluded)."""
    return float(np.mean(retrieval_hits(teacher_emb, student_emb, k)))


def _row_cosines(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    t, s = np.asarray(t, np.float64), np.asarray(s, np.float64)
    num = (t * s).sum(axis=1)
    den = np.linalg.norm(t, axis=1) * np.linalg.norm(s, axis=1)
    return np.asarray(num / np.maximum(den, 1e-12))


def cosine_agreement(teacher_emb: np.ndarray, student_emb: np.ndarray) -> float | None:
    """Mean cosine of each text's two embeddings; None when the widths differ."""
    if np.shape(teacher_emb) != np.shape(student_emb):
        return None
    return float(np.mean(_row_cosines(teacher_emb, student_emb)))


def similarity_agreement(teacher_emb: np.ndarray, student_emb: np.ndarray) -> float:
    """Spearman correlation of the pairwise cosine similarities (i < j) of both models."""

    def sims(e: np.ndarray) -> np.ndarray:
        e = np.asarray(e, np.float64)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return np.asarray((e @ e.T)[np.triu_indices(len(e), k=1)])

    return float(spearmanr(sims(teacher_emb), sims(student_emb)).statistic)


@register_metric(
    "similarity_spearman",
    higher_is_better=True,
    problem="embedding",
    description="Spearman correlation of the pairwise cosine similarities (any widths).",
)
def _similarity(teacher_emb: np.ndarray, student_emb: np.ndarray) -> float:
    return similarity_agreement(teacher_emb, student_emb)


def evaluate_embeddings(
    teacher_emb: np.ndarray, student_emb: np.ndarray, config: EvalConfig, *, k: int = 10
) -> Quality:
    """Retrieval fidelity (recall@k vs the teacher) with a query-level paired bootstrap,
    recall@1 as a secondary figure, cosine and similarity agreement as fidelity."""
    hits = retrieval_hits(teacher_emb, student_emb, k)
    hits1 = retrieval_hits(teacher_emb, student_emb, 1)
    n = len(hits)
    same_width = np.shape(teacher_emb) == np.shape(student_emb)
    cosines = _row_cosines(teacher_emb, student_emb) if same_width else None

    def statistic(rows: np.ndarray) -> list[float]:
        cos = float(np.mean(cosines[rows])) if cosines is not None else np.nan
        return [float(np.mean(hits[rows])), cos]

    samples = (
        paired_bootstrap(statistic, n, n_resamples=config.n_resamples, seed=config.seed)
        if config.n_resamples
        else None
    )
    level = config.level

    def est(value: float, column: int) -> Estimate:
        return estimate(value, None if samples is None else samples[:, column], n=n, level=level)

    recall = est(float(np.mean(hits)), 0)
    one = Estimate(value=1.0, low=1.0, high=1.0, n=n, level=None)
    diff = Estimate(
        value=recall.value - 1.0,
        low=None if recall.low is None else recall.low - 1.0,
        high=None if recall.high is None else recall.high - 1.0,
        n=n,
        level=recall.level,
    )
    fidelity = {
        "similarity_spearman": Estimate(value=similarity_agreement(teacher_emb, student_emb), n=n)
    }
    if cosines is not None:
        fidelity["cosine"] = est(float(np.mean(cosines)), 1)
    return Quality(
        metric=recall_metric_name(k),
        higher_is_better=True,
        teacher=one,
        student=recall,
        retention=recall,  # the teacher's recall against itself is 1
        difference=diff,
        n_test=n,
        secondary={"recall@1": {"teacher": 1.0, "student": float(np.mean(hits1))}},
        fidelity=fidelity,
    )
