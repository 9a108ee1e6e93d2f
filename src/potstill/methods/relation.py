"""Relation-based methods: the student keeps how the teacher relates samples to each other.

Relations (distances, angles, similarities, correlations) are computed within the batch,
so student and teacher embeddings may differ in width without any projection. Most need
the penultimate ``embedding`` of both models; SP uses hidden layers; MiniLM the last
layer's attentions and values. CRD (with its memory buffer) lives in :mod:`.crd`.
Formulas: :mod:`potstill.methods.functional.relation`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from potstill.errors import MethodError
from potstill.methods import functional as PF
from potstill.methods.base import (
    BindContext,
    Method,
    Param,
    embedding_of,
    layers_of,
    teacher_like,
)
from potstill.methods.feature import check_attention_pairs
from potstill.methods.registry import register_method
from potstill.types import Batch, Outputs

__all__ = ["CC", "PKT", "RKD", "SP", "MiniLM", "RKDAngle", "RKDDistance"]

_RKD_PAPER = "Park, Kim, Lu & Cho (2019). Relational Knowledge Distillation. CVPR 2019"
_RKD_URL = "https://arxiv.org/abs/1904.05068"
_DISTANCE_WEIGHT = Param(
    "distance_weight", 25.0, "Weight λ_D of the distance term (paper: 25).", ge=0
)
_ANGLE_WEIGHT = Param("angle_weight", 50.0, "Weight λ_A of the angle term (paper: 50).", ge=0)


class _EmbeddingMethod(Method):
    """Relations of the penultimate embeddings, (N, D) on both sides (widths may differ);
    they need no classes, so they serve embedding problems too."""

    requires = frozenset({"embedding"})
    problems = frozenset({"classification", "regression", "embedding"})

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        for side, emb in (("student", embedding_of(student)), ("teacher", embedding_of(teacher))):
            if emb.dim() != 2:
                raise MethodError(
                    f"Method '{self.name}' needs an (N, D) embedding; the {side}'s has shape "
                    f"{tuple(emb.shape)}. Pool or flatten it in the model adapter."
                )

    def embeddings(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        s = embedding_of(student)
        return s, teacher_like(embedding_of(teacher), s)


@register_method
class RKDDistance(_EmbeddingMethod):
    """RKD distance-wise term: keep the normalised pairwise distances of the embeddings."""

    name = "rkd_distance"
    family = "relation"
    paper = _RKD_PAPER
    url = _RKD_URL
    hyperparams = (_DISTANCE_WEIGHT,)
    distance_weight: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self.embeddings(student, teacher)
        distance = PF.rkd_distance_loss(s, t)
        return {"loss": self.distance_weight * distance, "distance": distance}


@register_method
class RKDAngle(_EmbeddingMethod):
    """RKD angle-wise term: keep the angles formed by triplets of embeddings."""

    name = "rkd_angle"
    family = "relation"
    paper = _RKD_PAPER
    url = _RKD_URL
    hyperparams = (_ANGLE_WEIGHT,)
    angle_weight: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self.embeddings(student, teacher)
        angle = PF.rkd_angle_loss(s, t)
        return {"loss": self.angle_weight * angle, "angle": angle}


@register_method
class RKD(_EmbeddingMethod):
    """Relational KD: distance and angle terms together, weighted 25 / 50 as in the paper."""

    name = "rkd"
    family = "relation"
    paper = _RKD_PAPER
    url = _RKD_URL
    hyperparams = (_DISTANCE_WEIGHT, _ANGLE_WEIGHT)
    distance_weight: float
    angle_weight: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self.embeddings(student, teacher)
        distance = PF.rkd_distance_loss(s, t)
        angle = PF.rkd_angle_loss(s, t)
        loss = self.distance_weight * distance + self.angle_weight * angle
        return {"loss": loss, "distance": distance, "angle": angle}


@register_method
class SP(Method):
    """Similarity-preserving KD: match the batch similarity (Gram) matrices of hidden layers."""

    name = "sp"
    family = "relation"
    requires = frozenset({"hidden"})
    paper = "Tung & Mori (2019). Similarity-Preserving Knowledge Distillation. ICCV 2019"
    url = "https://arxiv.org/abs/1907.09682"
    hyperparams = (
        Param("gamma", 3000.0, "Weight γ; the loss is γ · Σ_layers L_SP (paper: 3000).", ge=0),
    )
    gamma: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        losses = [
            PF.sp_loss(s, teacher_like(t, s))
            for s, t in zip(layers_of(student, "hidden"), layers_of(teacher, "hidden"), strict=True)
        ]
        sp = torch.stack(losses).sum()
        return {"loss": self.gamma * sp, "sp": sp}


@register_method
class PKT(_EmbeddingMethod):
    """Probabilistic knowledge transfer: match the cosine-kernel conditional distributions."""

    name = "pkt"
    family = "relation"
    paper = (
        "Passalis & Tefas (2018). Learning Deep Representations with Probabilistic Knowledge "
        "Transfer. ECCV 2018"
    )
    url = "https://arxiv.org/abs/1803.10837"

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self.embeddings(student, teacher)
        return {"loss": PF.pkt_loss(s, t)}


@register_method
class CC(_EmbeddingMethod):
    """Correlation congruence: match the sample-correlation (RBF kernel) matrices."""

    name = "cc"
    family = "relation"
    paper = "Peng et al. (2019). Correlation Congruence for Knowledge Distillation. ICCV 2019"
    url = "https://arxiv.org/abs/1904.01802"
    hyperparams = (
        Param("gamma", 0.4, "Bandwidth γ of the Gaussian RBF kernel (paper: 0.4).", gt=0),
        Param(
            "order", 2, "Order P of the kernel's Taylor expansion (paper: 2).", ge=0, integer=True
        ),
    )
    gamma: float
    order: int

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self.embeddings(student, teacher)
        return {"loss": PF.cc_loss(s, t, self.gamma, self.order)}


@register_method
class MiniLM(Method):
    """MiniLM: last-layer self-attention distributions and value relations (KL)."""

    name = "minilm"
    family = "relation"
    requires = frozenset({"attentions", "values"})
    paper = (
        "Wang et al. (2020). MiniLM: Deep Self-Attention Distillation for Task-Agnostic "
        "Compression of Pre-Trained Transformers. NeurIPS 2020"
    )
    url = "https://arxiv.org/abs/2002.10957"

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        check_attention_pairs(
            self.name,
            layers_of(student, "attentions"),
            layers_of(teacher, "attentions"),
            last_only=True,
        )
        s, t = layers_of(student, "values")[-1], layers_of(teacher, "values")[-1]
        if s.dim() != 4 or s.shape[:3] != t.shape[:3]:
            raise MethodError(
                f"Method 'minilm' needs last-layer values shaped (N, heads, T, d_head) with the "
                f"same heads and T on both sides; got student {tuple(s.shape)} and teacher "
                f"{tuple(t.shape)}."
            )

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s_a, t_a = layers_of(student, "attentions")[-1], layers_of(teacher, "attentions")[-1]
        s_v, t_v = layers_of(student, "values")[-1], layers_of(teacher, "values")[-1]
        attention = PF.minilm_attention_loss(s_a, teacher_like(t_a, s_a))
        value = PF.minilm_value_relation_loss(s_v, teacher_like(t_v, s_v))
        return {"loss": attention + value, "attention": attention, "value_relation": value}
