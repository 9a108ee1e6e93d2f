"""Token-level losses for distilling a causal language model into a smaller one.

Pure functions on logits shaped (batch, tokens, vocabulary) with an optional mask shaped
(batch, tokens): each divergence is summed over the vocabulary at every position, then
averaged over the positions where the mask is 1 (padding and prompt tokens excluded). A mask
with no 1 at all gives 0 (an empty sum over at least one token), never NaN.

Temperature convention: both distributions are taken at temperature T (``softmax(z / T)``)
and the divergence is multiplied by :math:`T^2`, as in :func:`potstill.methods.functional.kd_loss`
(Hinton et al. 2015), so the gradient's magnitude does not depend on T. The default T = 1
is the plain divergence (the setting of Agarwal et al. 2024 and of Gu et al. 2024).

Log-probabilities are floored at :data:`LOG_FLOOR` before use, so a zero probability (a
``-inf`` logit, an empty top-k tail) contributes 0 rather than ``0 · inf = NaN``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from potstill.errors import MethodError

__all__ = [
    "LOG_FLOOR",
    "TOKEN_DIVERGENCES",
    "forward_kl_loss",
    "generalized_jsd_loss",
    "reverse_kl_loss",
    "topk_log_probs",
    "topk_token_loss",
]

#: Log-probabilities below this are treated as probability 0 (e^-10000 underflows anyway).
LOG_FLOOR = -1.0e4

#: The divergences :func:`topk_token_loss` accepts, by name.
TOKEN_DIVERGENCES = ("forward_kl", "reverse_kl", "jsd")


def _check_logits(student_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None) -> None:
    if student_logits.ndim != 3:
        raise MethodError(
            "Token-level losses take logits shaped (batch, tokens, vocabulary). "
            f"Got student logits of shape {tuple(student_logits.shape)} instead."
        )
    if student_logits.shape[-1] != teacher_logits.shape[-1]:
        raise MethodError(
            f"The student's vocabulary ({student_logits.shape[-1]} logits per token) differs from "
            f"the teacher's ({teacher_logits.shape[-1]}). Token-level distillation compares "
            "distributions over one vocabulary: build the student with the teacher's tokenizer."
        )
    if student_logits.shape != teacher_logits.shape:
        raise MethodError(
            f"Student logits {tuple(student_logits.shape)} and teacher logits "
            f"{tuple(teacher_logits.shape)} must have the same (batch, tokens, vocabulary) shape."
        )
    _check_mask(mask, student_logits.shape[:2])


def _check_mask(mask: Tensor | None, shape: torch.Size) -> None:
    if mask is not None and tuple(mask.shape) != tuple(shape):
        raise MethodError(
            f"The token mask must be shaped (batch, tokens) = {tuple(shape)}. "
            f"Got {tuple(mask.shape)} instead."
        )


def _check_params(temperature: float, beta: float = 0.5) -> None:
    if not temperature > 0:
        raise MethodError(
            f"The 'temperature' parameter of token-level KD must be > 0. Got {temperature} instead."
        )
    if not 0.0 <= beta <= 1.0:
        raise MethodError(
            f"The 'beta' parameter of the generalized JSD must be in [0, 1]. Got {beta} instead."
        )


def _masked_mean(per_token: Tensor, mask: Tensor | None) -> Tensor:
    """Mean of the (batch, tokens) values over the positions where ``mask`` is 1."""
    if mask is None:
        return per_token.mean()
    weights = mask.to(per_token)  # its dtype and device
    return (per_token * weights).sum() / weights.sum().clamp_min(1.0)


def _kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """KL(p ‖ q) summed over the last axis, from log-probabilities (floored, see LOG_FLOOR)."""
    log_p = log_p.clamp_min(LOG_FLOOR)
    log_q = log_q.clamp_min(LOG_FLOOR)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _jsd(log_s: Tensor, log_t: Tensor, beta: float) -> Tensor:
    """Generalized JSD per position; at β = 0 / 1 its normalised limits (forward / reverse KL)."""
    if beta == 0.0:
        return _kl(log_t, log_s)
    if beta == 1.0:
        return _kl(log_s, log_t)
    log_s, log_t = log_s.clamp_min(LOG_FLOOR), log_t.clamp_min(LOG_FLOOR)
    log_m = torch.logsumexp(torch.stack([log_t + math.log(beta), log_s + math.log1p(-beta)]), dim=0)
    return beta * _kl(log_t, log_m) + (1.0 - beta) * _kl(log_s, log_m)


def _divergence(log_s: Tensor, log_t: Tensor, name: str, beta: float) -> Tensor:
    if name == "forward_kl":
        return _kl(log_t, log_s)
    if name == "reverse_kl":
        return _kl(log_s, log_t)
    if name == "jsd":
        return _jsd(log_s, log_t, beta)
    raise MethodError(
        f"The 'divergence' parameter of token-level KD must be one of {list(TOKEN_DIVERGENCES)}. "
        f"Got {name!r} instead."
    )


def _full_vocab_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None,
    temperature: float,
    divergence: str,
    beta: float = 0.5,
) -> Tensor:
    _check_logits(student_logits, teacher_logits, mask)
    _check_params(temperature, beta)
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    log_t = F.log_softmax(teacher_logits.detach().to(student_logits.dtype) / temperature, dim=-1)
    per_token = _divergence(log_s, log_t, divergence, beta)
    return _masked_mean(per_token, mask) * temperature**2


def forward_kl_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    r"""Forward KL, the token-level KD of Hinton et al. 2015 and Kim & Rush 2016 (word-level).

    .. math:: L = \frac{T^2}{|M|}\sum_{(b,i)\in M} \mathrm{KL}\big(p^t_{bi}\,\|\,p^s_{bi}\big),
              \quad p_{bi} = \mathrm{softmax}(z_{bi}/T)

    Mean-seeking: the student spreads mass over every token the teacher finds likely.
    """
    return _full_vocab_loss(student_logits, teacher_logits, mask, temperature, "forward_kl")


def reverse_kl_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    temperature: float = 1.0,
) -> Tensor:
    r"""Reverse KL, KL(student ‖ teacher) per token (MiniLLM, Gu et al. 2024).

    .. math:: L = \frac{T^2}{|M|}\sum_{(b,i)\in M} \mathrm{KL}\big(p^s_{bi}\,\|\,p^t_{bi}\big)

    Mode-seeking: the student may drop teacher modes it cannot represent.
    """
    return _full_vocab_loss(student_logits, teacher_logits, mask, temperature, "reverse_kl")


def generalized_jsd_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    mask: Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
) -> Tensor:
    r"""Generalized Jensen-Shannon divergence of GKD (Agarwal et al., ICLR 2024, arXiv:2306.13649).

    .. math:: \mathrm{JSD}(\beta)(p^t\|p^s) = \beta\,\mathrm{KL}(p^t\|m) + (1-\beta)\,
              \mathrm{KL}(p^s\|m), \quad m = \beta\,p^t + (1-\beta)\,p^s

    averaged over the masked tokens and multiplied by :math:`T^2`. β = 0.5 is the symmetric
    JSD. The divergence itself vanishes at β = 0 and β = 1 for every pair of distributions;
    as the paper notes (and TRL implements), ``JSD(β)/β → KL(p^t‖p^s)`` as β → 0 and
    ``JSD(β)/(1-β) → KL(p^s‖p^t)`` as β → 1, so the endpoints return those limits: β = 0 is
    the forward KL and β = 1 the reverse KL.
    """
    return _full_vocab_loss(student_logits, teacher_logits, mask, temperature, "jsd", beta)


def topk_log_probs(logits: Tensor, k: int, temperature: float = 1.0) -> tuple[Tensor, Tensor]:
    """The ``k`` largest log-probabilities of ``softmax(logits / T)`` and their token ids.

    What a teacher caches for :func:`topk_token_loss`: ``(indices, values)``, each shaped
    (batch, tokens, k), values sorted in decreasing order.
    """
    _check_params(temperature)
    if not 1 <= k <= logits.shape[-1]:
        raise MethodError(
            f"The 'k' parameter of the teacher's top-k cache must be in [1, {logits.shape[-1]}] "
            f"(the vocabulary size). Got {k} instead."
        )
    values, indices = torch.topk(F.log_softmax(logits / temperature, dim=-1), k, dim=-1)
    return indices, values


def _log1mexp(x: Tensor) -> Tensor:
    """log(1 - e^x) for x <= 0, stable at both ends (Mächler 2012); -inf at x = 0."""
    x = x.clamp(max=0.0)
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def _bucketed(
    student_logits: Tensor, indices: Tensor, values: Tensor, temperature: float
) -> tuple[Tensor, Tensor]:
    """Student and teacher log-probabilities over k + 1 outcomes: the teacher's top-k tokens
    and one bucket for the rest of the vocabulary. Exact coarsenings of both distributions."""
    log_s = F.log_softmax(student_logits / temperature, dim=-1)
    s_top = log_s.gather(-1, indices)
    rest = log_s.masked_fill(
        torch.zeros_like(log_s, dtype=torch.bool).scatter_(-1, indices, True),
        torch.finfo(log_s.dtype).min,
    )
    s_rest = torch.logsumexp(rest, dim=-1, keepdim=True)
    t_top = values.detach().to(log_s.dtype)
    t_rest = _log1mexp(torch.logsumexp(t_top, dim=-1, keepdim=True))
    log_t = torch.cat([t_top, t_rest.clamp_min(LOG_FLOOR)], dim=-1)
    log_t = log_t - torch.logsumexp(log_t, dim=-1, keepdim=True)  # rounding in the cache
    return torch.cat([s_top, s_rest], dim=-1), log_t


def _check_topk(student_logits: Tensor, indices: Tensor, values: Tensor) -> None:
    if student_logits.ndim != 3 or indices.shape != values.shape:
        raise MethodError(
            "Top-k distillation takes student logits (batch, tokens, vocabulary) and the teacher's "
            "indices and log-probabilities, both (batch, tokens, k). Got "
            f"{tuple(student_logits.shape)}, {tuple(indices.shape)} and {tuple(values.shape)}."
        )
    if indices.shape[:2] != student_logits.shape[:2]:
        raise MethodError(
            f"The teacher's top-k cache covers {tuple(indices.shape[:2])} (batch, tokens) but the "
            f"student's logits cover {tuple(student_logits.shape[:2])}: recompute the cache."
        )
    vocab = student_logits.shape[-1]
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= vocab):
        raise MethodError(
            f"The teacher's top-k token ids reach {int(indices.max())}, outside the student's "
            f"vocabulary of {vocab} tokens. Distil between models that share one tokenizer."
        )


def topk_token_loss(
    student_logits: Tensor,
    teacher_indices: Tensor,
    teacher_log_probs: Tensor,
    mask: Tensor | None = None,
    divergence: str = "forward_kl",
    beta: float = 0.5,
    temperature: float = 1.0,
) -> Tensor:
    r"""A token-level divergence against the teacher's cached top-k log-probabilities.

    Off-policy distillation on a fixed corpus need not run the teacher per step nor store its
    full (tokens × vocabulary) logits: :func:`topk_log_probs` keeps the k most likely tokens.
    Both distributions are coarsened to k + 1 outcomes — the teacher's top-k tokens and "any
    other token" (the teacher's remaining mass :math:`1-\sum_j p^t_j`, the student's mass
    outside those ids) — and ``divergence`` (``forward_kl``, ``reverse_kl`` or ``jsd`` with
    ``beta``, as in the full-vocabulary functions) is taken between them. By the data
    processing inequality this lower-bounds the full-vocabulary divergence and equals it when
    k is the vocabulary size. ``teacher_log_probs`` must have been computed at the same
    ``temperature`` (cache them at the temperature you train with); the result is multiplied
    by :math:`T^2` like the full-vocabulary losses.
    """
    _check_topk(student_logits, teacher_indices, teacher_log_probs)
    _check_mask(mask, student_logits.shape[:2])
    _check_params(temperature, beta)
    log_s, log_t = _bucketed(student_logits, teacher_indices.long(), teacher_log_probs, temperature)
    per_token = _divergence(log_s, log_t, divergence, beta)
    return _masked_mean(per_token, mask) * temperature**2
