"""Distributed data-parallel training: two torchrun processes equal one process on the same
global batches, and what cannot be split that way is refused before any work."""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError
from sklearn.linear_model import LogisticRegression

from potstill.cli import main
from potstill.errors import ConfigError, MethodError
from potstill.methods import MethodSpec, build_objective
from potstill.models import MLP, Teacher
from potstill.train import ddp
from potstill.train.config import TrainConfig
from potstill.train.ddp_worker import shard
from potstill.train.distill import TrainResult, train
from potstill.types import DatasetInfo, Split, Task


def _task(n_train: int = 256) -> Task:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_train + 64, 6)).astype(np.float32)
    y = (X[:, 0] - 0.5 * X[:, 1] + 0.3 * X[:, 2] * X[:, 3] > 0).astype(np.int64)
    part = slice(n_train, n_train + 64)
    return Task(
        name="synthetic", sector="other", kind="tabular", problem="classification",
        train=Split(X[:n_train], y[:n_train]), val=Split(X[part], y[part]),
        test=Split(X[part], y[part]), metric="accuracy", n_classes=2,
        info=DatasetInfo("synthetic", "generated in the test", "n/a"),
    )  # fmt: skip


def _teacher() -> Teacher:
    torch.manual_seed(1)
    return Teacher.from_torch(MLP(6, [32, 32, 16], 2), problem="classification")


def _trained(
    nproc: int, task: Task, teacher: Teacher, epochs: int = 2, checkpoint: Path | None = None
) -> tuple[MLP, torch.nn.Module, TrainResult]:
    """A student trained for epochs of 4 global batches of 64 rows with KD and a learned
    hidden-layer projection (an adapter of the objective, trained with the student)."""
    torch.manual_seed(0)
    student = MLP(6, [16, 8], 2)
    specs = [MethodSpec(name="kd"), MethodSpec(name="hidden_mse", weight=0.5)]
    objective = build_objective(specs, label_weight=1.0, problem="classification")
    config = TrainConfig(epochs=epochs, batch_size=64, patience=100, threads=1, nproc=nproc)
    result = train(student, task, objective=objective, config=config, teacher=teacher, seed=3,
                   checkpoint=checkpoint)  # fmt: skip
    return student, objective, result


def _assert_same(one: tuple[MLP, torch.nn.Module, TrainResult],
                 two: tuple[MLP, torch.nn.Module, TrainResult]) -> None:  # fmt: skip
    """Student and adapters within 1e-5; every epoch's losses and metric within 1e-5."""
    for a, b in ((one[0], two[0]), (one[1], two[1])):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys()
        for name in sa:
            torch.testing.assert_close(sb[name], sa[name], rtol=0, atol=1e-5, msg=name)
    assert [h.keys() for h in two[2].history] == [h.keys() for h in one[2].history]
    for h1, h2 in zip(one[2].history, two[2].history, strict=True):
        for key in h1:
            assert h2[key] == pytest.approx(h1[key], rel=1e-5, abs=1e-6), key


def test_two_torchrun_processes_match_one_process_on_the_same_global_batches() -> None:
    task, teacher = _task(), _teacher()
    one = _trained(1, task, teacher)
    two = _trained(2, task, teacher)
    assert any(name.startswith("methods.1.") for name, _ in one[1].named_parameters())
    _assert_same(one, two)
    assert (two[2].epochs_run, two[2].teacher_cache) == (2, "miss")
    torch.manual_seed(0)
    before = MLP(6, [16, 8], 2)  # the test can fail: training moved the weights
    assert not torch.allclose(
        before.state_dict()["head.weight"], one[0].state_dict()["head.weight"]
    )


def test_a_distributed_run_resumes_from_the_checkpoint_of_an_interrupted_run(
    tmp_path: Path,
) -> None:
    task, teacher = _task(), _teacher()
    checkpoint = tmp_path / "checkpoint.pt"
    _trained(1, task, teacher, epochs=1, checkpoint=checkpoint)  # stopped after epoch 1
    resumed = _trained(2, task, teacher, epochs=2, checkpoint=checkpoint)
    assert resumed[2].resumed_from_epoch == 1
    _assert_same(_trained(1, task, teacher), resumed)
    assert torch.load(checkpoint, weights_only=True)["epoch"] == 2  # rank 0 wrote epoch 2


def test_shards_cover_a_batch_in_order_with_sizes_one_apart() -> None:
    rows = torch.arange(10, 17)
    parts = [shard(rows, r, 3) for r in range(3)]
    assert [len(p) for p in parts] == [3, 2, 2]
    assert torch.equal(torch.cat(parts), rows)


def test_more_processes_than_cores_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ddp.os, "cpu_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"at most the 2 CPU cores .* Got 3 instead"):
        ddp.check_distributed(["kd"], TrainConfig(nproc=3))
    ddp.check_distributed(["kd"], TrainConfig(nproc=2))


def test_fewer_than_one_process_is_refused() -> None:
    with pytest.raises(ValidationError, match="nproc"):
        TrainConfig(nproc=0)


@pytest.mark.parametrize("method", ["rkd", "crd", "dist", "sp", "attention_mse", "minilm"])
def test_batch_coupled_methods_are_refused(method: str) -> None:
    with pytest.raises(MethodError, match=rf"cannot run \['{method}'\].*nproc 1"):
        ddp.check_distributed(["kd", method], TrainConfig(nproc=2))
    ddp.check_distributed(["kd", method], TrainConfig(nproc=1))


@pytest.mark.parametrize("setting", [{"augment": True}, {"teacher_cache": False}])
def test_a_teacher_called_per_batch_is_refused(setting: dict[str, bool]) -> None:
    with pytest.raises(ConfigError, match="cached outputs"):
        ddp.check_distributed(["kd"], TrainConfig(nproc=2, **setting))


def test_the_refusal_comes_before_training_from_train_itself() -> None:
    task, teacher = _task(64), _teacher()
    student = MLP(6, [16, 8], 2)
    objective = build_objective(
        [MethodSpec(name="rkd")], label_weight=1.0, problem="classification"
    )
    with pytest.raises(MethodError, match="rkd"):
        train(student, task, objective=objective, config=TrainConfig(nproc=2), teacher=teacher)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--nproc", "0"], "train.nproc: Input should be greater than or equal to 1 (got 0)"),
        (["--nproc", "2", "--method", "rkd"], "cannot run ['rkd']"),
        (["--nproc", "3"], "at most the 2 CPU cores of this machine"),
    ],
)
def test_the_cli_refuses_before_any_work(
    flags: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ddp.os, "cpu_count", lambda: 2)
    task = _task(64)
    frame = pd.DataFrame(task.train.X, columns=[f"x{i}" for i in range(6)]).assign(y=task.train.y)
    frame.to_csv(tmp_path / "data.csv", index=False)
    joblib.dump(LogisticRegression().fit(task.train.X, task.train.y), tmp_path / "teacher.joblib")
    args = [
        "distill",
        "--teacher",
        str(tmp_path / "teacher.joblib"),
        "--trust-pickle",
        "--data",
        str(tmp_path / "data.csv"),
        "--target",
        "y",
        "--out",
        str(tmp_path / "out"),
    ]
    with pytest.raises(SystemExit) as info:
        main([*args, *flags])
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out" / "records").exists()
