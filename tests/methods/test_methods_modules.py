"""Behaviour specific to individual method modules: adapters, layer handling, CRD's memory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from potstill.errors import MethodError
from potstill.methods import CRD, BindContext, create_method
from potstill.methods import functional as PF
from potstill.types import Batch, Outputs

CTX = BindContext(n_train=32, n_classes=3, problem="classification")
LOGITS = torch.zeros(4, 3)


def _hidden(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> tuple[Outputs, Outputs]:
    return Outputs(logits=LOGITS, hidden=student), Outputs(logits=LOGITS, hidden=teacher)


def _batch(n: int = 4) -> Batch:
    return Batch(x=None, y=torch.zeros(n, dtype=torch.long), index=torch.arange(n))


# ----------------------------------------------------------------------------- adapters


def test_adapters_follow_the_feature_shape() -> None:
    s, t = _hidden(
        [torch.randn(4, 6), torch.randn(4, 4, 5, 5), torch.randn(4, 7, 6), torch.randn(4, 3)],
        [torch.randn(4, 10), torch.randn(4, 8, 5, 5), torch.randn(4, 7, 12), torch.randn(4, 3)],
    )
    method = create_method("fitnet")
    method.bind(s, t, CTX)
    linear, conv_bn, token_linear, same = method.adapters  # type: ignore[misc]
    assert isinstance(linear, nn.Linear) and (linear.in_features, linear.out_features) == (6, 10)
    conv, bn = conv_bn
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1)
    assert (conv.in_channels, conv.out_channels) == (4, 8) and isinstance(bn, nn.BatchNorm2d)
    assert isinstance(token_linear, nn.Linear) and token_linear.out_features == 12
    assert isinstance(same, nn.Identity)  # 'auto': equal widths need no adapter
    always = create_method("hidden_mse", projection="always")
    always.bind(s, t, CTX)
    assert isinstance(always.adapters[3], nn.Linear)  # type: ignore[index]


def test_adapters_take_the_student_dtype() -> None:
    s, t = _hidden([torch.randn(4, 6, dtype=torch.float64)], [torch.randn(4, 9)])
    method = create_method("hidden_mse")
    method.bind(s, t, CTX)
    assert all(p.dtype == torch.float64 for p in method.parameters())
    assert method(s, t, _batch())["loss"].dtype == torch.float64


def test_fitnet_interpolates_the_student_map_to_the_teacher_size() -> None:
    # A map constant per channel stays constant under bilinear upsampling: independent check.
    s_map = torch.arange(1.0, 9.0).reshape(1, 8, 1, 1).expand(4, 8, 4, 4).clone()
    t_map = torch.randn(4, 8, 8, 8)
    s, t = _hidden([s_map], [t_map])
    method = create_method("fitnet")
    method.bind(s, t, CTX)
    expected = ((torch.arange(1.0, 9.0).reshape(1, 8, 1, 1) - t_map) ** 2).mean()
    assert torch.allclose(method(s, t, _batch())["loss"], expected)


def test_feature_losses_sum_over_layer_pairs() -> None:
    gen = torch.Generator().manual_seed(0)
    maps_s = [torch.randn(4, 3, 6, 6, generator=gen), torch.randn(4, 5, 3, 3, generator=gen)]
    maps_t = [torch.randn(4, 3, 6, 6, generator=gen), torch.randn(4, 5, 3, 3, generator=gen)]
    s, t = _hidden(maps_s, maps_t)
    fitnet, at, sp = create_method("fitnet"), create_method("at"), create_method("sp")
    for m in (fitnet, at, sp):
        m.bind(s, t, CTX)
    pairs = list(zip(maps_s, maps_t, strict=True))
    assert torch.allclose(
        fitnet(s, t, _batch())["loss"], sum(PF.fitnet_loss(a, b) for a, b in pairs)
    )
    assert torch.allclose(
        at(s, t, _batch())["loss"], 500.0 * sum(PF.at_loss(a, b) for a, b in pairs)
    )
    assert torch.allclose(
        sp(s, t, _batch())["loss"], 3000.0 * sum(PF.sp_loss(a, b) for a, b in pairs)
    )


# ----------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("name", "student", "teacher", "message"),
    [
        ("at", [torch.randn(4, 6)], [torch.randn(4, 6)], r"shaped \(N, C, H, W\); hidden layer 0"),
        ("fitnet", [torch.randn(4, 6)], [torch.randn(4, 2, 3, 3)], "cannot pair student hidden"),
        ("fitnet", [torch.randn(4, 5, 6)], [torch.randn(4, 7, 6)], "same sequence length"),
        ("sp", [torch.randn(4, 6)], [torch.randn(4, 6)] * 2, "student exposes 1 and the teacher 2"),
        ("hidden_cosine", [torch.randn(4)], [torch.randn(4)], r"expected \(N, D\)"),
    ],
)
def test_hidden_layer_refusals(
    name: str, student: list[torch.Tensor], teacher: list[torch.Tensor], message: str
) -> None:
    s, t = _hidden(student, teacher)
    with pytest.raises(MethodError, match=message):
        create_method(name).bind(s, t, CTX)


def test_attention_refusals() -> None:
    a2, a4 = torch.rand(4, 2, 5, 5), torch.rand(4, 4, 5, 5)
    values = [torch.randn(4, 2, 5, 3)]
    s = Outputs(logits=LOGITS, attentions=[a2], values=values)
    t = Outputs(logits=LOGITS, attentions=[a4], values=[torch.randn(4, 4, 5, 3)])
    with pytest.raises(MethodError, match="same heads and T"):
        create_method("minilm").bind(s, t, CTX)
    with pytest.raises(MethodError, match="student exposes 1 and the teacher 2"):
        create_method("attention_mse").bind(
            Outputs(logits=LOGITS, attentions=[a2]),
            Outputs(logits=LOGITS, attentions=[a2, a2]),
            CTX,
        )


def test_embedding_must_be_a_matrix() -> None:
    s = Outputs(logits=LOGITS, embedding=torch.randn(4, 2, 3))
    t = Outputs(logits=LOGITS, embedding=torch.randn(4, 6))
    with pytest.raises(MethodError, match=r"needs an \(N, D\) embedding; the student's has shape"):
        create_method("rkd").bind(s, t, CTX)


def test_dkd_needs_labels_and_handles_two_classes() -> None:
    s = Outputs(logits=torch.randn(4, 2, requires_grad=True))
    t = Outputs(logits=torch.randn(4, 2))
    dkd = create_method("dkd")
    dkd.bind(s, t, CTX)
    out = dkd(s, t, Batch(x=None, y=torch.tensor([0, 1, 1, 0]), index=None))
    assert float(out["nckd"].detach()) == 0.0  # one non-target class: nothing to decouple
    with pytest.raises(MethodError, match=r"needs batch\.y"):
        dkd(s, t, Batch(x=None, y=None, index=None))


# ----------------------------------------------------------------------------- CRD


def _crd(n: int = 4, **params: Any) -> tuple[CRD, Outputs, Outputs, Batch]:
    gen = torch.Generator().manual_seed(1)
    s = Outputs(logits=LOGITS, embedding=torch.randn(n, 6, generator=gen, requires_grad=True))
    t = Outputs(logits=LOGITS, embedding=torch.randn(n, 9, generator=gen))
    method = create_method("crd", feat_dim=8, **params)
    assert isinstance(method, CRD)
    torch.manual_seed(0)
    method.bind(s, t, CTX)
    return method, s, t, Batch(x=None, y=None, index=torch.tensor([3, 17, 0, 31])[:n])


def test_crd_memory_buffer_and_defaults() -> None:
    method, *_ = _crd()
    assert method.k == 31  # min(16384, n_train - 1)
    assert method.memory_s.shape == method.memory_t.shape == (32, 8)
    assert {"memory_s", "memory_t", "z"} <= set(method.state_dict())  # checkpoints keep them
    names = {n for n, _ in method.named_parameters()}
    assert names == {f"embed_{side}.linear.{p}" for side in "st" for p in ("weight", "bias")}
    with pytest.raises(MethodError, match=r"'n_negatives' parameter of method 'crd' must be <= "):
        _crd(n_negatives=32)


def test_crd_negatives_exclude_the_anchor() -> None:
    method, *_ = _crd(n_negatives=31)
    index = torch.arange(32)
    torch.manual_seed(3)
    rows = method.sample(index)
    assert rows.shape == (32, 32)
    assert torch.equal(rows[:, 0], index)
    assert not (rows[:, 1:] == index.unsqueeze(1)).any()
    assert rows.min() >= 0 and rows.max() <= 31


def test_crd_loss_matches_a_manual_computation() -> None:
    method, s, t, batch = _crd(n_negatives=5)
    memory_t = method.memory_t.clone()
    memory_s = method.memory_s.clone()
    torch.manual_seed(11)
    out = method(s, t, batch)
    torch.manual_seed(11)
    rows = method.sample(batch.index)
    with torch.no_grad():
        v_s = F.normalize(method.embed_s.linear(s.embedding), dim=1)
        v_t = F.normalize(method.embed_t.linear(t.embedding), dim=1)
        h_s = torch.exp(torch.einsum("nkd,nd->nk", memory_t[rows], v_s) / 0.07)
        h_t = torch.exp(torch.einsum("nkd,nd->nk", memory_s[rows], v_t) / 0.07)
        z_s, z_t = h_s.mean() * 32, h_t.mean() * 32  # Z fixed from the first batch
    assert torch.allclose(out["student_anchor"], PF.crd_contrast_loss(h_s / z_s, 32))
    assert torch.allclose(out["teacher_anchor"], PF.crd_contrast_loss(h_t / z_t, 32))
    assert torch.allclose(out["loss"], 0.8 * (out["student_anchor"] + out["teacher_anchor"]))
    # momentum update of the batch rows, others untouched
    expected = F.normalize(0.5 * memory_s[batch.index] + 0.5 * v_s, dim=1)
    assert torch.allclose(method.memory_s[batch.index], expected)
    untouched = torch.ones(32, dtype=torch.bool)
    untouched[batch.index] = False
    assert torch.equal(method.memory_s[untouched], memory_s[untouched])
    z = method.z.clone()
    method(s, t, batch)
    assert torch.equal(method.z, z)


def test_crd_memory_is_frozen_in_eval_mode() -> None:
    method, s, t, batch = _crd()
    method.eval()
    before = method.memory_t.clone()
    method(s, t, batch)
    assert torch.equal(method.memory_t, before)


@pytest.mark.parametrize(
    ("index", "message"),
    [(None, "needs batch.index"), (torch.tensor([0, 1, 2, 32]), r"outside \[0, 32\)")],
)
def test_crd_refuses_bad_indices(index: Any, message: str) -> None:
    method, s, t, _ = _crd()
    with pytest.raises(MethodError, match=message):
        method(s, t, Batch(x=None, y=None, index=index))


def test_objective_optimises_adapters_and_memory_is_not_a_parameter(
    make: Callable[..., Any],
) -> None:
    from potstill.methods import MethodSpec, build_objective, get_method_class

    case = make(get_method_class("crd"))
    objective = build_objective([MethodSpec(name="crd"), MethodSpec(name="kd")],
                                label_weight=1.0, problem="classification")  # fmt: skip
    assert list(objective.parameters()) == []
    objective.bind(case.student, case.teacher, case.context)
    names = {n for n, _ in objective.named_parameters()}
    assert any(n.startswith("methods.0.embed_s") for n in names)
    assert not any("memory" in n for n in names)
