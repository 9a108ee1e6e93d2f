"""Relation-based losses: the student matches how the teacher *relates samples* (or tokens).

Pure functions on tensors. Relations are computed within a batch, so the embeddings of
student and teacher may have different widths without any projection. Embeddings are
(N, D); feature maps are flattened per sample where a method needs vectors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "cc_correlation",
    "cc_loss",
    "crd_contrast_loss",
    "minilm_attention_loss",
    "minilm_value_relation_loss",
    "pairwise_distances",
    "pkt_loss",
    "rkd_angle_loss",
    "rkd_distance_loss",
    "sp_loss",
]


def pairwise_distances(emb: Tensor, eps: float = 1e-12) -> Tensor:
    """Euclidean distance matrix (N, N) with an exact zero diagonal (RKD's ``pdist``)."""
    sq = emb.pow(2).sum(dim=1)
    d2 = (sq.unsqueeze(1) + sq.unsqueeze(0) - 2.0 * emb @ emb.t()).clamp(min=eps)
    eye = torch.eye(len(emb), dtype=torch.bool, device=emb.device)
    return d2.sqrt().masked_fill(eye, 0.0)


def rkd_distance_loss(student_emb: Tensor, teacher_emb: Tensor) -> Tensor:
    r"""RKD distance-wise loss (Park et al., CVPR 2019, arXiv:1904.05068).

    .. math:: L_{RKD-D} = \frac{1}{N^2}\sum_{i,j}
              \ell_\delta\Big(\frac{\lVert t_i-t_j\rVert}{\mu_t},
              \frac{\lVert s_i-s_j\rVert}{\mu_s}\Big)

    :math:`\mu` is the mean distance over pairs i ≠ j, :math:`\ell_\delta` the Huber (smooth
    L1, δ=1) loss; mean over all N² entries as in the authors' code. Needs N ≥ 2 (with N = 2
    both normalised distances are 1, so the loss is 0).
    """
    t_d = pairwise_distances(teacher_emb)
    s_d = pairwise_distances(student_emb)
    return F.smooth_l1_loss(s_d / _mean_positive(s_d), t_d / _mean_positive(t_d))


def _mean_positive(d: Tensor, eps: float = 1e-12) -> Tensor:
    """Mean of the positive distances (all are >= 0); 1 when every point coincides."""
    n_pos = (d > 0).sum()
    if int(n_pos) == 0:
        return torch.ones((), dtype=d.dtype, device=d.device)
    return (d.sum() / n_pos).clamp_min(eps)


def _angles(emb: Tensor) -> Tensor:
    diff = F.normalize(emb.unsqueeze(0) - emb.unsqueeze(1), p=2, dim=2)  # e_ij = (x_j - x_i)/‖‖
    return torch.bmm(diff, diff.transpose(1, 2)).flatten()  # cos∠(j, i, k) = <e_ij, e_ik>


def rkd_angle_loss(student_emb: Tensor, teacher_emb: Tensor) -> Tensor:
    r"""RKD angle-wise loss (Park et al., CVPR 2019).

    .. math:: L_{RKD-A} = \frac{1}{N^3}\sum_{i,j,k} \ell_\delta\big(\cos\angle t_j t_i t_k,\;
              \cos\angle s_j s_i s_k\big),\quad
              \cos\angle x_j x_i x_k = \langle e^{ij}, e^{ik}\rangle,\;
              e^{ij} = \frac{x_j - x_i}{\lVert x_j - x_i\rVert}

    Huber (δ=1) averaged over all N³ triplets (degenerate ones contribute 0 on both sides),
    as in the authors' code.
    """
    return F.smooth_l1_loss(_angles(student_emb), _angles(teacher_emb))


def sp_loss(student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
    r"""Similarity-preserving loss (Tung & Mori, ICCV 2019, arXiv:1907.09682), one layer pair.

    .. math:: L_{SP} = \frac{1}{N^2}\big\lVert \tilde G^t - \tilde G^s \big\rVert_F^2,\quad
              G = Q Q^\top,\; \tilde G_{[i,:]} = G_{[i,:]} / \lVert G_{[i,:]}\rVert_2

    Q is the batch of activations flattened to (N, ·), so the widths may differ.
    """
    n = student_feat.shape[0]
    s = student_feat.reshape(n, -1)
    t = teacher_feat.reshape(n, -1)
    g_s = F.normalize(s @ s.t(), dim=1)
    g_t = F.normalize(t @ t.t(), dim=1)
    return (g_t - g_s).pow(2).sum() / (n * n)


def pkt_loss(student_emb: Tensor, teacher_emb: Tensor, eps: float = 1e-7) -> Tensor:
    r"""Probabilistic knowledge transfer (Passalis & Tefas, ECCV 2018, arXiv:1803.10837).

    Cosine-similarity kernel :math:`K_{ij} = (1 + \cos(x_i, x_j))/2`, rows normalised to
    conditional probabilities :math:`p_{j|i} = K_{ij} / \sum_k K_{ik}`; then

    .. math:: L = \frac{1}{N^2}\sum_{i,j} p^t_{j|i}\log\frac{p^t_{j|i}+\epsilon}{p^s_{j|i}+\epsilon}

    (the authors' code: the KL terms averaged over all N² entries, diagonal included).
    """

    def conditional(x: Tensor) -> Tensor:
        x = x / (x.norm(dim=1, keepdim=True) + eps)
        k = (x @ x.t() + 1.0) / 2.0
        return k / k.sum(dim=1, keepdim=True)

    p_s, p_t = conditional(student_emb), conditional(teacher_emb)
    return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()


def cc_correlation(emb: Tensor, gamma: float = 0.4, order: int = 2) -> Tensor:
    r"""Correlation matrix of CC: the Gaussian RBF kernel
    :math:`\exp(-\gamma\lVert x_i - x_j\rVert^2)`
    on L2-normalised embeddings, by its order-P Taylor expansion
    :math:`\sum_{p=0}^{P} e^{-2\gamma}\frac{(2\gamma)^p}{p!}(x_i^\top x_j)^p`."""
    x = F.normalize(emb, p=2, dim=1)
    sim = x @ x.t()
    terms = [
        math.exp(-2.0 * gamma) * (2.0 * gamma) ** p / math.factorial(p) * sim.pow(p)
        for p in range(order + 1)
    ]
    return torch.stack(terms).sum(dim=0)


def cc_loss(student_emb: Tensor, teacher_emb: Tensor, gamma: float = 0.4, order: int = 2) -> Tensor:
    r"""Correlation congruence (Peng et al., ICCV 2019, arXiv:1904.01802).

    .. math:: L_{CC} = \frac{1}{N^2}\big\lVert \psi(F_t) - \psi(F_s) \big\rVert_F^2

    with ψ the (N, N) correlation matrix of :func:`cc_correlation` (γ = 0.4, P = 2 by default,
    the paper's choice).
    """
    return F.mse_loss(
        cc_correlation(student_emb, gamma, order), cc_correlation(teacher_emb, gamma, order)
    )


def crd_contrast_loss(scores: Tensor, n_data: int, eps: float = 1e-7) -> Tensor:
    r"""CRD's NCE objective (Tian et al., ICLR 2020, arXiv:1910.10699, Eq. 18).

    ``scores`` is (N, K+1): column 0 the positive pair, columns 1..K the negatives, each
    :math:`h = \exp(f_s^\top f_t/\tau)/Z`. With the uniform noise :math:`P_n = 1/n_{data}` and
    :math:`m = K`:

    .. math:: L = -\frac1N\sum_i \Big[\log\frac{h_{i0}}{h_{i0} + mP_n}
              + \sum_{k=1}^{K}\log\frac{mP_n}{h_{ik} + mP_n}\Big]
    """
    m = scores.shape[1] - 1
    noise = m / float(n_data)
    pos = scores[:, 0]
    neg = scores[:, 1:]
    log_d1 = torch.log(pos / (pos + noise + eps))
    log_d0 = torch.log(noise / (neg + noise + eps))
    return -(log_d1.sum() + log_d0.sum()) / scores.shape[0]


def _kl_rows(log_p_t: Tensor, log_p_s: Tensor) -> Tensor:
    """KL(p_t ‖ p_s) along the last axis, averaged over every other axis."""
    return F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=-1).mean()


def minilm_attention_loss(student_attn: Tensor, teacher_attn: Tensor, eps: float = 1e-12) -> Tensor:
    r"""MiniLM self-attention distribution transfer (Wang et al., NeurIPS 2020, arXiv:2002.10957).

    .. math:: L_{AT} = \frac{1}{A_h |x|}\sum_{a=1}^{A_h}\sum_{t=1}^{|x|}
              \mathrm{KL}\big(A^T_{L,a,t}\,\|\,A^S_{M,a,t}\big)

    on (N, heads, T, T) attention probabilities of the last layers (same number of heads),
    averaged over the batch too. Probabilities are clamped at ``eps`` before the log; a zero
    teacher probability contributes 0.
    """
    log_t = teacher_attn.clamp_min(eps).log()
    log_s = student_attn.clamp_min(eps).log()
    return (teacher_attn * (log_t - log_s)).sum(dim=-1).mean()


def minilm_value_relation_loss(student_values: Tensor, teacher_values: Tensor) -> Tensor:
    r"""MiniLM value-relation transfer (Wang et al., NeurIPS 2020).

    .. math:: VR = \mathrm{softmax}\Big(\frac{V V^\top}{\sqrt{d_k}}\Big),\quad
              L_{VR} = \frac{1}{A_h |x|}\sum_{a,t}
              \mathrm{KL}\big(VR^T_{L,a,t}\,\|\,VR^S_{M,a,t}\big)

    on (N, heads, T, d_k) value vectors (d_k may differ between teacher and student).
    """

    def log_relation(v: Tensor) -> Tensor:
        return F.log_softmax(v @ v.transpose(-1, -2) / math.sqrt(v.shape[-1]), dim=-1)

    return _kl_rows(log_relation(teacher_values), log_relation(student_values))
