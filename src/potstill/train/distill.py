"""The one training loop: teacher fine-tuning, from-scratch baselines and distillation.

A from-scratch student is a distillation with no distillation terms, so the comparison
the paper omits (did distillation help at all?) uses the very same loop, data order,
optimiser and early-stopping rule. The loop is seeded and deterministic on CPU, stops
early on the validation metric, keeps the best weights, and checkpoints every epoch
atomically so an interrupted run resumes where it stopped. An embedding student runs
the same loop: its task's labels are the teacher's embeddings, which are also the
teacher's outputs the relation terms see (:mod:`potstill.train.embedding`).

A step costs what a hand-written loop's does (``benchmarks/train_speed.py``): the
teacher's outputs come from the cache in the epoch's order, AdamW runs fused (or
multi-tensor) where torch supports it, the gradient norm is clipped in one pass, and
losses are read out once per epoch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill.errors import ConfigError
from potstill.evaluate import get_metric
from potstill.events import Stage
from potstill.methods import BindContext, Objective
from potstill.models.hooks import FeatureTap
from potstill.models.predict import predict_scores
from potstill.models.teacher import Teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.checkpoint import LoopState, load_checkpoint, save_checkpoint
from potstill.train.config import TrainConfig
from potstill.train.ddp import train_distributed
from potstill.train.feed import (
    EMPTY,
    LayerPlan,
    TeacherFeed,
    epoch_batches,
    layer_pairs,
    open_teacher_feed,
    target_feed,
)
from potstill.train.transfer import TransferRows, training_rows
from potstill.types import Task

__all__ = ["TrainResult", "layer_pairs", "train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What happened during training (stored in the run record's timings/student)."""

    epochs_run: int
    best_epoch: int
    best_val: float
    seconds: float
    seconds_per_epoch: float
    teacher_cache: str  # "none" | "hit" | "miss" | "off" | "bypassed (augmentation)" | "targets"
    resumed_from_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if x.ndim == 4:  # images: random shift of up to 2 px and horizontal flip
        padded = nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
        dx, dy = (int(v) for v in torch.randint(0, 5, (2,), generator=generator))
        x = padded[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
        if bool(torch.rand((), generator=generator) < 0.5):
            x = x.flip(-1)
        return x
    return x + 0.05 * torch.randn(x.shape, generator=generator)


def _init_regression_head(module: nn.Module, y: np.ndarray) -> None:
    """Start a regression head at the target's scale: bias = mean(y), weights × sd(y).

    Targets such as concrete strength (MPa) sit far from the unit scale a fresh network
    outputs; Adam's step size would need thousands of steps just to reach the mean. Only
    a freshly built potstill model is touched (one with a single-output ``head`` Linear).
    """
    head = getattr(module, "head", None)
    if isinstance(head, nn.Sequential) and len(head) and isinstance(head[-1], nn.Linear):
        head = head[-1]
    if isinstance(head, nn.Linear) and head.out_features == 1 and head.bias is not None:
        with torch.no_grad():
            head.weight.mul_(float(np.std(y)) or 1.0)
            head.bias.fill_(float(np.mean(y)))
    for member in getattr(module, "members", ()):
        _init_regression_head(member, y)


def _optimizer(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.AdamW:
    """AdamW, fused where torch has the kernel for these tensors, else multi-tensor: one
    update for all parameters instead of a Python loop over them (same update rule)."""
    fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.AdamW(
        params,
        lr=config.lr,
        weight_decay=config.weight_decay,
        fused=True if fusable else None,
        foreach=None if fusable else True,
    )


def _clip(grads: list[torch.Tensor], max_norm: float) -> None:
    """Scale ``grads`` to a total L2 norm of at most ``max_norm`` (torch's clip_grad_norm_
    rule, bit for bit, without regrouping the tensors by device on every step)."""
    if not grads:
        return
    total = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(max_norm / (total + 1e-6), max=1.0))


def _bind(objective: Objective, s_tap: FeatureTap, feed: TeacherFeed, X: torch.Tensor,
          task: Task, config: TrainConfig) -> None:  # fmt: skip
    """Bind learned adapters with a probe batch before the optimiser sees the parameters."""
    probe = torch.arange(min(len(X), config.batch_size))
    s_tap.module.eval()
    with torch.no_grad():
        s_probe = s_tap(X[probe])
    t_probe = feed.rows(X[probe], probe) if feed.state != "none" else EMPTY
    objective.bind(s_probe, t_probe,
                   BindContext(n_train=len(X), n_classes=task.n_classes, problem=task.problem))  # fmt: skip


@dataclass
class _Loop:
    """Everything one epoch uses, built once."""

    s_tap: FeatureTap
    objective: Objective
    optimizer: torch.optim.Optimizer
    params: list[nn.Parameter]
    feed: TeacherFeed
    X: torch.Tensor
    y: torch.Tensor
    config: TrainConfig
    generator: torch.Generator
    mask: torch.Tensor | None = None  # True where a row's label is a true one

    def epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training rows; the mean of each loss term."""
        self.s_tap.module.train()
        self.objective.train()
        self.objective.set_epoch(epoch)
        order = torch.randperm(len(self.y), generator=self.generator)
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None
        if self.config.augment:
            augment = functools.partial(_augment, generator=self.generator)
        terms: dict[str, list[torch.Tensor]] = {}
        clip = self.config.grad_clip
        for batch, t_out in epoch_batches(
            self.X, self.y, order, self.feed, self.config, augment, self.mask
        ):
            losses = self.objective(self.s_tap(batch.x), t_out, batch)
            self.optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if clip is not None:
                _clip([p.grad for p in self.params if p.grad is not None], clip)
            self.optimizer.step()
            for k, v in losses.items():
                terms.setdefault(k, []).append(v.detach())
        return {k: float(torch.stack(v).double().mean()) for k, v in terms.items()}


def _progress(stage: Stage | None, state: LoopState, metric: str, epochs: int) -> None:
    if stage is None:
        return
    last = state.history[-1]
    loss = {"loss": last["loss"]} if "loss" in last else {}
    stage.update(state.epoch, epochs, unit="epoch", values={**loss, f"val_{metric}": last["val"]})


def train(
    student: nn.Module,
    task: Task,
    *,
    objective: Objective,
    config: TrainConfig,
    teacher: Teacher | None = None,
    seed: int = 0,
    checkpoint: Path | None = None,
    cache: TeacherOutputCache | None = None,
    description: str = "train",
    stage: Stage | None = None,
    transfer: TransferRows | None = None,
) -> TrainResult:
    """Train ``student`` in place on ``task.train`` with ``objective``; return the history.

    ``objective`` holds the distillation terms and the label loss; with no terms this is
    plain supervised training (teachers, from-scratch baselines). ``teacher`` is required
    when the objective has distillation terms, except for an embedding task: its labels
    are the teacher's embeddings and stand for its outputs. Each epoch's loss and validation metric
    are reported to ``stage`` when given. ``transfer``: rows without true labels, trained
    on after the training rows (:mod:`potstill.train.transfer`). Every forward hook the
    loop puts on the student or the teacher is removed when it returns or raises.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(config.threads)
    _check_setup(objective, teacher, task, transfer, config, description)
    teacher = teacher if objective.methods and task.problem != "embedding" else None
    plan = LayerPlan.build(student, teacher, objective.requires)
    X, y, mask = training_rows(task, transfer)
    resuming = checkpoint is not None and checkpoint.is_file()
    with contextlib.ExitStack() as hooks:
        s_tap = hooks.enter_context(plan.student_tap(student))
        if task.problem == "embedding":
            feed = target_feed(y, plan)
        else:
            feed = open_teacher_feed(teacher, plan, X, config, cache, hooks, description)
        if task.problem == "regression" and not resuming:
            _init_regression_head(student, task.train.y)
        _bind(objective, s_tap, feed, X, task, config)
        if config.nproc > 1:  # the same start, then nproc processes train (potstill.train.ddp)
            hooks.close()  # the student goes to them without this process's taps
            run = train_distributed(student, task, objective, config, feed, plan, seed=seed,
                                    checkpoint=checkpoint, description=description, stage=stage)  # fmt: skip
            return TrainResult(**dataclasses.asdict(run))
        params = list(student.parameters()) + list(objective.parameters())
        loop = _Loop(s_tap, objective, _optimizer(params, config), params, feed, X, y, config,
                     torch.Generator().manual_seed(seed), mask)  # fmt: skip
        state, t0 = _resume(loop, checkpoint, description), time.perf_counter()
        _run(loop, state, task, checkpoint, stage)
    student.load_state_dict(state.best_state)
    student.eval()
    return _result(state, feed.state, time.perf_counter() - t0)


def _check_setup(objective: Objective, teacher: Teacher | None, task: Task,
                 transfer: TransferRows | None, config: TrainConfig,
                 description: str) -> None:  # fmt: skip
    """Refuse a loop that cannot run: distillation terms without a teacher (an embedding
    task's labels are the teacher's outputs), an embedding task with another objective or
    several processes, or a transfer set with several processes."""
    embedding = task.problem == "embedding"
    if objective.methods and teacher is None and not embedding:
        raise ValueError("a teacher is required when the objective has distillation terms")
    if embedding and (objective.problem != "embedding" or config.nproc > 1):
        raise ConfigError(
            f"{description}: an embedding task trains with an embedding objective (got a "
            f"{objective.problem} one) in one process (train.nproc is {config.nproc}). "
            "Use potstill.train.embedding.embedding_objective and train.nproc: 1."
        )
    if transfer is not None and config.nproc > 1:
        raise ConfigError(
            f"{description}: train.nproc is {config.nproc}, and a transfer set (or "
            "dataset.labelled_fraction < 1) trains in one process only. Set train.nproc: 1."
        )


def _result(state: LoopState, teacher_cache: str, seconds: float) -> TrainResult:
    """What the loop did, with the time per epoch this process ran (a resumed run's
    earlier epochs are not timed again)."""
    ran = max(len(state.history) - state.resumed, 1)
    return TrainResult(
        epochs_run=len(state.history),
        best_epoch=state.best_epoch,
        best_val=float(state.best_val),
        seconds=seconds,
        seconds_per_epoch=seconds / ran,
        teacher_cache=teacher_cache,
        resumed_from_epoch=state.resumed,
        history=state.history,
    )


def _modules(loop: _Loop) -> dict[str, Any]:
    return {"student": loop.s_tap.module, "objective": loop.objective, "optimizer": loop.optimizer}


def _resume(loop: _Loop, checkpoint: Path | None, description: str) -> LoopState:
    """The state saved in ``checkpoint`` (restoring the modules), or a fresh start."""
    if checkpoint is not None and checkpoint.is_file():
        return load_checkpoint(checkpoint, _modules(loop), loop.generator, description)
    return LoopState.start(loop.s_tap.module)


def _run(loop: _Loop, state: LoopState, task: Task, checkpoint: Path | None,
         stage: Stage | None) -> None:  # fmt: skip
    """Epochs until the limit or early stopping; validate, checkpoint and report each."""
    metric = get_metric(task.metric)
    sign = 1.0 if metric.higher_is_better else -1.0
    student = loop.s_tap.module
    for epoch in range(state.epoch, loop.config.epochs):
        if state.bad >= loop.config.patience:
            break
        losses = loop.epoch(epoch)
        scores = predict_scores(student, task.val.X, problem=task.problem)
        state.record(epoch, float(metric.fn(task.val.y, scores)), losses, sign, student)
        if checkpoint is not None:
            save_checkpoint(checkpoint, state, _modules(loop), loop.generator)
        _progress(stage, state, metric.name, loop.config.epochs)
