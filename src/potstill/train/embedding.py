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

How it trains: in the one training loop, :func:`potstill.train.train`. An embedding
student is a supervised problem whose labels are the teacher's embeddings:

- :func:`embedding_task` is a :class:`~potstill.types.Task` of ``problem="embedding"``:
  encoded texts, each labelled with its teacher embedding (computed once, outside the loop);
- :func:`embedding_objective` is an :class:`~potstill.methods.EmbeddingObjective`: its
  label term is ``cosine_weight · (1 − cos) + mse_weight · MSE`` to those labels, and its
  methods are relation losses that declare the embedding problem in the registry, bound
  with ``problem="embedding"``;
- the same labels are the teacher's outputs the relation terms see (the loop's
  ``target_feed``), so the teacher never runs inside the loop;
- early stopping keeps the epoch whose pairwise cosine similarities on the validation
  texts agree best with the teacher's (Spearman; registered metric ``similarity_spearman``).
  It is the smooth counterpart of the primary figure (neighbours are ranked by those
  similarities), it needs no common width, and it follows the relation terms: with RKD at
  its default weight the mean cosine to the teacher can peak after one epoch while the
  geometry, and recall@k, still improve.

The loop brings the rest: seeded batch order, fused AdamW, gradient clipping, progress
events, atomic checkpoints and exact resume, hooks released in a ``finally``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill._validation import check_scalar
from potstill.data.text import encode_texts
from potstill.errors import ConfigError, DataError
from potstill.evaluate import get_metric
from potstill.evaluate.retrieval import cosine_agreement, retrieval_recall, similarity_agreement
from potstill.events import Stage
from potstill.methods import EmbeddingObjective, MethodSpec, create_method, parse_method_specs
from potstill.models.hf.model import HFClassifier
from potstill.models.hf.students import build_hf_student
from potstill.models.predict import count_params
from potstill.models.text import embed_texts
from potstill.train.config import TrainConfig
from potstill.train.distill import TrainResult
from potstill.train.distill import train as run_training
from potstill.types import Split, Task

__all__ = [
    "EmbeddingResult",
    "cosine_agreement",
    "distill_embeddings",
    "embedding_objective",
    "embedding_task",
    "fit_embedding_student",
    "retrieval_recall",
    "similarity_agreement",
]

log = logging.getLogger(__name__)

#: RKD with the paper's 1 : 2 distance : angle ratio (25 : 50), scaled to sit beside the
#: cosine loss of unit-norm embeddings instead of a cross-entropy.
#: What early stopping watches: the Spearman agreement of the student's pairwise cosine
#: similarities with the teacher's on the validation texts.
VALIDATION_METRIC = "similarity_spearman"
#: distill_embeddings without validation texts validates on at most this many training texts.
MAX_FIT_ROWS = 2000

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


def embedding_objective(
    relation: str | Sequence[Any] = DEFAULT_RELATION,
    *,
    cosine_weight: float = 1.0,
    mse_weight: float = 1.0,
) -> EmbeddingObjective:
    """The objective of an embedding student: ``cosine_weight · (1 − cos) + mse_weight ·
    MSE`` to the teacher's embeddings plus each relation method of ``relation`` (a method
    name, ``"a+b"``, or a list of :class:`~potstill.methods.MethodSpec`; ``[]`` for none),
    weighted by its spec. A method that does not serve the embedding problem is refused."""
    specs = parse_method_specs(relation) if relation else []
    methods = [(create_method(s.name, **s.params), s.weight) for s in specs]
    if not (cosine_weight or mse_weight or any(w for _, w in methods)):
        raise ConfigError(
            "Embedding distillation got no loss: cosine_weight and mse_weight are 0 and no "
            "relation method has a positive weight. Give one of them a weight > 0."
        )
    return EmbeddingObjective(methods, cosine_weight=cosine_weight, mse_weight=mse_weight)


def embedding_task(
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    metric: str = VALIDATION_METRIC,
    name: str = "embedding",
) -> Task:
    """An embedding problem: encoded texts (n, 2, L) whose labels are the teacher's
    embeddings of them (n, D), for training and for validation (``metric``, a registered
    metric of the embedding problem, teacher embeddings first)."""
    (x, t), (x_val, t_val) = train, val
    for split, (texts, emb), least in (("training", train, 2), ("validation", val, 3)):
        if len(texts) < least or len(emb) != len(texts) or np.ndim(emb) != 2:
            raise DataError(
                f"An embedding task needs at least {least} {split} texts (pairs to compare) "
                f"and one (D,) teacher embedding per text. Got {len(texts)} texts and "
                f"embeddings of shape {np.shape(emb)}."
            )
    if get_metric(metric).problem != "embedding":
        raise ConfigError(f"'{metric}' is not a metric of the embedding problem.")
    return Task(
        name=name, sector="other", kind="text", problem="embedding",
        train=Split(np.asarray(x), np.asarray(t, np.float32)),
        val=Split(np.asarray(x_val), np.asarray(t_val, np.float32)),
        test=Split(np.asarray(x_val)[:0], np.asarray(t_val, np.float32)[:0]),
        metric=metric, n_classes=0,
    )  # fmt: skip


def fit_embedding_student(
    student: HFClassifier,
    train: tuple[np.ndarray, np.ndarray],
    val: tuple[np.ndarray, np.ndarray],
    *,
    objective: EmbeddingObjective,
    config: TrainConfig,
    seed: int = 0,
    stage: Stage | None = None,
    checkpoint: Path | None = None,
    description: str = "embedding",
) -> TrainResult:
    """Train ``student`` in place with :func:`potstill.train.train` to reproduce the
    teacher's embeddings: ``train`` and ``val`` are (encoded texts, teacher embeddings).

    Early stopping keeps the epoch whose pairwise similarities on ``val`` agree best with
    the teacher's (Spearman). One process (``config.nproc`` > 1 is logged and not used).
    """
    task = embedding_task(train, val, name=description)
    if config.nproc > 1:
        log.warning("%s: train.nproc %d is not used for an embedding student; its relation "
                    "terms compare the rows of a batch, so it trains in one process",
                    description, config.nproc)  # fmt: skip
        config = config.model_copy(update={"nproc": 1})
    return run_training(student, task, objective=objective, config=config, seed=seed,
                        checkpoint=checkpoint, description=description, stage=stage)  # fmt: skip


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
    val_texts: np.ndarray | Sequence[str] | None = None,
) -> EmbeddingResult:
    """Distil the sentence-embedding ``teacher`` into ``student`` (default: a layer-dropped
    copy with ``layers`` of its blocks) on ``train_texts``; measure it on ``test_texts``.

    Texts are tokenised once with the teacher's tokenizer and ``teacher.max_length``. The
    loss is ``cosine_weight · (1 − cos) + mse_weight · MSE + Σ weight · relation`` on the
    embeddings; the teacher's embeddings are computed once. ``relation`` is a method name,
    ``"a+b"``, or a list of :class:`~potstill.methods.MethodSpec` (``[]`` for none). The
    epoch kept is the one whose similarities agree best with the teacher's on ``val_texts``
    (by default on the first 2000 training texts: the best fit).
    ``lr=0`` trains nothing: the student as built.
    """
    _check_distill_settings(teacher, cosine_weight, mse_weight, lr, epochs, batch_size)
    objective = embedding_objective(relation, cosine_weight=cosine_weight, mse_weight=mse_weight)
    torch.manual_seed(seed)
    if student is None:
        student = build_hf_student(teacher, width=1.0, depth=1.0, layers=layers)
    _check_student(teacher, student, cosine_weight, mse_weight)
    encode = functools.partial(encode_texts, tokenizer=teacher.tokenizer,
                               max_length=teacher.max_length)  # fmt: skip
    x_train, x_test = encode(train_texts), encode(test_texts)
    if len(x_train) < 2:
        raise DataError(f"distill_embeddings needs at least 2 training texts. Got {len(x_train)}.")
    train = (x_train, embed_texts(teacher, x_train))
    fit = (x_train[:MAX_FIT_ROWS], train[1][:MAX_FIT_ROWS])
    val = fit if val_texts is None else (x_val := encode(val_texts), embed_texts(teacher, x_val))
    history: list[dict[str, float]] = []
    seconds = 0.0
    if lr > 0:
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=0.01,
                             grad_clip=1.0, threads=torch.get_num_threads())  # fmt: skip
        run = fit_embedding_student(student, train, val, objective=objective, config=config,
                                    seed=seed, description="distill_embeddings")  # fmt: skip
        history, seconds = run.history, run.seconds
    t_test, s_test = embed_texts(teacher, x_test), embed_texts(student, x_test)
    return EmbeddingResult(
        student=student, k=k, recall_at_k=retrieval_recall(t_test, s_test, k),
        cosine=cosine_agreement(t_test, s_test),
        similarity_spearman=similarity_agreement(t_test, s_test), n_train=len(x_train),
        n_test=len(x_test), teacher_params=count_params(teacher),
        student_params=count_params(student), student_layers=student.n_layers,
        losses={"cosine": cosine_weight, "mse": mse_weight, **_weights(objective)},
        train_seconds=seconds, history=history,
    )  # fmt: skip


def _weights(objective: EmbeddingObjective) -> dict[str, float]:
    return {m.name: w for m, w in zip(objective.method_list, objective.weights, strict=True)}


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
