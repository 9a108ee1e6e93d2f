"""TorchScript teachers: hidden layers read by running a verified chain of scripted steps,
response and feature methods in the training loop, and the fresh-process memory probe."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from potstill.costs import BenchConfig, BenchTarget, measure
from potstill.errors import ModelError
from potstill.methods import MethodSpec, build_objective
from potstill.models.arch.mlp import MLP
from potstill.models.hooks import FeatureTap
from potstill.models.predict import predict_scores
from potstill.models.scripted import script_chain
from potstill.models.teacher import Teacher, load_teacher
from potstill.train.config import TrainConfig
from potstill.train.distill import layer_pairs, train
from potstill.types import DatasetInfo, Split, Task

RNG = np.random.default_rng(0)
X = RNG.normal(size=(90, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)


class Net(nn.Module):
    """A user's MLP: a wrapper around an nn.Sequential (what torch.jit.trace records)."""

    def __init__(self, scale: float = 1.0, gate: float | None = None) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(4, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(), nn.Linear(8, 2)
        )
        self.scale, self.gate = scale, gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate is not None:  # identity on random rows, not on rows above the gate
            x = torch.where(x > self.gate, torch.zeros_like(x), x)
        return self.net(x) * self.scale


def _trace(module: nn.Module, path: Path) -> Path:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.", category=DeprecationWarning)
        torch.jit.trace(module.eval(), torch.from_numpy(X[:2])).save(str(path))
    return path


def _net(**kwargs: float) -> Net:
    torch.manual_seed(0)
    return Net(**kwargs).eval()


def test_traced_sequential_mlp_exposes_its_hidden_layers(tmp_path: Path) -> None:
    model = _net()
    teacher = load_teacher(_trace(model, tmp_path / "ts.pt"), problem="classification")
    assert teacher.capabilities == {"logits", "hidden", "embedding"}
    assert teacher.hidden_layer_names() == ["net.1", "net.3"]
    assert teacher.embedding_layer_name() == "net.3"
    out = teacher.outputs(torch.from_numpy(X[:5]))
    with FeatureTap(model, hidden=["net.1", "net.3"], embedding="net.3") as tap:
        eager = tap(torch.from_numpy(X[:5]))
    assert out.hidden is not None and eager.hidden is not None
    for got, want in zip(out.hidden, eager.hidden, strict=True):
        torch.testing.assert_close(got, want.detach())
    torch.testing.assert_close(out.logits, eager.logits.detach())
    np.testing.assert_allclose(
        teacher.predict_scores(X), predict_scores(model, X, problem="classification"), rtol=1e-6
    )


def test_traced_potstill_mlp_gives_the_eager_block_names(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MLP(4, [6, 5], 3).eval()
    teacher = load_teacher(_trace(model, tmp_path / "mlp.pt"), problem="classification")
    assert teacher.hidden_layer_names() == model.hidden_layer_names()
    assert teacher.embedding_layer_name() == model.embedding_layer_name()


def test_a_module_that_is_not_a_chain_is_logits_only(tmp_path: Path) -> None:
    teacher = load_teacher(_trace(_net(scale=2.0), tmp_path / "s.pt"), problem="classification")
    assert teacher.capabilities == {"logits"} and teacher.hidden_layer_names() == []
    assert teacher.module is not None and script_chain(teacher.module) is None
    with pytest.raises(ModelError, match=r"do not\s+reproduce its output"):
        Teacher.from_torch(teacher.module, problem="classification", features=["net.1"])


def test_the_chain_is_checked_again_on_real_rows(tmp_path: Path) -> None:
    path = _trace(_net(gate=50.0), tmp_path / "gated.pt")
    teacher = load_teacher(path, problem="classification")
    assert "hidden" in teacher.capabilities  # random rows cannot tell the gate apart
    with pytest.raises(ModelError, match="do not give its output on these rows"):
        teacher.outputs(torch.full((3, 4), 100.0))


def test_unknown_steps_are_named(tmp_path: Path) -> None:
    teacher = load_teacher(_trace(_net(), tmp_path / "ts.pt"), problem="classification")
    assert teacher.module is not None
    with pytest.raises(ModelError, match=r"not steps of its chain.*'net\.0'"):
        FeatureTap(teacher.module, hidden=["net"])


def _task() -> Task:
    cut1, cut2 = 54, 72
    return Task(
        name="ts",
        sector="other",
        kind="tabular",
        problem="classification",
        train=Split(X[:cut1], Y[:cut1]),
        val=Split(X[cut1:cut2], Y[cut1:cut2]),
        test=Split(X[cut2:], Y[cut2:]),
        metric="accuracy",
        n_classes=2,
        info=DatasetInfo("ts", "generated in the test", "n/a"),
    )


@pytest.mark.parametrize("method", ["kd", "dkd", "dist", "fitnet", "rkd", "crd"])
def test_response_feature_and_relation_methods_train_on_a_torchscript_teacher(
    tmp_path: Path, method: str
) -> None:
    teacher = load_teacher(_trace(_net(), tmp_path / "ts.pt"), problem="classification")
    torch.manual_seed(0)
    student = MLP(4, [6, 4], 2)
    assert layer_pairs(student, teacher) == (["blocks.0", "blocks.1"], ["net.1", "net.3"])
    objective = build_objective(
        [MethodSpec(name=method)], label_weight=1.0, problem="classification"
    )
    result = train(
        student, _task(), objective=objective, teacher=teacher,
        config=TrainConfig(epochs=2, threads=1, batch_size=16),
    )  # fmt: skip
    assert result.epochs_run == 2
    assert all(np.isfinite(h["loss"]) for h in result.history)


def test_kd_needs_no_hidden_layers_from_the_teacher(tmp_path: Path) -> None:
    """The 0-layer case: a teacher without hidden layers pairs nothing and KD still trains."""
    teacher = load_teacher(_trace(_net(scale=2.0), tmp_path / "s.pt"), problem="classification")
    assert layer_pairs(MLP(4, [6, 4], 2), teacher) == ([], [])
    objective = build_objective([MethodSpec(name="kd")], label_weight=1.0, problem="classification")
    result = train(
        MLP(4, [6, 4], 2), _task(), objective=objective, teacher=teacher,
        config=TrainConfig(epochs=1, threads=1, batch_size=16),
    )  # fmt: skip
    assert result.epochs_run == 1


def test_the_fresh_process_probe_loads_torchscript_as_torchscript(tmp_path: Path) -> None:
    teacher = load_teacher(_trace(_net(), tmp_path / "ts.pt"), problem="classification")
    rows = np.repeat(X, 2, axis=0)[:64]
    config = BenchConfig.quick(memory=True, runtimes=("eager",), memory_runtimes=("eager",))
    (profile,) = measure([BenchTarget(name="teacher", module=teacher.module, example=rows)], config)
    fresh = profile.extra["cold_start"]["fresh_process"]
    assert fresh is not None, profile.extra["cold_start"].get("fresh_process_error")
    assert fresh["kind"] == "torchscript" and profile.peak_memory_mb is not None


def test_any_probe_failure_is_recorded_as_not_measured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_args: object, **_kwargs: object) -> Path:
        raise KeyError("an exporter bug")

    monkeypatch.setattr("potstill.costs.harness.export_pt2", broken)
    torch.manual_seed(0)
    config = BenchConfig.quick(memory=True, runtimes=("eager",), memory_runtimes=("eager",))
    target = BenchTarget(name="m", module=MLP(4, [8], 2), example=np.repeat(X, 2, axis=0)[:64])
    (profile,) = measure([target], config)
    assert profile.peak_memory_mb is None
    assert profile.extra["cold_start"]["fresh_process_error"] == (
        "not measured: KeyError: 'an exporter bug'"
    )


def test_a_torchscript_teacher_is_timed_on_onnx_runtime_too(tmp_path: Path) -> None:
    teacher = load_teacher(_trace(_net(), tmp_path / "ts.pt"), problem="classification")
    rows = np.repeat(X, 2, axis=0)[:64]
    config = BenchConfig.quick(runtimes=("eager", "onnx"))
    profiles = measure([BenchTarget(name="teacher", module=teacher.module, example=rows)], config)
    by_runtime = {p.runtime: p for p in profiles}
    assert set(by_runtime) == {"eager", "onnx"}, profiles[0].settings["skipped_runtimes"]
    assert by_runtime["onnx"].extra["runtime_notes"]["validation"]["agreement"] == 1.0
