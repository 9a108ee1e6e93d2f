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

from potstill._validation import check_scalar
from potstill.data.text import encode_texts
from potstill.errors import ConfigError, DataError, MethodError
from potstill.evaluate.retrieval import cosine_agreement, retrieval_recall, similarity_agreement
from potstill.events import Stage
from potstill.methods import BindContext, MethodSpec, create_method, functional, parse_method_specs
from potstill.models.hf.model import HFClassifier
from potstill.models.hf.students import build_hf_student
from potstill.models.predict import count_params
from potstill.models.text import embed_texts
from potstill.types import Batch, Outputs

__all__ = [
    "EmbeddingResult",
    "cosine_agreement",
    "distill_embeddings",
    "fit_embedding_student",
    "relation_methods",
    "retrieval_recall",
    "similarity_agreement",
]

#: RKD with the paper's 1 : 2 distance : angle ratio (25 : 50), scaled to sit beside the
#: cosine loss of unit-norm embeddings instead of a cross-entropy.
DEFAULT_RELATION = (MethodSpec(name="rkd", params={"distance_weight": 1.0, "angle_weight": 2.0}),)


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


def relation_methods(specs: Sequence[MethodSpec]) -> list[tuple[float, Any]]:
    """``(weight, method)`` of each spec; refuses a method that needs more than embeddings."""
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


def fit_embedding_student(
    student: HFClassifier,
    x_train: np.ndarray,
    t_train: np.ndarray,
    *,
    relations: Sequence[tuple[float, Any]] = (),
    cosine_weight: float = 1.0,
    mse_weight: float = 1.0,
    epochs: int = 2,
    batch_size: int = 32,
    lr: float = 1e-4,
    weight_decay: float = 0.01,
    grad_clip: float | None = 1.0,
    seed: int = 0,
    stage: Stage | None = None,
) -> tuple[list[dict[str, float]], float]:
    """Train ``student`` in place to reproduce the teacher embeddings ``t_train`` (n, D) of
    the encoded texts ``x_train`` (n, 2, L); returns (per-epoch mean loss, seconds).

    The loss is ``cosine_weight · (1 − cos) + mse_weight · MSE + Σ weight · relation``
    (AdamW, shuffled mini-batches seeded by ``seed``, gradient norm clipped). Each epoch's
    loss is reported to ``stage`` when given.
    """
    x, target = _checked_inputs(x_train, t_train, relations, cosine_weight, mse_weight,
                                lr, weight_decay, epochs, batch_size)  # fmt: skip
    _bind_relations(relations, target)
    params = [p for p in student.parameters() if p.requires_grad]
    params += [p for _, m in relations if isinstance(m, torch.nn.Module) for p in m.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    weights = (cosine_weight, mse_weight)
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        student.train()
        order, total, steps = torch.randperm(len(x), generator=gen), 0.0, 0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:
                continue
            loss = _embedding_loss(student, x, target, idx, weights, relations)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(student.parameters(), grad_clip)
            optimizer.step()
            total, steps = total + float(loss.detach()), steps + 1
        history.append({"epoch": epoch + 1, "loss": total / max(steps, 1)})
        if stage is not None:
            stage.update(epoch + 1, epochs, unit="epoch", values={"loss": history[-1]["loss"]})
    student.eval()
    return history, time.perf_counter() - t0


def _checked_inputs(
    x_train: np.ndarray,
    t_train: np.ndarray,
    relations: Sequence[tuple[float, Any]],
    cosine_weight: float,
    mse_weight: float,
    lr: float,
    weight_decay: float,
    epochs: int,
    batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The encoded texts and teacher embeddings as tensors, after checking every setting."""
    owner = "fit_embedding_student"
    for name, value in (("cosine_weight", cosine_weight), ("mse_weight", mse_weight),
                        ("lr", lr), ("weight_decay", weight_decay)):  # fmt: skip
        check_scalar(value, name, owner=owner, ge=0.0)
    check_scalar(epochs, "epochs", owner=owner, ge=1, integer=True)
    check_scalar(batch_size, "batch_size", owner=owner, ge=2, integer=True)
    if not (cosine_weight or mse_weight or relations):
        raise ConfigError(f"{owner} got no loss: every weight is 0 and no relation method.")
    x, target = torch.from_numpy(np.asarray(x_train)), torch.from_numpy(np.asarray(t_train))
    if len(x) < 2 or len(target) != len(x):
        raise DataError(
            f"{owner} needs at least 2 texts and one teacher embedding per text. "
            f"Got {len(x)} texts and {len(target)} embeddings."
        )
    return x, target


def _bind_relations(relations: Sequence[tuple[float, Any]], target: torch.Tensor) -> None:
    """Bind each relation method to embedding outputs (no classes: bound as regression)."""
    probe = Outputs(logits=target[:2], embedding=target[:2])
    context = BindContext(n_train=len(target), n_classes=0, problem="regression")
    for _, method in relations:
        method.bind(probe, probe, context)


def _embedding_loss(
    student: HFClassifier,
    x: torch.Tensor,
    target: torch.Tensor,
    idx: torch.Tensor,
    weights: tuple[float, float],
    relations: Sequence[tuple[float, Any]],
) -> torch.Tensor:
    """``cosine_weight · (1 − cos) + mse_weight · MSE + Σ weight · relation`` on a batch."""
    cosine_weight, mse_weight = weights
    s_emb, t_emb = student(x[idx]), target[idx]
    loss = cosine_weight * functional.hidden_cosine_loss(s_emb, t_emb)
    loss = loss + mse_weight * functional.hidden_mse_loss(s_emb, t_emb)
    s_out, t_out = Outputs(s_emb, embedding=s_emb), Outputs(t_emb, embedding=t_emb)
    batch = Batch(x=x[idx], y=torch.zeros(len(idx)), index=idx)
    for weight, method in relations:
        loss = loss + weight * method(s_out, t_out, batch)["loss"]
    return loss


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
    _check_distill_settings(teacher, cosine_weight, mse_weight, lr, epochs, batch_size)
    specs = parse_method_specs(relation) if relation else []
    relations = relation_methods(specs)
    torch.manual_seed(seed)
    if student is None:
        student = build_hf_student(teacher, width=1.0, depth=1.0, layers=layers)
    _check_student(teacher, student, cosine_weight, mse_weight)
    assert teacher.tokenizer is not None  # checked above
    x_train = encode_texts(train_texts, teacher.tokenizer, teacher.max_length)
    x_test = encode_texts(test_texts, teacher.tokenizer, teacher.max_length)
    n = len(x_train)
    if n < 2:
        raise DataError(f"distill_embeddings needs at least 2 training texts. Got {n}.")
    history, seconds = fit_embedding_student(
        student, x_train, embed_texts(teacher, x_train), relations=relations,
        cosine_weight=cosine_weight, mse_weight=mse_weight, epochs=epochs,
        batch_size=batch_size, lr=lr, seed=seed,
    )  # fmt: skip
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


def _check_distill_settings(
    teacher: HFClassifier,
    cosine_weight: float,
    mse_weight: float,
    lr: float,
    epochs: int,
    batch_size: int,
) -> None:
    owner = "distill_embeddings"
    if not teacher.is_embedding_model:
        raise ConfigError(
            "distill_embeddings needs a sentence-embedding teacher (an HFClassifier with "
            "num_labels=0, e.g. potstill.zoo.load_minilm()). Got a classifier."
        )
    if teacher.tokenizer is None:
        raise ConfigError("distill_embeddings needs a teacher with a tokenizer to encode texts.")
    for name, value in (("cosine_weight", cosine_weight), ("mse_weight", mse_weight),
                        ("lr", lr)):  # fmt: skip
        check_scalar(value, name, owner=owner, ge=0.0)
    check_scalar(epochs, "epochs", owner=owner, ge=1, integer=True)
    check_scalar(batch_size, "batch_size", owner=owner, ge=2, integer=True)


def _check_student(
    teacher: HFClassifier, student: HFClassifier, cosine_weight: float, mse_weight: float
) -> None:
    if not student.is_embedding_model:
        raise ConfigError("The student of distill_embeddings must be an embedding model too.")
    if (cosine_weight or mse_weight) and student.hidden_size != teacher.hidden_size:
        raise ConfigError(
            f"The cosine and MSE losses compare embeddings directly, but the student's width "
            f"({student.hidden_size}) differs from the teacher's ({teacher.hidden_size}). Set "
            "cosine_weight=0 and mse_weight=0 (relation losses only) or keep the width."
        )
