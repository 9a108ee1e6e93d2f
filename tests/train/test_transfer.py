"""Transfer rows in the loop: the label loss skips rows without a true label, the teacher
labels a transfer set once (a cache hit after), and the loop trains on both."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from potstill.errors import ConfigError
from potstill.methods import MethodSpec, build_objective
from potstill.models import MLP, Teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.config import TrainConfig
from potstill.train.distill import train
from potstill.train.transfer import TransferRows, teacher_labels, training_rows
from potstill.types import Batch, DatasetInfo, Outputs, Split, Task


def _task(n: int = 160) -> Task:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4)).astype(np.float32)
    y = (X[:, 0] - X[:, 1] > 0).astype(np.int64)
    a, b = int(n * 0.6), int(n * 0.8)
    return Task(
        name="t", sector="other", kind="tabular", problem="classification",
        train=Split(X[:a], y[:a]), val=Split(X[a:b], y[a:b]), test=Split(X[b:], y[b:]),
        metric="accuracy", n_classes=2, info=DatasetInfo("t", "test", "n/a"),
    )  # fmt: skip


def _teacher() -> Teacher:
    torch.manual_seed(1)
    return Teacher.from_torch(MLP(4, [16], 2), problem="classification")


def test_the_label_loss_counts_only_rows_with_a_true_label() -> None:
    objective = build_objective([], label_weight=1.0, problem="classification")
    logits = torch.randn(6, 3, requires_grad=True)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    mask = torch.tensor([True, False, True, False, False, True])
    loss = objective.label_loss(Outputs(logits=logits), Batch(x=None, y=y, index=None, mask=mask))
    torch.testing.assert_close(loss, F.cross_entropy(logits[mask], y[mask]))
    none = torch.zeros(6, dtype=torch.bool)
    zero = objective.label_loss(Outputs(logits=logits), Batch(x=None, y=y, index=None, mask=none))
    assert float(zero.detach()) == 0.0 and zero.requires_grad
    full = objective.label_loss(Outputs(logits=logits), Batch(x=None, y=y, index=None))
    torch.testing.assert_close(full, F.cross_entropy(logits, y))


def test_without_transfer_the_loop_reads_the_training_rows_alone() -> None:
    task = _task()
    X, _, mask = training_rows(task, None)
    assert mask is None and X.data_ptr() == torch.from_numpy(task.train.X).data_ptr()
    rows = TransferRows(np.zeros((5, 4), np.float32), np.ones(5, np.int64))
    X, _, mask = training_rows(task, rows)
    assert len(X) == len(task.train.y) + 5 and mask is not None
    assert int(mask.sum()) == len(task.train.y) and not mask[-5:].any()
    _, y_p, mask_p = training_rows(task, rows.as_pseudo_labels())
    assert mask_p is None and (y_p[-5:] == 1).all()


def test_the_teacher_labels_a_transfer_set_once() -> None:
    teacher, cache = _teacher(), TeacherOutputCache()
    X = np.random.default_rng(2).normal(size=(30, 4)).astype(np.float32)
    first, state1 = teacher_labels(teacher, X[:10], X[10:], cache, "classification")
    second, state2 = teacher_labels(teacher, X[:10], X[10:], cache, "classification")
    assert (state1, state2) == ("miss", "hit")
    expected = teacher.predict_scores(X[10:]).argmax(axis=1)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(first, second)


def test_distillation_on_a_transfer_set_caches_the_teacher_outputs_across_cells() -> None:
    task, teacher, cache = _task(), _teacher(), TeacherOutputCache()
    X_t = np.random.default_rng(3).normal(size=(50, 4)).astype(np.float32)
    labels, state = teacher_labels(teacher, task.train.X, X_t, cache, "classification")
    rows = TransferRows(X_t, labels)
    config = TrainConfig(epochs=2, batch_size=16, patience=5, threads=1)
    states, weights = [], []
    for _ in range(2):
        torch.manual_seed(0)
        student = MLP(4, [8], 2)
        objective = build_objective([MethodSpec(name="kd")], label_weight=1.0,
                                    problem="classification")  # fmt: skip
        result = train(student, task, objective=objective, config=config, teacher=teacher,
                       cache=cache, transfer=rows)  # fmt: skip
        states.append(result.teacher_cache)
        weights.append([p.detach().clone() for p in student.parameters()])
    # the teacher ran once over these rows: labelling them filled the entry KD reads
    assert (state, states) == ("miss", ["hit", "hit"])
    for a, b in zip(*weights, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_transfer_rows_change_what_the_student_learns() -> None:
    task, teacher = _task(), _teacher()
    X_t = np.random.default_rng(4).normal(size=(200, 4)).astype(np.float32)
    labels, _ = teacher_labels(teacher, task.train.X, X_t, TeacherOutputCache(), "classification")
    rows = TransferRows(X_t, labels)
    config = TrainConfig(epochs=2, batch_size=16, patience=5, threads=1)
    weights = []
    for transfer in (None, rows):
        torch.manual_seed(0)
        student = MLP(4, [8], 2)
        objective = build_objective([MethodSpec(name="kd")], label_weight=1.0,
                                    problem="classification")  # fmt: skip
        train(student, task, objective=objective, config=config, teacher=teacher,
              transfer=transfer)  # fmt: skip
        weights.append(torch.cat([p.detach().flatten() for p in student.parameters()]))
    assert not torch.equal(weights[0], weights[1])


def test_a_transfer_set_is_refused_with_several_processes() -> None:
    task = _task()
    rows = TransferRows(np.zeros((4, 4), np.float32), np.zeros(4, np.int64))
    objective = build_objective([], label_weight=1.0, problem="classification")
    config = TrainConfig(epochs=1, batch_size=16, threads=1, nproc=2)
    with pytest.raises(ConfigError, match=r"train\.nproc is 2, and a transfer set"):
        train(MLP(4, [8], 2), task, objective=objective, config=config, transfer=rows)
