"""The training loop: deterministic, early-stopping, resumable, teacher cached once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from potstill.errors import ModelError
from potstill.methods import MethodSpec, build_objective
from potstill.models import MLP, Teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.config import TrainConfig
from potstill.train.distill import layer_pairs, train
from potstill.types import DatasetInfo, Split, Task


def _task(n: int = 240, problem: str = "classification") -> Task:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    logit = X[:, 0] - 0.5 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3]
    y = (
        (logit > 0).astype(np.int64)
        if problem == "classification"
        else (40 + 10 * logit).astype(np.float32)
    )
    cut1, cut2 = int(n * 0.6), int(n * 0.8)
    return Task(
        name="synthetic",
        sector="other",
        kind="tabular",
        problem=problem,  # type: ignore[arg-type]
        train=Split(X[:cut1], y[:cut1]),
        val=Split(X[cut1:cut2], y[cut1:cut2]),
        test=Split(X[cut2:], y[cut2:]),
        metric="accuracy" if problem == "classification" else "rmse",
        n_classes=2 if problem == "classification" else 0,
        info=DatasetInfo("synthetic", "generated in the test", "n/a"),
    )


def _student(seed: int = 0, out: int = 2, dropout: float = 0.0) -> MLP:
    torch.manual_seed(seed)
    return MLP(6, [16, 8], out, dropout=dropout)


def _teacher(task: Task) -> Teacher:
    torch.manual_seed(1)
    module = MLP(6, [32, 32, 16], task.n_outputs)
    train(
        module,
        task,
        objective=build_objective([], label_weight=1.0, problem=task.problem),
        config=TrainConfig(epochs=5, threads=1),
    )
    return Teacher.from_torch(module, problem=task.problem)


CFG = TrainConfig(epochs=6, batch_size=32, patience=100, threads=1)


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_deterministic_under_a_seed() -> None:
    task = _task()
    objective = build_objective([], label_weight=1.0, problem="classification")
    a, b = _student(), _student()
    train(a, task, objective=objective, config=CFG, seed=3)
    objective = build_objective([], label_weight=1.0, problem="classification")
    train(b, task, objective=objective, config=CFG, seed=3)
    for x, y in zip(_weights(a), _weights(b), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_early_stopping_stops_and_keeps_the_best_epoch() -> None:
    task = _task()
    cfg = CFG.model_copy(update={"epochs": 60, "patience": 2})
    result = train(
        _student(),
        task,
        objective=build_objective([], label_weight=1.0, problem="classification"),
        config=cfg,
    )
    assert result.epochs_run < 60
    assert result.epochs_run - result.best_epoch == 2
    assert result.best_val == max(h["val"] for h in result.history)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path: Path, dropout: float) -> None:
    """Bit for bit, dropout included: its masks come from torch's global generator, whose
    state the checkpoint keeps beside the batch-order generator's."""
    task = _task()
    full = _student(dropout=dropout)
    train(
        full,
        task,
        objective=build_objective([], label_weight=1.0, problem="classification"),
        config=CFG,
        seed=5,
    )
    ckpt = tmp_path / "ckpt.pt"
    first = _student(dropout=dropout)
    train(
        first,
        task,
        objective=build_objective([], label_weight=1.0, problem="classification"),
        config=CFG.model_copy(update={"epochs": 3}),
        seed=5,
        checkpoint=ckpt,
    )
    assert ckpt.is_file()
    torch.manual_seed(1234)  # a different global generator state when the run resumes
    resumed = _student(
        seed=99, dropout=dropout
    )  # different init: everything must come from the checkpoint
    result = train(
        resumed,
        task,
        objective=build_objective([], label_weight=1.0, problem="classification"),
        config=CFG,
        seed=5,
        checkpoint=ckpt,
    )
    assert result.resumed_from_epoch == 3
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5, 6]
    for x, y in zip(_weights(full), _weights(resumed), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("content", "phrase"),
    [(b"\x00garbage" * 20, "cannot be read"), (None, "is not one potstill wrote")],
)
def test_a_corrupt_checkpoint_is_named_with_the_way_out(
    tmp_path: Path, content: bytes | None, phrase: str
) -> None:
    ckpt = tmp_path / "checkpoint.pt"
    if content is None:
        torch.save({"epoch": 1}, ckpt)  # readable, but not a potstill checkpoint
    else:
        ckpt.write_bytes(content)
    with pytest.raises(ModelError, match=rf"checkpoint '{ckpt}' {phrase}.*[Dd]elete it and rerun"):
        train(
            _student(),
            _task(),
            objective=build_objective([], label_weight=1.0, problem="classification"),
            config=CFG,
            checkpoint=ckpt,
        )
    assert ckpt.is_file()  # never deleted behind the user's back


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (("fitnet", "kd", "rkd"), ["miss", "hit", "hit"]),  # logits taken from every layer's
        (("kd", "fitnet", "rkd"), ["miss", "miss", "hit"]),  # kd alone runs without taps
    ],
)
def test_teacher_outputs_are_computed_once_across_methods(
    order: tuple[str, ...], expected: list[str]
) -> None:
    task = _task()
    teacher = _teacher(task)
    cache = TeacherOutputCache()
    states = []
    for name in order:
        objective = build_objective(
            [MethodSpec(name=name)], label_weight=1.0, problem="classification"
        )
        result = train(
            _student(),
            task,
            objective=objective,
            config=CFG.model_copy(update={"epochs": 2}),
            teacher=teacher,
            cache=cache,
        )
        states.append(result.teacher_cache)
    assert states == expected
    assert cache.misses == expected.count("miss")


def test_augmentation_bypasses_the_cache(caplog: pytest.LogCaptureFixture) -> None:
    task = _task()
    teacher = _teacher(task)
    objective = build_objective([MethodSpec(name="kd")], label_weight=1.0, problem="classification")
    with caplog.at_level("INFO"):
        result = train(
            _student(),
            task,
            objective=objective,
            teacher=teacher,
            config=CFG.model_copy(update={"epochs": 1, "augment": True}),
        )
    assert result.teacher_cache == "bypassed (augmentation)"
    assert "cache bypassed" in caplog.text


def test_regression_head_starts_at_the_target_scale() -> None:
    task = _task(problem="regression")
    student = _student(out=1)
    cfg = CFG.model_copy(update={"epochs": 1, "lr": 1e-9})  # no learning: only the init shows
    train(
        student,
        task,
        objective=build_objective([], label_weight=1.0, problem="regression"),
        config=cfg,
    )
    with torch.no_grad():
        pred = student(torch.from_numpy(task.train.X)).squeeze(1).numpy()
    assert abs(pred.mean() - task.train.y.mean()) < 0.2 * task.train.y.std()


def test_layer_pairs_follow_the_uniform_map() -> None:
    s, t = layer_pairs(MLP(6, [8, 8], 2), MLP(6, [8, 8, 8, 8], 2))
    assert s == ["blocks.0", "blocks.1"]
    assert t == ["blocks.1", "blocks.3"]


def test_distillation_without_teacher_is_refused() -> None:
    objective = build_objective([MethodSpec(name="kd")], label_weight=1.0, problem="classification")
    with pytest.raises(ValueError, match="teacher is required"):
        train(_student(), _task(), objective=objective, config=CFG)


class _FailingStudent(MLP):
    """An MLP whose training forward raises on its third call: a cell that fails mid-loop."""

    calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if self.calls == 3:
                raise RuntimeError("boom in the third step")
        return super().forward(x)


def _hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


@pytest.mark.parametrize("teacher_cache", [True, False])
def test_a_failing_cell_leaves_no_hook_on_the_shared_teacher(teacher_cache: bool) -> None:
    task = _task()
    teacher = _teacher(task)
    assert teacher.module is not None and _hooks(teacher.module) == 0
    torch.manual_seed(0)
    student = _FailingStudent(6, [16, 8], 2)
    objective = build_objective(
        [MethodSpec(name="fitnet"), MethodSpec(name="rkd")],
        label_weight=1.0,
        problem="classification",
    )
    cfg = CFG.model_copy(update={"teacher_cache": teacher_cache})
    with pytest.raises(RuntimeError, match="boom"):
        train(student, task, objective=objective, config=cfg, teacher=teacher)
    assert _hooks(teacher.module) == 0  # the next cell's forward is not hooked
    assert _hooks(student) == 0


def test_a_logits_only_method_takes_only_the_logits_from_the_cache() -> None:
    task = _task()
    teacher = _teacher(task)
    cache = TeacherOutputCache()
    kd = build_objective([MethodSpec(name="kd")], label_weight=1.0, problem="classification")
    seen: list[object] = []
    original = kd.forward

    def spy(student: object, t_out: object, batch: object) -> object:
        seen.append(t_out)
        return original(student, t_out, batch)  # type: ignore[arg-type]

    kd.forward = spy  # type: ignore[method-assign]
    cfg = CFG.model_copy(update={"epochs": 1})
    train(_student(), task, objective=kd, config=cfg, teacher=teacher, cache=cache)
    entry = next(iter(cache._entries.values()))
    assert not entry.hidden  # kd alone: the teacher ran without taps
    assert seen and all(o.hidden is None for o in seen)  # type: ignore[attr-defined]
    fitnet = build_objective(
        [MethodSpec(name="fitnet")], label_weight=1.0, problem="classification"
    )
    train(_student(), task, objective=fitnet, config=cfg, teacher=teacher, cache=cache)
    seen.clear()
    result = train(_student(), task, objective=kd, config=cfg, teacher=teacher, cache=cache)
    assert result.teacher_cache == "hit"  # from the entry with every layer ...
    assert seen and all(o.hidden is None for o in seen)  # type: ignore[attr-defined]
