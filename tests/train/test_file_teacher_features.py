"""Feature and relation methods train against file teachers: ONNX taps and tree leaves."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier

from potstill.errors import ModelError
from potstill.methods import MethodSpec, build_objective
from potstill.models import MLP, Teacher
from potstill.models.teacher_load import load_teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.config import TrainConfig
from potstill.train.distill import layer_pairs, train
from potstill.types import DatasetInfo, Split, Task

CFG = TrainConfig(epochs=2, batch_size=32, threads=1)


def _task(n: int = 160) -> Task:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    y = (X[:, 0] - 0.5 * X[:, 1] > 0).astype(np.int64)
    a, b = int(n * 0.6), int(n * 0.8)
    return Task(
        name="synthetic", sector="other", kind="tabular", problem="classification",
        train=Split(X[:a], y[:a]), val=Split(X[a:b], y[a:b]), test=Split(X[b:], y[b:]),
        metric="accuracy", n_classes=2, info=DatasetInfo("synthetic", "generated", "n/a"),
    )  # fmt: skip


def _onnx_teacher(path: Path) -> Teacher:
    torch.manual_seed(0)
    module = MLP(6, [24, 24, 16], 2).eval()
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        torch.onnx.export(
            module, (torch.zeros(2, 6),), str(path), dynamo=False, input_names=["x"],
            output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        )  # fmt: skip
    return load_teacher(path, problem="classification")


def _fit(teacher: Teacher, names: list[str], cache: TeacherOutputCache) -> list[dict[str, float]]:
    torch.manual_seed(0)
    student = MLP(6, [8, 8], 2)
    objective = build_objective(
        [MethodSpec(name=n) for n in names], label_weight=1.0, problem="classification"
    )
    result = train(
        student, _task(), objective=objective, config=CFG, teacher=teacher, cache=cache,
    )  # fmt: skip
    return result.history


def test_onnx_teacher_trains_fitnet_and_rkd(tmp_path: Path) -> None:
    teacher = _onnx_teacher(tmp_path / "t.onnx")
    assert len(teacher.hidden_layer_names()) == 3  # the three LayerNorm → ReLU blocks' ReLUs
    s_layers, t_layers = layer_pairs(MLP(6, [8, 8], 2), teacher)
    assert s_layers == ["blocks.0", "blocks.1"] and t_layers == teacher.hidden_layer_names()[1:]
    cache = TeacherOutputCache()
    history = _fit(teacher, ["fitnet", "rkd"], cache)
    assert len(history) == 2
    for term in ("fitnet", "rkd", "rkd.distance", "rkd.angle"):
        assert np.isfinite(history[-1][term]) and history[-1][term] > 0, term
    assert cache.misses == 1 and _fit(teacher, ["hidden_mse"], cache) and cache.hits == 1


def test_tree_teacher_trains_relation_methods() -> None:
    task = _task()
    forest = RandomForestClassifier(n_estimators=30, max_depth=4, random_state=0)
    teacher = Teacher.from_sklearn(forest.fit(task.train.X, task.train.y), problem="classification")
    assert teacher.capabilities == {"logits", "embedding"} and teacher.hidden_layer_names() == []
    history = _fit(teacher, ["kd", "rkd", "pkt"], TeacherOutputCache())
    for term in ("kd", "rkd", "pkt"):
        assert np.isfinite(history[-1][term]) and history[-1][term] > 0, term


def test_layer_pairs_without_teacher_layers_is_empty() -> None:
    forest = RandomForestClassifier(n_estimators=2, random_state=0).fit(
        _task().train.X, _task().train.y
    )
    teacher = Teacher.from_sklearn(forest, problem="classification")
    assert layer_pairs(MLP(6, [8], 2), teacher) == ([], [])  # no hidden layers: KD still runs


def test_outputs_refuses_unknown_hidden_names(tmp_path: Path) -> None:
    teacher = _onnx_teacher(tmp_path / "t.onnx")
    with pytest.raises(ModelError, match="exposes no hidden"):
        teacher.outputs(torch.zeros(2, 6), hidden=["/nope"])
