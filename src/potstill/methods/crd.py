"""Contrastive representation distillation (CRD) with its memory buffer, as in the paper.

CRD (Tian, Krishnan & Isola, ICLR 2020) maximises a lower bound on the mutual information
between teacher and student embeddings. Each batch element is contrasted with K negatives,
far more than a batch holds, so the paper keeps a *memory buffer*: one L2-normalised
embedding per training row for each side, updated with momentum from the rows of each
batch and indexed by ``batch.index`` (the dataset row indices the distiller passes). The
objective is the NCE loss of Eq. 18 (:func:`potstill.methods.functional.crd_contrast_loss`),
applied symmetrically: student embedding against the teacher's memory, and teacher
embedding against the student's memory. Both embeddings first go through learned linear
heads to a shared ``feat_dim`` space.

Differences from the reference code (RepDistiller), none of which changes the objective:
negatives are drawn uniformly from the *other* training rows (the reference's uniform
sampler may draw the anchor itself); the memory is only updated in training mode (so
evaluation does not change it); the normalisation constants Z are fixed on the first batch,
as in the reference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from potstill.errors import MethodError
from potstill.methods import functional as PF
from potstill.methods.base import BindContext, Method, Param, embedding_of, teacher_like
from potstill.methods.registry import register_method
from potstill.types import Batch, Outputs

__all__ = ["CRD"]

_MAX_NEGATIVES = 16384  # the paper's K


class _Embed(nn.Module):
    """Linear head followed by L2 normalisation (the paper's g^T and g^S)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.linear(x.flatten(1)), dim=1)


@register_method
class CRD(Method):
    """Contrastive representation distillation with a momentum memory buffer of negatives."""

    name = "crd"
    family = "relation"
    requires = frozenset({"embedding"})
    problems = frozenset({"classification", "regression", "embedding"})
    zero_at_match = False  # a contrastive bound: not 0 when the embeddings coincide
    paper = "Tian, Krishnan & Isola (2020). Contrastive Representation Distillation. ICLR 2020"
    url = "https://arxiv.org/abs/1910.10699"
    hyperparams = (
        Param("feat_dim", 128, "Width of the shared embedding space (paper: 128).", ge=1,
              integer=True),
        Param("n_negatives", None, "Negatives K per positive, drawn from the memory buffer; "
              "None: min(16384, n_train - 1) (paper: 16384).", ge=1, integer=True, optional=True),
        Param("nce_temperature", 0.07, "Temperature τ of the critic exp(<s, t>/τ) (paper: 0.07).",
              gt=0),
        Param("momentum", 0.5, "Momentum of the memory-buffer update (paper: 0.5).", ge=0, lt=1),
        Param("beta", 0.8, "Weight β of the CRD loss (paper: 0.8).", ge=0),
    )  # fmt: skip
    feat_dim: int
    n_negatives: int | None
    nce_temperature: float
    momentum: float
    beta: float
    # created by bind()
    embed_s: _Embed
    embed_t: _Embed
    memory_s: Tensor  # (n_train, feat_dim) student embeddings, one per training row
    memory_t: Tensor  # (n_train, feat_dim) teacher embeddings
    z: Tensor  # normalisation constants of the student- and teacher-anchored critics

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        s, t = embedding_of(student), embedding_of(teacher)
        if s.dim() != 2 or t.dim() != 2:
            raise MethodError(
                f"Method 'crd' needs (N, D) embeddings; got student {tuple(s.shape)} and teacher "
                f"{tuple(t.shape)}."
            )
        n = context.n_train
        if n < 2:
            raise MethodError(f"Method 'crd' needs at least 2 training rows; n_train is {n}.")
        k = self.n_negatives if self.n_negatives is not None else min(_MAX_NEGATIVES, n - 1)
        if k > n - 1:
            raise MethodError(
                f"The 'n_negatives' parameter of method 'crd' must be <= n_train - 1 = {n - 1} "
                f"(negatives are other training rows). Got {k} instead."
            )
        self.k = k
        self.n_data = n
        self.embed_s = _Embed(s.shape[1], self.feat_dim).to(device=s.device, dtype=s.dtype)
        self.embed_t = _Embed(t.shape[1], self.feat_dim).to(device=s.device, dtype=s.dtype)
        stdv = 1.0 / math.sqrt(self.feat_dim / 3.0)
        for name in ("memory_s", "memory_t"):
            memory = (
                torch.rand(n, self.feat_dim, device=s.device, dtype=s.dtype) * (2 * stdv) - stdv
            )
            self.register_buffer(name, memory)
        # Normalisation constants Z of the two critics; < 0 until the first batch sets them.
        self.register_buffer("z", torch.full((2,), -1.0, device=s.device, dtype=s.dtype))

    def sample(self, index: Tensor) -> Tensor:
        """(N, K+1) row indices: the anchor's own row, then K uniform draws from the others."""
        draws = torch.randint(0, self.n_data - 1, (len(index), self.k), device=index.device)
        negatives = draws + (draws >= index.unsqueeze(1)).long()  # skip the anchor's row
        return torch.cat([index.unsqueeze(1), negatives], dim=1)

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        index = self._require_index(batch, self.n_data).to(self.memory_s.device)
        s_emb = embedding_of(student)
        v_s = self.embed_s(s_emb)
        v_t = self.embed_t(teacher_like(embedding_of(teacher), s_emb))
        rows = self.sample(index)
        # student anchor against the teacher's memory; teacher anchor against the student's
        out_s = torch.exp(
            torch.bmm(self.memory_t[rows], v_s.unsqueeze(2)).squeeze(2) / self.nce_temperature
        )
        out_t = torch.exp(
            torch.bmm(self.memory_s[rows], v_t.unsqueeze(2)).squeeze(2) / self.nce_temperature
        )
        with torch.no_grad():
            if self.z[0] < 0:
                self.z[0] = out_s.mean() * self.n_data
                self.z[1] = out_t.mean() * self.n_data
        s_loss = PF.crd_contrast_loss(out_s / self.z[0], self.n_data)
        t_loss = PF.crd_contrast_loss(out_t / self.z[1], self.n_data)
        if self.training:
            self._update(self.memory_s, index, v_s)
            self._update(self.memory_t, index, v_t)
        return {"loss": self.beta * (s_loss + t_loss), "student_anchor": s_loss,
                "teacher_anchor": t_loss}  # fmt: skip

    @torch.no_grad()
    def _update(self, memory: Tensor, index: Tensor, value: Tensor) -> None:
        mixed = memory[index] * self.momentum + value.detach() * (1.0 - self.momentum)
        memory.index_copy_(0, index, F.normalize(mixed, dim=1))
