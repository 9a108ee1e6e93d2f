"""One process of a distributed training run; ``torchrun`` starts ``nproc`` of them.

Run as ``python -m potstill.train.ddp_worker JOB_FOLDER`` (see :mod:`potstill.train.ddp`,
which writes the folder). Every rank draws the same epoch order from the same seeded
generator and takes its contiguous shard of each batch of ``batch_size`` rows; the
student and the objective's adapters are one :class:`DistributedDataParallel` module, so
the gradients of the whole trainable set are averaged. Each shard's loss is weighted by
its share of the batch, which makes the averaged gradient the one a single process
computes on the whole batch (for row-wise losses). Rank 0 validates (the metric is sent
to every rank, so all stop early together), checkpoints, and writes the result.
"""

from __future__ import annotations

import faulthandler
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from potstill._io import atomic_write
from potstill.evaluate import get_metric
from potstill.methods import Method, Objective
from potstill.models.hooks import FeatureTap
from potstill.models.predict import predict_scores
from potstill.train.checkpoint import LoopState, load_checkpoint, save_checkpoint
from potstill.train.config import TrainConfig
from potstill.train.distill import _clip, _optimizer
from potstill.train.feed import TeacherFeed
from potstill.types import Batch, Outputs, Task

__all__ = ["main", "shard"]


class _Trainable(nn.Module):
    """The student and the objective (its adapters) as one module, for DDP to wrap."""

    def __init__(self, tap: FeatureTap, objective: Objective) -> None:
        super().__init__()
        self.student = tap.module
        self.objective = objective
        self.tap = tap

    def forward(self, x: torch.Tensor, teacher: Outputs, batch: Batch) -> dict[str, torch.Tensor]:
        losses: dict[str, torch.Tensor] = self.objective(self.tap(x), teacher, batch)
        return losses


def shard(rows: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank ``rank``'s contiguous part of a batch's ``rows`` (sizes differ by at most one)."""
    return torch.tensor_split(rows, world)[rank]


def _staged(objective: Objective) -> bool:
    """Whether a method can switch the others off (FitNets' hint stage leaves the head
    without a gradient, which DDP must be told to expect)."""
    return any(type(m).exclusive is not Method.exclusive for m in objective.method_list)


@dataclass
class _ShardLoop:
    """One rank's epoch: its shard of every batch, gradients averaged by DDP."""

    model: DistributedDataParallel
    objective: Objective
    optimizer: torch.optim.Optimizer
    params: list[nn.Parameter]
    feed: TeacherFeed
    X: torch.Tensor
    y: torch.Tensor
    config: TrainConfig
    generator: torch.Generator
    seed: int

    def epoch(self, epoch: int) -> dict[str, float]:
        """One pass over the training rows; each loss term's mean over the whole batches."""
        rank, world = dist.get_rank(), dist.get_world_size()
        torch.manual_seed(
            int(np.random.SeedSequence([self.seed, epoch, rank]).generate_state(1)[0])
        )
        self.model.train()
        self.objective.set_epoch(epoch)
        order = torch.randperm(len(self.y), generator=self.generator)
        terms: dict[str, list[torch.Tensor]] = {}
        size, clip = self.config.batch_size, self.config.grad_clip
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            if len(rows) < 2 * world:  # every rank needs pairs (one process skips a lone row)
                continue
            idx = shard(rows, rank, world)
            share = len(idx) / len(rows)
            xb = self.X[idx]
            losses = self.model(xb, self.feed.rows(xb, idx), Batch(x=xb, y=self.y[idx], index=idx))
            self.optimizer.zero_grad(set_to_none=True)
            weight = share * world  # 1.0 when the shards are equal
            (losses["loss"] if weight == 1.0 else losses["loss"] * weight).backward()
            if clip is not None:
                _clip([p.grad for p in self.params if p.grad is not None], clip)
            self.optimizer.step()
            for k, v in losses.items():
                terms.setdefault(k, []).append(v.detach().double() * share)
        return {k: _batch_means(v) for k, v in sorted(terms.items())}


def _batch_means(parts: list[torch.Tensor]) -> float:
    """The mean over batches of a term, each batch's value summed over the ranks' shares."""
    per_batch = torch.stack(parts)
    dist.all_reduce(per_batch)
    return float(per_batch.mean())


def _validate(student: nn.Module, task: Task) -> float:
    """Rank 0's validation metric, sent to every rank."""
    value = torch.zeros(1, dtype=torch.float64)
    if dist.get_rank() == 0:
        scores = predict_scores(student, task.val.X, problem=task.problem)
        value[0] = float(get_metric(task.metric).fn(task.val.y, scores))
    dist.broadcast(value, src=0)
    return float(value[0])


def _modules(loop: _ShardLoop, student: nn.Module) -> dict[str, Any]:
    return {"student": student, "objective": loop.objective, "optimizer": loop.optimizer}


def _run(loop: _ShardLoop, student: nn.Module, job: dict[str, Any], folder: Path) -> LoopState:
    """Resume or start, then epochs until the limit or early stopping; rank 0 checkpoints
    and writes one progress line per epoch."""
    checkpoint: Path | None = job["checkpoint"]
    task: Task = job["task"]
    if checkpoint is not None and checkpoint.is_file():
        state = load_checkpoint(checkpoint, _modules(loop, student), loop.generator,
                                job["description"])  # fmt: skip
    else:
        state = LoopState.start(student)
    sign = 1.0 if get_metric(task.metric).higher_is_better else -1.0
    lead = dist.get_rank() == 0
    for epoch in range(state.epoch, loop.config.epochs):
        if state.bad >= loop.config.patience:
            break
        losses = loop.epoch(epoch)
        state.record(epoch, _validate(student, task), losses, sign, student)
        if lead and checkpoint is not None:
            save_checkpoint(checkpoint, state, _modules(loop, student), loop.generator)
        if lead:
            with (folder / "progress.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(state.history[-1]) + "\n")
    return state


def _train(folder: Path) -> None:
    job: dict[str, Any] = torch.load(folder / "job.pt", weights_only=False)
    config: TrainConfig = job["config"]
    torch.set_num_threads(config.threads)
    task: Task = job["task"]
    student, objective = job["student"], job["objective"]
    X, y = torch.from_numpy(task.train.X), torch.from_numpy(task.train.y)
    with job["plan"].student_tap(student) as tap:
        model = DistributedDataParallel(_Trainable(tap, objective),
                                        find_unused_parameters=_staged(objective))  # fmt: skip
        params = list(student.parameters()) + list(objective.parameters())
        loop = _ShardLoop(model, objective, _optimizer(params, config), params, job["feed"], X, y,
                          config, torch.Generator().manual_seed(job["seed"]), job["seed"])  # fmt: skip
        t0 = time.perf_counter()
        state = _run(loop, student, job, folder)
        seconds = time.perf_counter() - t0
    if dist.get_rank() == 0:
        result = {"student": state.best_state, "objective": objective.state_dict(),
                  "history": state.history, "best_epoch": state.best_epoch,
                  "best_val": float(state.best_val), "epochs_run": len(state.history),
                  "resumed": state.resumed, "seconds": seconds}  # fmt: skip
        atomic_write(folder / "result.pt", lambda fh: torch.save(result, fh))
    dist.barrier()  # leave together: a rank closing its connections early aborts the others


def main(argv: list[str] | None = None) -> None:
    """Join the process group torchrun set up, train this rank's part, leave."""
    args = sys.argv[1:] if argv is None else argv
    faulthandler.enable()  # a crash in native code still shows where each thread was
    dist.init_process_group("gloo")
    try:
        _train(Path(args[0]))
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
