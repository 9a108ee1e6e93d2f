"""Response-based losses: the student matches what the teacher *outputs*.

Pure functions on tensors (no state, no learned parameters), so each can be checked
against its paper's formula on its own. Logits are (N, C); regression predictions (N, 1).
Every loss returns a scalar, averaged over the batch as the reference implementations do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "dist_loss",
    "dist_terms",
    "dkd_loss",
    "dkd_terms",
    "kd_loss",
    "kd_regression_loss",
    "pearson_rows",
]


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 4.0) -> Tensor:
    r"""Knowledge distillation (Hinton, Vinyals & Dean 2015, arXiv:1503.02531).

    .. math:: L = T^2 \cdot \frac{1}{N}\sum_i
              \mathrm{KL}\big(\sigma(z^t_i/T)\,\|\,\sigma(z^s_i/T)\big)

    KL summed over classes, averaged over the batch ("batchmean"); the :math:`T^2` factor keeps
    the gradient magnitude independent of the temperature, as the paper prescribes.
    """
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    kl = F.kl_div(log_p_s, log_p_t, reduction="none", log_target=True).sum(dim=1)
    return kl.mean() * temperature**2


def dkd_terms(
    student_logits: Tensor, teacher_logits: Tensor, target: Tensor, temperature: float = 4.0
) -> tuple[Tensor, Tensor]:
    r"""The two parts of decoupled KD (Zhao et al., CVPR 2022): ``(TCKD, NCKD)``.

    TCKD is the KL divergence between the binary distributions
    :math:`b = [p_{target}, 1 - p_{target}]` of teacher and student; NCKD the KL divergence
    between the distributions over the *non-target* classes only (renormalised). Both are
    computed at temperature T, multiplied by :math:`T^2` and averaged over the batch.
    Log-probabilities are formed with ``logsumexp`` (exact, no ``log(0)``).
    """
    z_s = student_logits / temperature
    z_t = teacher_logits / temperature
    n, c = z_s.shape
    gt = F.one_hot(target.long().reshape(-1), num_classes=c).bool()
    other_s = z_s[~gt].reshape(n, c - 1)
    other_t = z_t[~gt].reshape(n, c - 1)

    def binary(z: Tensor, other: Tensor) -> Tensor:
        lse = torch.logsumexp(z, dim=1)
        log_target = z[gt] - lse
        log_other = torch.logsumexp(other, dim=1) - lse
        return torch.stack([log_target, log_other], dim=1)

    tckd = F.kl_div(binary(z_s, other_s), binary(z_t, other_t), reduction="none", log_target=True)
    nckd = F.kl_div(
        F.log_softmax(other_s, dim=1), F.log_softmax(other_t, dim=1),
        reduction="none", log_target=True,
    )  # fmt: skip
    scale = temperature**2
    return tckd.sum(dim=1).mean() * scale, nckd.sum(dim=1).mean() * scale


def dkd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    target: Tensor,
    alpha: float = 1.0,
    beta: float = 8.0,
    temperature: float = 4.0,
) -> Tensor:
    r"""Decoupled knowledge distillation (Zhao et al., CVPR 2022, arXiv:2203.08679).

    .. math:: L = \alpha\,\mathrm{TCKD} + \beta\,\mathrm{NCKD}

    (see :func:`dkd_terms`). Classical KD equals :math:`\mathrm{TCKD} + (1-p^t_{target})\,
    \mathrm{NCKD}`; DKD decouples the weights. Needs the ground-truth class ids ``target``.
    """
    tckd, nckd = dkd_terms(student_logits, teacher_logits, target, temperature)
    return alpha * tckd + beta * nckd


def pearson_rows(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """Pearson correlation of each row of ``a`` with the same row of ``b`` (shape (N,))."""
    a = a - a.mean(dim=1, keepdim=True)
    b = b - b.mean(dim=1, keepdim=True)
    return (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_terms(
    student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0
) -> tuple[Tensor, Tensor]:
    r"""DIST's two relations (Huang et al., NeurIPS 2022): ``(inter, intra)``.

    With :math:`Y = \mathrm{softmax}(Z/T)` row-wise, the inter-class relation is
    :math:`1 - \frac{1}{N}\sum_i \rho(Y^s_{i,:}, Y^t_{i,:})` (each sample's class ranking) and the
    intra-class relation :math:`1 - \frac{1}{C}\sum_j \rho(Y^s_{:,j}, Y^t_{:,j})` (each class
    across the batch); ρ is the Pearson correlation. Both are multiplied by :math:`T^2`.
    """
    y_s = F.softmax(student_logits / temperature, dim=1)
    y_t = F.softmax(teacher_logits / temperature, dim=1)
    inter = 1.0 - pearson_rows(y_s, y_t).mean()
    intra = 1.0 - pearson_rows(y_s.t(), y_t.t()).mean()
    scale = temperature**2
    return inter * scale, intra * scale


def dist_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    beta: float = 1.0,
    gamma: float = 1.0,
    temperature: float = 1.0,
) -> Tensor:
    r"""DIST: knowledge distillation from a stronger teacher (Huang et al., NeurIPS 2022).

    .. math:: L = \beta\,L_{inter} + \gamma\,L_{intra}

    (see :func:`dist_terms`): Pearson correlation replaces KL so the student need only keep
    the teacher's *relative* preferences. 0 when the predictions match (up to ``eps``).
    """
    inter, intra = dist_terms(student_logits, teacher_logits, temperature)
    return beta * inter + gamma * intra


def kd_regression_loss(student_pred: Tensor, teacher_pred: Tensor) -> Tensor:
    r"""Regression KD: the teacher's prediction as the target (mean squared error).

    .. math:: L = \frac{1}{N\,K}\sum_{i,k} (\hat y^s_{ik} - \hat y^t_{ik})^2

    Response distillation for regression: the student regresses the teacher's output (the L2
    "mimic" loss of Ba & Caruana, NeurIPS 2014; for regression tasks Takamoto et al., MIPR
    2020). The objective mixes it with the label loss through its weights.
    """
    return F.mse_loss(student_pred, teacher_pred)
