"""Embedding distillation: a sentence encoder into a smaller one, judged by what it retrieves.

Many enterprise text workloads are not classifiers but embedding services behind search,
deduplication and retrieval-augmented generation. Their "accuracy" is whether the cheaper
encoder finds the same neighbours. :func:`distill_embeddings` trains a student encoder
(fewer layers, initialised from the teacher's, by default) to reproduce the teacher's
sentence embeddings with the DistilBERT cosine loss and the TinyBERT MSE on the embedding
(:mod:`potstill.methods.functional`), plus relation losses from the method registry (RKD by
default, Park et al. 2019) that keep the geometry of each batch. It then measures, on
held-out texts:

- **retrieval fidelity**: recall@k of the student's k nearest neighbours (cosine) against
  the teacher's k nearest neighbours, each text querying all the others;
- **cosine agreement**: mean cosine between the student's and the teacher's embedding of
  the same text (only when both live in the same space, i.e. have the same width);
- **similarity agreement**: Spearman correlation of all pairwise cosine similarities.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.neighbors import NearestNeighbors

from potstill._validation import check_scalar
from potstill.data.text import encode_texts
from potstill.errors import ConfigError, DataError, MethodError
from potstill.methods import BindContext, MethodSpec, create_method, functional, parse_method_specs
from potstill.models.hf import HFClassifier
from potstill.models.hf_students import build_hf_student
from potstill.models.predict import count_params
from potstill.models.text import embed_texts
from potstill.types import Batch, Outputs

__all__ = [
    "EmbeddingResult",
    "cosine_agreement",
    "distill_embeddings",
    "retrieval_recall",
    "similarity_agreement",
]

#: RKD with the paper's 1 : 2 distance : angle ratio (25 : 50), scaled to sit beside the
#: cosine loss of unit-norm embeddings instead of a cross-entropy.
DEFAULT_RELATION = (MethodSpec(name="rkd", params={"distance_weight": 1.0, "angle_weight": 2.0}),)


def _neighbours(emb: np.ndarray, k: int) -> np.ndarray:
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(emb)
    found = index.kneighbors(emb, return_distance=False)
    rows = [[j for j in row if j != i][:k] for i, row in enumerate(found)]
    return np.asarray(rows, dtype=np.int64)


def retrieval_recall(teacher_emb: np.ndarray, student_emb: np.ndarray, k: int = 10) -> float:
    """Mean over texts of |student top-k ∩ teacher top-k| / k (cosine, self excluded)."""
    t, s = np.asarray(teacher_emb), np.asarray(student_emb)
    check_scalar(k, "k", owner="retrieval_recall", ge=1, integer=True)
    if len(t) != len(s) or len(t) < k + 1:
        raise DataError(
            f"retrieval_recall needs the same texts embedded by both models and more than k={k} "
            f"of them. Got {len(t)} teacher and {len(s)} student rows."
        )
    t_nn, s_nn = _neighbours(t, k), _neighbours(s, k)
    hits = [len(set(a) & set(b)) for a, b in zip(t_nn.tolist(), s_nn.tolist(), strict=True)]
    return float(np.mean(hits) / k)


def cosine_agreement(teacher_emb: np.ndarray, student_emb: np.ndarray) -> float | None:
    """Mean cosine of each text's two embeddings; None when the widths differ."""
    t, s = np.asarray(teacher_emb, np.float64), np.asarray(student_emb, np.float64)
    if t.shape != s.shape:
        return None
    num = (t * s).sum(axis=1)
    den = np.linalg.norm(t, axis=1) * np.linalg.norm(s, axis=1)
    return float(np.mean(num / np.maximum(den, 1e-12)))


def similarity_agreement(teacher_emb: np.ndarray, student_emb: np.ndarray) -> float:
    """Spearman correlation of the pairwise cosine similarities (i < j) of both models."""

    def sims(e: np.ndarray) -> np.ndarray:
        e = np.asarray(e, np.float64)
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
        return (e @ e.T)[np.triu_indices(len(e), k=1)]

    rho = spearmanr(sims(teacher_emb), sims(student_emb)).statistic
    return float(rho)


@dataclass(frozen=True, eq=False)
class EmbeddingResult:
    """What embedding distillation produced and what the student kept (held-out texts)."""

    student: HFClassifier = field(repr=False)
    k: int
    recall_at_k: float
    cosine: float | None
    similarity_spearman: float
    n_train: int
    n_test: int
    teacher_params: int
    student_params: int
    student_layers: int
    losses: Mapping[str, float]
    train_seconds: float
    history: Sequence[Mapping[str, float]] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (everything but the module)."""
        return {
            "k": self.k, "recall_at_k": self.recall_at_k, "cosine": self.cosine,
            "similarity_spearman": self.similarity_spearman, "n_train": self.n_train,
            "n_test": self.n_test, "teacher_params": self.teacher_params,
            "student_params": self.student_params, "student_layers": self.student_layers,
            "losses": dict(self.losses), "train_seconds": self.train_seconds,
            "history": list(self.history),
        }  # fmt: skip


def _relations(specs: Sequence[MethodSpec]) -> list[tuple[float, Any]]:
    methods = []
    for spec in specs:
        method = create_method(spec.name, **spec.params)
        if not method.requires <= {"embedding"}:
            raise MethodError(
                f"Method '{spec.name}' needs {sorted(method.requires)}; embedding distillation "
                "feeds relation methods the sentence embeddings only. Use an embedding method "
                "such as 'rkd', 'rkd_distance', 'rkd_angle', 'pkt' or 'cc'."
            )
        methods.append((spec.weight, method))
    return methods


def distill_embeddings(
    teacher: HFClassifier,
    train_texts: np.ndarray | Sequence[str],
    test_texts: np.ndarray | Sequence[str],
    *,
    student: HFClassifier | None = None,
    layers: int = 3,
    cosine_weight: float = 1.0,
    mse_weight: float = 1.0,
    relation: str | Sequence[Any] = DEFAULT_RELATION,
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 1e-4,
    k: int = 10,
    seed: int = 0,
) -> EmbeddingResult:
    """Distil the sentence-embedding ``teacher`` into ``student`` (default: a layer-dropped
    copy with ``layers`` of its blocks) on ``train_texts``; measure it on ``test_texts``.

    Texts are tokenised once with the teacher's tokenizer and ``teacher.max_length``. The
    loss is ``cosine_weight · (1 − cos) + mse_weight · MSE + Σ weight · relation`` on the
    embeddings; the teacher's embeddings are computed once. ``relation`` is a method name,
    ``"a+b"``, or a list of :class:`~potstill.methods.MethodSpec` (``[]`` for none).
    """
    owner = "distill_embeddings"
    if not teacher.is_embedding_model:
        raise ConfigError(
            "distill_embeddings needs a sentence-embedding teacher (an HFClassifier with "
            "num_labels=0, e.g. potstill.models.load_minilm()). Got a classifier."
        )
    if teacher.tokenizer is None:
        raise ConfigError("distill_embeddings needs a teacher with a tokenizer to encode texts.")
    for name, value in (("cosine_weight", cosine_weight), ("mse_weight", mse_weight),
                        ("lr", lr)):  # fmt: skip
        check_scalar(value, name, owner=owner, ge=0.0)
    check_scalar(epochs, "epochs", owner=owner, ge=1, integer=True)
    check_scalar(batch_size, "batch_size", owner=owner, ge=2, integer=True)
    specs = parse_method_specs(relation) if relation else []
    relations = _relations(specs)
    torch.manual_seed(seed)
    if student is None:
        student = build_hf_student(teacher, width=1.0, depth=1.0, layers=layers)
    if not student.is_embedding_model:
        raise ConfigError("The student of distill_embeddings must be an embedding model too.")
    if (cosine_weight or mse_weight) and student.hidden_size != teacher.hidden_size:
        raise ConfigError(
            f"The cosine and MSE losses compare embeddings directly, but the student's width "
            f"({student.hidden_size}) differs from the teacher's ({teacher.hidden_size}). Set "
            "cosine_weight=0 and mse_weight=0 (relation losses only) or keep the width."
        )
    x_train = torch.from_numpy(encode_texts(train_texts, teacher.tokenizer, teacher.max_length))
    x_test = encode_texts(test_texts, teacher.tokenizer, teacher.max_length)
    n = len(x_train)
    if n < 2:
        raise DataError(f"distill_embeddings needs at least 2 training texts. Got {n}.")
    t_train = torch.from_numpy(embed_texts(teacher, x_train.numpy()))
    probe = Outputs(logits=t_train[:2], embedding=t_train[:2])
    context = BindContext(n_train=n, n_classes=0, problem="regression")
    for _, method in relations:
        method.bind(probe, probe, context)
    optimizer = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(seed)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        student.train()
        order, total, steps = torch.randperm(n, generator=gen), 0.0, 0
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            s_emb, t_emb = student(x_train[idx]), t_train[idx]
            loss = cosine_weight * functional.hidden_cosine_loss(s_emb, t_emb)
            loss = loss + mse_weight * functional.hidden_mse_loss(s_emb, t_emb)
            s_out, t_out = Outputs(s_emb, embedding=s_emb), Outputs(t_emb, embedding=t_emb)
            batch = Batch(x=x_train[idx], y=torch.zeros(len(idx)), index=idx)
            for weight, method in relations:
                loss = loss + weight * method(s_out, t_out, batch)["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        history.append({"epoch": epoch + 1, "loss": total / max(steps, 1)})
    seconds = time.perf_counter() - t0
    student.eval()
    t_test, s_test = embed_texts(teacher, x_test), embed_texts(student, x_test)
    return EmbeddingResult(
        student=student, k=k, recall_at_k=retrieval_recall(t_test, s_test, k),
        cosine=cosine_agreement(t_test, s_test),
        similarity_spearman=similarity_agreement(t_test, s_test), n_train=n, n_test=len(x_test),
        teacher_params=count_params(teacher), student_params=count_params(student),
        student_layers=student.n_layers,
        losses={"cosine": cosine_weight, "mse": mse_weight, **{s.name: s.weight for s in specs}},
        train_seconds=seconds, history=history,
    )  # fmt: skip
