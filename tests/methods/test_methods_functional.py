"""Each functional loss pinned against an independent reference written from its paper.

References are plain numpy (float64, explicit loops where the paper sums over pairs or
triplets) on seeded inputs, plus a few values computed by hand. They share no code with
``potstill.methods.functional``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from potstill.methods import functional as PF

RNG = np.random.default_rng(20260101)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float64))


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def kl(p: np.ndarray, q: np.ndarray) -> float:
    return float(np.sum(p * np.log(p / q)))


def huber(x: np.ndarray, y: np.ndarray) -> float:
    d = np.abs(x - y)
    return float(np.mean(np.where(d < 1.0, 0.5 * d**2, d - 0.5)))


LOGITS_S = RNG.normal(size=(6, 5)) * 2
LOGITS_T = RNG.normal(size=(6, 5)) * 2
TARGET = np.array([0, 4, 2, 2, 1, 3])


# ----------------------------------------------------------------------------- response


def test_kd_by_hand() -> None:
    # T = 1: p_t = [1/2, 1/2], p_s = [1/4, 3/4] → KL = 1/2 ln 2 + 1/2 ln(2/3) = 1/2 ln(4/3)
    loss = PF.kd_loss(t([[0.0, math.log(3.0)]]), t([[0.0, 0.0]]), temperature=1.0)
    assert float(loss) == pytest.approx(0.5 * math.log(4 / 3), rel=1e-12)
    # T = 2 scales logits by 1/2 and the loss by T² = 4
    loss2 = PF.kd_loss(t([[0.0, 2 * math.log(3.0)]]), t([[0.0, 0.0]]), temperature=2.0)
    assert float(loss2) == pytest.approx(4 * 0.5 * math.log(4 / 3), rel=1e-12)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_kd_matches_numpy(temperature: float) -> None:
    p_s = softmax(LOGITS_S / temperature)
    p_t = softmax(LOGITS_T / temperature)
    ref = temperature**2 * np.mean([kl(p_t[i], p_s[i]) for i in range(len(p_s))])
    got = PF.kd_loss(t(LOGITS_S), t(LOGITS_T), temperature)
    assert float(got) == pytest.approx(ref, rel=1e-10)


def _dkd_reference(temperature: float) -> tuple[float, float]:
    tckd, nckd = [], []
    for z_s, z_t, g in zip(LOGITS_S, LOGITS_T, TARGET, strict=True):
        p_s, p_t = softmax(z_s / temperature), softmax(z_t / temperature)
        b_s, b_t = np.array([p_s[g], 1 - p_s[g]]), np.array([p_t[g], 1 - p_t[g]])
        tckd.append(kl(b_t, b_s))
        other = np.arange(len(z_s)) != g
        hat_s = p_s[other] / p_s[other].sum()  # p̂_i = p_i / (1 - p_target), paper Eq. (2)
        hat_t = p_t[other] / p_t[other].sum()
        nckd.append(kl(hat_t, hat_s))
    scale = temperature**2
    return scale * float(np.mean(tckd)), scale * float(np.mean(nckd))


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_dkd_matches_numpy(temperature: float) -> None:
    ref_t, ref_n = _dkd_reference(temperature)
    tckd, nckd = PF.dkd_terms(t(LOGITS_S), t(LOGITS_T), torch.tensor(TARGET), temperature)
    assert float(tckd) == pytest.approx(ref_t, rel=1e-10)
    assert float(nckd) == pytest.approx(ref_n, rel=1e-10)
    loss = PF.dkd_loss(t(LOGITS_S), t(LOGITS_T), torch.tensor(TARGET), 0.5, 3.0, temperature)
    assert float(loss) == pytest.approx(0.5 * ref_t + 3.0 * ref_n, rel=1e-10)


def test_kd_decomposes_into_tckd_and_nckd() -> None:
    # The paper's Eq. (1): KD = TCKD + (1 - p^t_target) · NCKD, per sample.
    for i in range(len(LOGITS_S)):
        s, tt, g = t(LOGITS_S[i : i + 1]), t(LOGITS_T[i : i + 1]), torch.tensor(TARGET[i : i + 1])
        tckd, nckd = PF.dkd_terms(s, tt, g, temperature=2.0)
        p_target = softmax(LOGITS_T[i] / 2.0)[TARGET[i]]
        kd = PF.kd_loss(s, tt, temperature=2.0)
        assert float(kd) == pytest.approx(float(tckd) + (1 - p_target) * float(nckd), rel=1e-10)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_dist_matches_numpy(temperature: float) -> None:
    y_s, y_t = softmax(LOGITS_S / temperature), softmax(LOGITS_T / temperature)
    inter = 1 - np.mean([np.corrcoef(y_s[i], y_t[i])[0, 1] for i in range(6)])
    intra = 1 - np.mean([np.corrcoef(y_s[:, j], y_t[:, j])[0, 1] for j in range(5)])
    got_inter, got_intra = PF.dist_terms(t(LOGITS_S), t(LOGITS_T), temperature)
    assert float(got_inter) == pytest.approx(temperature**2 * inter, rel=1e-6)
    assert float(got_intra) == pytest.approx(temperature**2 * intra, rel=1e-6)
    loss = PF.dist_loss(t(LOGITS_S), t(LOGITS_T), beta=2.0, gamma=0.5, temperature=temperature)
    assert float(loss) == pytest.approx(temperature**2 * (2.0 * inter + 0.5 * intra), rel=1e-6)


def test_kd_regression_by_hand() -> None:
    loss = PF.kd_regression_loss(t([[1.0], [2.0], [4.0]]), t([[0.0], [2.0], [1.0]]))
    assert float(loss) == pytest.approx((1 + 0 + 9) / 3)


# ----------------------------------------------------------------------------- feature


def test_fitnet_and_hidden_mse_match_numpy() -> None:
    a, b = RNG.normal(size=(4, 3, 5, 5)), RNG.normal(size=(4, 3, 5, 5))
    ref = np.mean((a - b) ** 2)
    assert float(PF.fitnet_loss(t(a), t(b))) == pytest.approx(ref, rel=1e-12)
    assert float(PF.hidden_mse_loss(t(a), t(b))) == pytest.approx(ref, rel=1e-12)


def test_hidden_cosine_matches_numpy() -> None:
    a, b = RNG.normal(size=(3, 4, 6)), RNG.normal(size=(3, 4, 6))
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    assert float(PF.hidden_cosine_loss(t(a), t(b))) == pytest.approx(np.mean(1 - cos), rel=1e-10)
    m_a, m_b = RNG.normal(size=(2, 3, 4, 4)), RNG.normal(size=(2, 3, 4, 4))
    cos_c = (m_a * m_b).sum(1) / (np.linalg.norm(m_a, axis=1) * np.linalg.norm(m_b, axis=1))
    got = PF.hidden_cosine_loss(t(m_a), t(m_b), dim=1)
    assert float(got) == pytest.approx(np.mean(1 - cos_c), rel=1e-10)


def _attention_map(f: np.ndarray, p: float) -> np.ndarray:
    q = np.abs(f) ** p
    q = q.sum(axis=1).reshape(len(f), -1)  # paper: Σ_c |A_c|^p (normalised, so sum = mean)
    return q / np.linalg.norm(q, axis=1, keepdims=True)


@pytest.mark.parametrize("p", [2.0, 1.0, 4.0])
def test_at_matches_numpy(p: float) -> None:
    s, tt = RNG.normal(size=(3, 4, 5, 5)), RNG.normal(size=(3, 7, 5, 5))
    ref = np.mean((_attention_map(s, p) - _attention_map(tt, p)) ** 2)
    assert float(PF.at_loss(t(s), t(tt), p)) == pytest.approx(ref, rel=1e-10)


def test_at_pools_the_larger_map() -> None:
    s, tt = RNG.normal(size=(2, 3, 8, 8)), RNG.normal(size=(2, 5, 4, 4))
    pooled = s.reshape(2, 3, 4, 2, 4, 2).mean(axis=(3, 5))  # 2×2 average pooling
    ref = np.mean((_attention_map(pooled, 2.0) - _attention_map(tt, 2.0)) ** 2)
    assert float(PF.at_loss(t(s), t(tt))) == pytest.approx(ref, rel=1e-10)


def test_attention_mse_matches_numpy() -> None:
    a, b = softmax(RNG.normal(size=(2, 3, 4, 4))), softmax(RNG.normal(size=(2, 3, 4, 4)))
    per_head = [np.mean((a[:, h] - b[:, h]) ** 2) for h in range(3)]
    assert float(PF.attention_mse_loss(t(a), t(b))) == pytest.approx(np.mean(per_head), rel=1e-12)


# ----------------------------------------------------------------------------- relation

EMB_S = RNG.normal(size=(7, 4))
EMB_T = RNG.normal(size=(7, 9))


def _distances(x: np.ndarray) -> np.ndarray:
    n = len(x)
    return np.array([[np.linalg.norm(x[i] - x[j]) for j in range(n)] for i in range(n)])


def test_rkd_distance_matches_numpy() -> None:
    d_s, d_t = _distances(EMB_S), _distances(EMB_T)
    off = ~np.eye(7, dtype=bool)
    ref = huber(d_s / d_s[off].mean(), d_t / d_t[off].mean())
    assert float(PF.rkd_distance_loss(t(EMB_S), t(EMB_T))) == pytest.approx(ref, rel=1e-8)


def test_rkd_distance_by_hand() -> None:
    # Teacher: a 3-4-5 right triangle (mean distance 4); student: equilateral, side 2 (mean 2).
    teacher = t([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    student = t([[0.0, 0.0], [2.0, 0.0], [1.0, math.sqrt(3.0)]])
    # normalised: teacher 3/4, 4/4, 5/4 vs student 1, 1, 1 → diffs 1/4, 0, 1/4, each twice
    expected = 2 * (0.5 * 0.25**2 + 0 + 0.5 * 0.25**2) / 9
    assert float(PF.rkd_distance_loss(student, teacher)) == pytest.approx(expected, rel=1e-8)


def _angle_cosines(x: np.ndarray) -> np.ndarray:
    n = len(x)
    out = np.zeros((n, n, n))
    for i in range(n):
        for j in range(n):
            for k in range(n):
                if j == i or k == i:
                    continue  # a degenerate triplet: e is the zero vector, cos taken as 0
                e_ij = (x[j] - x[i]) / np.linalg.norm(x[j] - x[i])
                e_ik = (x[k] - x[i]) / np.linalg.norm(x[k] - x[i])
                out[i, j, k] = e_ij @ e_ik
    return out


def test_rkd_angle_matches_numpy() -> None:
    ref = huber(_angle_cosines(EMB_S), _angle_cosines(EMB_T))
    assert float(PF.rkd_angle_loss(t(EMB_S), t(EMB_T))) == pytest.approx(ref, rel=1e-8)


def test_sp_matches_numpy() -> None:
    s, tt = RNG.normal(size=(5, 3, 2, 2)), RNG.normal(size=(5, 6))
    q_s, q_t = s.reshape(5, -1), tt
    g_s, g_t = q_s @ q_s.T, q_t @ q_t.T
    g_s /= np.linalg.norm(g_s, axis=1, keepdims=True)
    g_t /= np.linalg.norm(g_t, axis=1, keepdims=True)
    ref = np.sum((g_t - g_s) ** 2) / 25
    assert float(PF.sp_loss(t(s), t(tt))) == pytest.approx(ref, rel=1e-10)


def test_pkt_matches_numpy() -> None:
    def cond(x: np.ndarray) -> np.ndarray:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        k = (x @ x.T + 1) / 2
        return k / k.sum(axis=1, keepdims=True)

    p_s, p_t = cond(EMB_S), cond(EMB_T)
    ref = np.mean(p_t * np.log(p_t / p_s))
    assert float(PF.pkt_loss(t(EMB_S), t(EMB_T))) == pytest.approx(ref, rel=1e-5)


def _rbf(x: np.ndarray, gamma: float) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.exp(-gamma * _distances(x) ** 2)


def test_cc_taylor_expansion_converges_to_the_rbf_kernel() -> None:
    exact = _rbf(EMB_S, 0.4)
    assert np.allclose(PF.cc_correlation(t(EMB_S), 0.4, order=25).numpy(), exact, atol=1e-12)
    ref = np.mean((_rbf(EMB_S, 0.4) - _rbf(EMB_T, 0.4)) ** 2)
    assert float(PF.cc_loss(t(EMB_S), t(EMB_T), 0.4, order=25)) == pytest.approx(ref, rel=1e-9)


def test_cc_second_order_matches_numpy() -> None:
    def corr(x: np.ndarray, g: float) -> np.ndarray:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        s = x @ x.T
        return np.exp(-2 * g) * (1 + 2 * g * s + (2 * g * s) ** 2 / 2)

    ref = np.mean((corr(EMB_S, 0.4) - corr(EMB_T, 0.4)) ** 2)
    assert float(PF.cc_loss(t(EMB_S), t(EMB_T))) == pytest.approx(ref, rel=1e-10)


def test_crd_contrast_loss_matches_numpy() -> None:
    scores = RNG.uniform(1e-4, 2e-3, size=(3, 5))  # positive first, then K = 4 negatives
    n_data, k = 100, 4
    mp = k / n_data
    ref = -np.mean(
        [np.log(row[0] / (row[0] + mp)) + np.sum(np.log(mp / (row[1:] + mp))) for row in scores]
    )
    assert float(PF.crd_contrast_loss(t(scores), n_data)) == pytest.approx(ref, rel=1e-5)


def test_minilm_attention_matches_numpy() -> None:
    a_s, a_t = softmax(RNG.normal(size=(2, 3, 4, 4))), softmax(RNG.normal(size=(2, 3, 4, 4)))
    ref = np.mean(
        [kl(a_t[n, h, i], a_s[n, h, i]) for n in range(2) for h in range(3) for i in range(4)]
    )
    assert float(PF.minilm_attention_loss(t(a_s), t(a_t))) == pytest.approx(ref, rel=1e-10)


def test_minilm_value_relation_matches_numpy() -> None:
    v_s, v_t = RNG.normal(size=(2, 3, 4, 5)), RNG.normal(size=(2, 3, 4, 8))

    def relation(v: np.ndarray) -> np.ndarray:
        return softmax(v @ np.swapaxes(v, -1, -2) / math.sqrt(v.shape[-1]))

    r_s, r_t = relation(v_s), relation(v_t)
    ref = np.mean(
        [kl(r_t[n, h, i], r_s[n, h, i]) for n in range(2) for h in range(3) for i in range(4)]
    )
    assert float(PF.minilm_value_relation_loss(t(v_s), t(v_t))) == pytest.approx(ref, rel=1e-10)
