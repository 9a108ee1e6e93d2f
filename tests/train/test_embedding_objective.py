"""The embedding objective in the one training loop.

The loss on a fixed batch is pinned against a computation written here from the formulas
(cosine + MSE + RKD, Park et al. 2019); the loop's first epoch against a hand-written loop
of the same steps; progress events, checkpoint/resume and hook release come from train().
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip("transformers")

from potstill.data.text import encode_texts  # noqa: E402
from potstill.errors import MethodError  # noqa: E402
from potstill.events import Stage, StageProgress  # noqa: E402
from potstill.methods import BindContext  # noqa: E402
from potstill.models import HFClassifier, embed_texts  # noqa: E402
from potstill.models.hf.students import build_hf_student  # noqa: E402
from potstill.train import TrainConfig  # noqa: E402
from potstill.train.embedding import (  # noqa: E402
    DEFAULT_RELATION,
    embedding_objective,
    fit_embedding_student,
)
from potstill.types import Batch, Outputs  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "drug", "pain", "the",
         "it", "was", "great", "awful"]  # fmt: skip


def _huber(a: np.ndarray, b: np.ndarray) -> float:
    d = np.abs(a - b)
    return float(np.mean(np.where(d < 1.0, 0.5 * d**2, d - 0.5)))


def _rkd_by_hand(s: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """RKD distance and angle terms from the paper's definitions, with plain loops."""

    def distances(x: np.ndarray) -> np.ndarray:
        d = np.array([[np.linalg.norm(a - b) for b in x] for a in x])
        return d / d[~np.eye(len(x), dtype=bool)].mean()

    def angles(x: np.ndarray) -> np.ndarray:
        def unit(v: np.ndarray) -> np.ndarray:
            n = np.linalg.norm(v)
            return v / n if n > 0 else v

        n = len(x)
        return np.array([unit(x[j] - x[i]) @ unit(x[k] - x[i])
                         for i, j, k in itertools.product(range(n), repeat=3)])  # fmt: skip

    return _huber(distances(s), distances(t)), _huber(angles(s), angles(t))


def test_embedding_loss_on_a_fixed_batch_matches_a_hand_written_computation() -> None:
    rng = np.random.default_rng(3)
    s_np, t_np = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    s = torch.tensor(s_np, dtype=torch.float64, requires_grad=True)
    t = torch.tensor(t_np, dtype=torch.float64)
    objective = embedding_objective(DEFAULT_RELATION, cosine_weight=0.7, mse_weight=0.3)
    s_out, t_out = Outputs(s, embedding=s), Outputs(t, embedding=t)
    objective.bind(s_out, t_out, BindContext(n_train=6, n_classes=0, problem="embedding"))
    terms = objective(s_out, t_out, Batch(x=s, y=t, index=torch.arange(6)))

    cos = np.mean(1 - (s_np * t_np).sum(1) / np.linalg.norm(s_np, axis=1)
                  / np.linalg.norm(t_np, axis=1))  # fmt: skip
    mse = np.mean((s_np - t_np) ** 2)
    distance, angle = _rkd_by_hand(s_np, t_np)
    expected = 0.7 * cos + 0.3 * mse + 1.0 * (1.0 * distance + 2.0 * angle)  # DEFAULT_RELATION
    assert float(terms["loss"].detach()) == pytest.approx(expected, rel=1e-9)
    assert float(terms["rkd.distance"]) == pytest.approx(distance, rel=1e-9)
    assert float(terms["label"]) == pytest.approx(0.7 * cos + 0.3 * mse, rel=1e-9)
    terms["loss"].backward()
    assert s.grad is not None and bool(torch.isfinite(s.grad).all())


def test_relation_terms_alone_allow_another_width_and_refuse_class_methods() -> None:
    s, t = torch.randn(5, 3), torch.randn(5, 8)
    objective = embedding_objective("rkd", cosine_weight=0.0, mse_weight=0.0)
    s_out, t_out = Outputs(s, embedding=s), Outputs(t, embedding=t)
    objective.bind(s_out, t_out, BindContext(n_train=5, n_classes=0, problem="embedding"))
    terms = objective(s_out, t_out, Batch(x=s, y=t, index=torch.arange(5)))
    assert float(terms["label"]) == 0.0 and float(terms["loss"].detach()) > 0.0
    with pytest.raises(MethodError, match="serves classification problems"):
        embedding_objective("kd")
    with pytest.raises(MethodError, match="serves classification and regression problems"):
        embedding_objective("fitnet")


# --------------------------------------------------------------------------- in the loop


def _tiny(layers: int, seed: int = 0) -> HFClassifier:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=layers, num_attention_heads=4,
        intermediate_size=32, max_position_embeddings=32,
    )  # fmt: skip
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(WORDS)})
    return HFClassifier(transformers.AutoModel.from_config(config), num_labels=0,
                        tokenizer=tokenizer, max_length=8, normalize=True).eval()  # fmt: skip


def _splits(teacher: HFClassifier, n: int = 24) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS[5:], size=rng.integers(1, 6))) for _ in range(n + 8)]
    x = encode_texts(np.array(texts, dtype=object), teacher.tokenizer, 8)
    t = embed_texts(teacher, x)
    return (x[:n], t[:n]), (x[n:], t[n:])


def _student(teacher: HFClassifier) -> HFClassifier:
    return build_hf_student(teacher, width=1.0, depth=1.0, layers=1)


CONFIG = TrainConfig(epochs=2, batch_size=8, lr=3e-3, weight_decay=0.01, grad_clip=1.0)


def _hand_written_first_epoch(student: HFClassifier, x: np.ndarray, t: np.ndarray) -> float:
    """The removed loop's steps, written out: seeded order, AdamW, clipping, mean loss."""
    objective = embedding_objective(DEFAULT_RELATION)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    probe = Outputs(tt[:2], embedding=tt[:2])
    objective.bind(probe, probe, BindContext(n_train=len(x), n_classes=0, problem="embedding"))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(student.parameters(), lr=CONFIG.lr, weight_decay=0.01)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    student.train()
    losses = []
    for start in range(0, len(x), CONFIG.batch_size):
        idx = order[start : start + CONFIG.batch_size]
        s_emb, t_emb = student(xt[idx]), tt[idx]
        loss = (1 - F.cosine_similarity(s_emb, t_emb)).mean() + F.mse_loss(s_emb, t_emb)
        rkd = objective.method_list[0]
        loss = loss + rkd(Outputs(s_emb, embedding=s_emb), Outputs(t_emb, embedding=t_emb),
                          Batch(x=xt[idx], y=t_emb, index=idx))["loss"]  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), CONFIG.grad_clip or 0.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return float(np.mean(losses))


def test_the_first_epoch_matches_a_hand_written_loop() -> None:
    teacher = _tiny(layers=3)
    train, val = _splits(teacher)
    expected = _hand_written_first_epoch(_student(teacher), *train)
    student = _student(teacher)
    result = fit_embedding_student(student, train, val, objective=embedding_objective(),
                                   config=CONFIG.model_copy(update={"epochs": 1}))  # fmt: skip
    assert result.history[0]["loss"] == pytest.approx(expected, rel=1e-4)
    assert result.teacher_cache == "targets"


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def test_progress_resume_and_hooks_of_the_embedding_objective(tmp_path: Path) -> None:
    teacher = _tiny(layers=3)
    train, val = _splits(teacher)
    events: list[object] = []
    stage = Stage(events.append, "reviews_search", "train", "rkd")
    whole = _student(teacher)
    full = fit_embedding_student(whole, train, val, objective=embedding_objective(),
                                 config=CONFIG, stage=stage)  # fmt: skip
    progress = [e for e in events if isinstance(e, StageProgress)]
    assert [(e.done, e.total) for e in progress] == [(1, 2), (2, 2)]
    assert "val_similarity_spearman" in progress[-1].values and "loss" in progress[-1].values

    ckpt = tmp_path / "checkpoint.pt"  # one epoch, "interrupted", then resumed to two
    resumed = _student(teacher)
    fit_embedding_student(resumed, train, val, objective=embedding_objective(),
                          config=CONFIG.model_copy(update={"epochs": 1}), checkpoint=ckpt)  # fmt: skip
    again = fit_embedding_student(resumed, train, val, objective=embedding_objective(),
                                  config=CONFIG, checkpoint=ckpt)  # fmt: skip
    assert again.resumed_from_epoch == 1 and again.history == full.history
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    failing = _student(teacher)
    objective = embedding_objective()
    objective.label_loss = _raise  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="step failed"):
        fit_embedding_student(failing, train, val, objective=objective, config=CONFIG)
    assert _hooks(failing) == 0 and _hooks(whole) == 0


def _raise(*_: object) -> torch.Tensor:
    raise RuntimeError("step failed")
