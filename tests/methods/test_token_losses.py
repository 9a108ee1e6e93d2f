"""Token-level LLM distillation losses pinned against independent float64 numpy references.

The references loop over (batch, token) positions and write each divergence from its
definition (Agarwal et al. 2024 for the generalized JSD); they share no code with
``potstill.methods.functional.token``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from potstill.errors import MethodError
from potstill.methods import functional as PF

RNG = np.random.default_rng(20261201)
B, L, V = 3, 4, 7
Z_S = RNG.normal(size=(B, L, V)) * 2
Z_T = RNG.normal(size=(B, L, V)) * 2
MASK = np.array([[1, 1, 1, 0], [1, 0, 1, 1], [0, 0, 1, 1]], dtype=np.int64)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True) if pi > 0))


def jsd(p_t: np.ndarray, p_s: np.ndarray, beta: float) -> float:
    m = beta * p_t + (1 - beta) * p_s
    return beta * kl(p_t, m) + (1 - beta) * kl(p_s, m)


def reference(div, z_s: np.ndarray, z_t: np.ndarray, mask: np.ndarray | None, temp: float) -> float:
    """T² × mean over unmasked positions of div(p_t, p_s) at temperature T (explicit loops)."""
    total, count = 0.0, 0
    for b in range(z_s.shape[0]):
        for i in range(z_s.shape[1]):
            if mask is not None and mask[b, i] == 0:
                continue
            total += div(softmax(z_t[b, i] / temp), softmax(z_s[b, i] / temp))
            count += 1
    return temp**2 * total / count


FORWARD = lambda p_t, p_s: kl(p_t, p_s)  # noqa: E731
REVERSE = lambda p_t, p_s: kl(p_s, p_t)  # noqa: E731


@pytest.mark.parametrize("temp", [1.0, 2.5])
@pytest.mark.parametrize("use_mask", [False, True])
def test_forward_and_reverse_kl_match_numpy(temp: float, use_mask: bool) -> None:
    mask = MASK if use_mask else None
    m = None if mask is None else torch.from_numpy(mask)
    got_f = PF.forward_kl_loss(t(Z_S), t(Z_T), m, temperature=temp)
    got_r = PF.reverse_kl_loss(t(Z_S), t(Z_T), m, temperature=temp)
    assert float(got_f) == pytest.approx(reference(FORWARD, Z_S, Z_T, mask, temp), rel=1e-10)
    assert float(got_r) == pytest.approx(reference(REVERSE, Z_S, Z_T, mask, temp), rel=1e-10)
    assert float(got_f) != pytest.approx(float(got_r), rel=1e-3)  # the two directions differ


@pytest.mark.parametrize("beta", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("temp", [1.0, 3.0])
def test_generalized_jsd_matches_numpy(beta: float, temp: float) -> None:
    got = PF.generalized_jsd_loss(t(Z_S), t(Z_T), torch.from_numpy(MASK), beta, temp)
    ref = reference(lambda p_t, p_s: jsd(p_t, p_s, beta), Z_S, Z_T, MASK, temp)
    assert float(got) == pytest.approx(ref, rel=1e-10)


def test_kl_by_hand() -> None:
    # p_t = [1/2, 1/2], p_s = [1/4, 3/4]: KL(t‖s) = 1/2 ln(4/3); KL(s‖t) = 1/4 ln(1/2) + 3/4 ln(3/2)
    s, te = t([[[0.0, math.log(3.0)]]]), t([[[0.0, 0.0]]])
    assert float(PF.forward_kl_loss(s, te)) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-12)
    rev = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert float(PF.reverse_kl_loss(s, te)) == pytest.approx(rev, rel=1e-12)


def test_jsd_limits_are_forward_and_reverse_kl() -> None:
    s, te = t(Z_S), t(Z_T)
    fwd, rev = float(PF.forward_kl_loss(s, te)), float(PF.reverse_kl_loss(s, te))
    assert float(PF.generalized_jsd_loss(s, te, beta=0.0)) == pytest.approx(fwd, rel=1e-12)
    assert float(PF.generalized_jsd_loss(s, te, beta=1.0)) == pytest.approx(rev, rel=1e-12)
    eps = 1e-9  # the normalised divergence approaches the endpoints continuously (error O(eps))
    assert float(PF.generalized_jsd_loss(s, te, beta=eps)) / eps == pytest.approx(fwd, rel=1e-6)
    near_one = float(PF.generalized_jsd_loss(s, te, beta=1 - eps)) / (1 - (1 - eps))
    assert near_one == pytest.approx(rev, rel=1e-6)
    tiny = PF.generalized_jsd_loss(s.float(), te.float(), beta=1e-30)
    assert torch.isfinite(tiny)


def test_jsd_is_symmetric_at_one_half() -> None:
    m = torch.from_numpy(MASK)
    ab = PF.generalized_jsd_loss(t(Z_S), t(Z_T), m, beta=0.5)
    ba = PF.generalized_jsd_loss(t(Z_T), t(Z_S), m, beta=0.5)
    assert float(ab) == pytest.approx(float(ba), rel=1e-12)
    assert float(ab) <= math.log(2.0)  # the symmetric JSD is bounded by ln 2
    skew = PF.generalized_jsd_loss(t(Z_T), t(Z_S), m, beta=0.2)
    assert float(skew) != pytest.approx(float(PF.generalized_jsd_loss(t(Z_S), t(Z_T), m, beta=0.2)))


LOSSES = [
    lambda s, te, m: PF.forward_kl_loss(s, te, m, temperature=2.0),
    lambda s, te, m: PF.reverse_kl_loss(s, te, m, temperature=2.0),
    lambda s, te, m: PF.generalized_jsd_loss(s, te, m, beta=0.3, temperature=2.0),
]


@pytest.mark.parametrize("loss", LOSSES)
def test_zero_at_equal_logits(loss) -> None:
    assert float(loss(t(Z_S), t(Z_S), None)) == pytest.approx(0.0, abs=1e-12)
    shifted = t(Z_S) + 5.0  # softmax is shift-invariant per token
    assert float(loss(t(Z_S), shifted, None)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_mask_excludes_tokens(loss) -> None:
    mask = torch.from_numpy(MASK)
    z_s2 = Z_S.copy()
    z_s2[MASK == 0] = RNG.normal(size=(int((MASK == 0).sum()), V)) * 9  # change masked tokens only
    assert float(loss(t(z_s2), t(Z_T), mask)) == pytest.approx(float(loss(t(Z_S), t(Z_T), mask)))
    assert float(loss(t(z_s2), t(Z_T), None)) != pytest.approx(float(loss(t(Z_S), t(Z_T), None)))
    assert float(loss(t(Z_S), t(Z_T), torch.zeros(B, L))) == 0.0  # nothing to average: 0


@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_finite_and_only_on_unmasked_tokens(loss) -> None:
    z = t(Z_S * 30).float().requires_grad_(True)  # extreme logits: near-one-hot softmax
    teacher = t(Z_T * 30).float()
    teacher[0, 0, 0] = -math.inf  # a token the teacher never emits
    loss(z, teacher, torch.from_numpy(MASK)).backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    assert (z.grad[torch.from_numpy(MASK) == 0] == 0).all()
    assert z.grad.abs().sum() > 0


# ----------------------------------------------------------------------------- top-k


def bucketed_reference(div, k: int, temp: float) -> float:
    """The divergence between k+1-outcome coarsenings: teacher top-k tokens + 'the rest'."""
    total, count = 0.0, 0
    for b in range(B):
        for i in range(L):
            if MASK[b, i] == 0:
                continue
            p_t, p_s = softmax(Z_T[b, i] / temp), softmax(Z_S[b, i] / temp)
            top = np.argsort(-p_t)[:k]
            rest = np.setdiff1d(np.arange(V), top)
            ct = np.append(p_t[top], p_t[rest].sum())
            cs = np.append(p_s[top], p_s[rest].sum())
            total += div(ct, cs)
            count += 1
    return temp**2 * total / count


@pytest.mark.parametrize(
    ("divergence", "div"),
    [("forward_kl", FORWARD), ("reverse_kl", REVERSE), ("jsd", lambda a, b: jsd(a, b, 0.3))],
)
@pytest.mark.parametrize("temp", [1.0, 2.0])
def test_topk_matches_bucketed_reference(divergence: str, div, temp: float) -> None:
    idx, val = PF.topk_log_probs(t(Z_T), 3, temperature=temp)
    got = PF.topk_token_loss(t(Z_S), idx, val, torch.from_numpy(MASK), divergence, 0.3, temp)
    assert float(got) == pytest.approx(bucketed_reference(div, 3, temp), rel=1e-9)


def test_topk_bounds_the_full_loss_and_equals_it_at_full_vocabulary() -> None:
    mask = torch.from_numpy(MASK)
    full = float(PF.forward_kl_loss(t(Z_S), t(Z_T), mask))
    partial = PF.topk_token_loss(t(Z_S), *PF.topk_log_probs(t(Z_T), 2), mask)
    assert 0 < float(partial) < full
    idx, val = PF.topk_log_probs(t(Z_T), V)
    for divergence, loss in [
        ("forward_kl", PF.forward_kl_loss),
        ("reverse_kl", PF.reverse_kl_loss),
    ]:
        got = PF.topk_token_loss(t(Z_S), idx, val, mask, divergence)
        assert float(got) == pytest.approx(float(loss(t(Z_S), t(Z_T), mask)), rel=1e-9)


def test_topk_float32_full_vocabulary_has_finite_gradients() -> None:
    z = t(Z_S).float().requires_grad_(True)
    idx, val = PF.topk_log_probs(t(Z_T).float(), V)
    for divergence in PF.TOKEN_DIVERGENCES:
        z.grad = None
        PF.topk_token_loss(z, idx, val, torch.from_numpy(MASK), divergence).backward()
        assert z.grad is not None and torch.isfinite(z.grad).all()


def test_topk_is_zero_when_the_student_is_the_teacher() -> None:
    idx, val = PF.topk_log_probs(t(Z_T), 3)
    for divergence in PF.TOKEN_DIVERGENCES:
        assert float(PF.topk_token_loss(t(Z_T), idx, val, None, divergence)) == pytest.approx(
            0.0, abs=1e-12
        )


def test_vocabulary_mismatch_and_bad_parameters_are_refused() -> None:
    with pytest.raises(MethodError, match=r"student's vocabulary \(7 logits.*teacher's \(9\)"):
        PF.forward_kl_loss(t(Z_S), t(np.zeros((B, L, 9))))
    idx, val = PF.topk_log_probs(t(np.zeros((B, L, 9))), 2)
    idx[0, 0, 0] = 8
    with pytest.raises(MethodError, match="reach 8, outside the student's vocabulary of 7"):
        PF.topk_token_loss(t(Z_S), idx, val)
    with pytest.raises(MethodError, match="'temperature' parameter of token-level KD must be > 0"):
        PF.reverse_kl_loss(t(Z_S), t(Z_T), temperature=-1.0)
    with pytest.raises(MethodError, match=r"'beta' parameter .* in \[0, 1\]. Got 1.5"):
        PF.generalized_jsd_loss(t(Z_S), t(Z_T), beta=1.5)
    with pytest.raises(MethodError, match=r"mask must be shaped \(batch, tokens\) = \(3, 4\)"):
        PF.forward_kl_loss(t(Z_S), t(Z_T), torch.ones(3, 5))
    with pytest.raises(MethodError, match="'divergence' parameter"):
        PF.topk_token_loss(t(Z_S), *PF.topk_log_probs(t(Z_T), 2), divergence="tvd")
    with pytest.raises(MethodError, match=r"'k' parameter .* in \[1, 7\]"):
        PF.topk_log_probs(t(Z_T), 0)
