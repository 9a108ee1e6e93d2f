"""Feature-based losses: the student matches the teacher's *intermediate* representations.

Pure functions on tensors that are already paired (and, where the method learns one,
already projected to the teacher's width by the method module). Features are (N, D)
vectors, (N, T, D) token sequences or (N, C, H, W) maps; attentions (N, heads, T, T).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "at_loss",
    "attention_map",
    "attention_mse_loss",
    "fitnet_loss",
    "hidden_cosine_loss",
    "hidden_mse_loss",
]


def fitnet_loss(student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
    r"""FitNets hint loss (Romero et al., ICLR 2015, arXiv:1412.6550), after the regressor.

    .. math:: L_{HT} = \frac{1}{M}\,\lVert u_h(x) - r(v_g(x)) \rVert_2^2

    where ``student_feat`` is :math:`r(v_g(x))` (the guided layer through the learned
    regressor) and ``teacher_feat`` the hint :math:`u_h(x)`. The paper writes
    :math:`\tfrac12\lVert\cdot\rVert^2`; like the reference implementations (RepDistiller,
    torchdistill) we average over all M elements (batch included), which only rescales it.
    """
    return F.mse_loss(student_feat, teacher_feat)


def hidden_mse_loss(student_feat: Tensor, teacher_feat: Tensor) -> Tensor:
    r"""Hidden-state MSE of TinyBERT (Jiao et al., Findings of EMNLP 2020, arXiv:1909.10351).

    .. math:: L_{hidn} = \mathrm{MSE}(H^S W_h,\; H^T)

    ``student_feat`` is :math:`H^S W_h` (projected by the method's learned :math:`W_h`); mean
    over every element. The method module sums it over the mapped layer pairs, as TinyBERT does.
    """
    return F.mse_loss(student_feat, teacher_feat)


def hidden_cosine_loss(student_feat: Tensor, teacher_feat: Tensor, dim: int = -1) -> Tensor:
    r"""Cosine hidden-state loss of DistilBERT (Sanh et al. 2019, arXiv:1910.01108).

    .. math:: L_{cos} = \frac{1}{|V|}\sum_{v} \big(1 - \cos(h^s_v, h^t_v)\big)

    over every vector v along ``dim`` (each sample for (N, D), each token for (N, T, D), each
    spatial position for maps with ``dim=1``): aligns directions, ignores norms.
    """
    return (1.0 - F.cosine_similarity(student_feat, teacher_feat, dim=dim)).mean()


def attention_map(feat: Tensor, p: float = 2.0) -> Tensor:
    r"""Spatial attention map of Zagoruyko & Komodakis: :math:`Q = \mathrm{vec}(\frac1C\sum_c
    |A_c|^p)`, L2-normalised per sample. ``feat`` is (N, C, H, W); returns (N, H·W)."""
    return F.normalize(feat.abs().pow(p).mean(dim=1).flatten(1), dim=1)


def at_loss(student_feat: Tensor, teacher_feat: Tensor, p: float = 2.0) -> Tensor:
    r"""Attention transfer (Zagoruyko & Komodakis, ICLR 2017, arXiv:1612.03928), one layer pair.

    .. math:: L_{AT} = \frac{1}{N\,HW}\sum_i \Big\lVert \frac{Q^s_i}{\lVert Q^s_i\rVert_2}
              - \frac{Q^t_i}{\lVert Q^t_i\rVert_2} \Big\rVert_2^2

    with :math:`Q` from :func:`attention_map`; mean over batch and positions as in the
    authors' code (the paper's :math:`\beta/2` factor and the sum over layer pairs are applied
    by the method). Channel counts may differ; when spatial sizes differ the larger map is
    average-pooled to the smaller one (as in the reference implementation).
    """
    s_hw, t_hw = student_feat.shape[-2:], teacher_feat.shape[-2:]
    if s_hw != t_hw:
        size = (min(s_hw[0], t_hw[0]), min(s_hw[1], t_hw[1]))
        student_feat = F.adaptive_avg_pool2d(student_feat, size)
        teacher_feat = F.adaptive_avg_pool2d(teacher_feat, size)
    return (attention_map(student_feat, p) - attention_map(teacher_feat, p)).pow(2).mean()


def attention_mse_loss(student_attn: Tensor, teacher_attn: Tensor) -> Tensor:
    r"""Attention-based distillation of TinyBERT (Jiao et al. 2020), one layer pair.

    .. math:: L_{attn} = \frac{1}{h}\sum_{i=1}^{h} \mathrm{MSE}(A^S_i, A^T_i)

    over (N, heads, T, T) attention matrices with the same number of heads (mean over every
    element). TinyBERT applies it to pre-softmax scores; potstill's models expose attention
    probabilities, so it is applied to those.
    """
    return F.mse_loss(student_attn, teacher_attn)
