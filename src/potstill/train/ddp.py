"""Data-parallel training across processes: DDP over gloo on CPU, started by ``torchrun``.

:func:`~potstill.train.distill.train` hands a run with ``config.nproc > 1`` here once it
has done what a single process does first (teacher outputs from the cache, the regression
head's start, the adapters bound). This process writes the student, the bound objective,
the task and the teacher's outputs (computed once, shared by every process) to a private
job folder and runs ``torchrun --standalone --nproc_per_node N``; each worker
(:mod:`potstill.train.ddp_worker`) trains on its share of every batch, DDP averages the
gradients, and rank 0 validates, checkpoints and writes the trained weights. They are
loaded back here, so export, benchmarks and records are the same as after a local run.

The split is exact for losses that are a mean over rows: a batch of ``batch_size`` rows is
cut into ``nproc`` contiguous shards, each shard's mean loss is weighted by its share of
the batch, and the averaged gradient is the one a single process computes on the whole
batch. Methods whose loss compares the rows of a batch with each other (relation methods,
DIST) would become a different loss, and attention maps are not cached, so these are refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from potstill._io import atomic_write
from potstill.errors import ConfigError, MethodError, ModelError
from potstill.evaluate import get_metric
from potstill.events import Stage
from potstill.methods import Objective
from potstill.train.cache import CachedOutputs
from potstill.train.config import TrainConfig
from potstill.train.feed import LayerPlan, TeacherFeed
from potstill.types import Task

__all__ = ["ROW_WISE_METHODS", "DistributedRun", "check_distributed", "train_distributed"]

log = logging.getLogger(__name__)

#: Methods whose loss is a mean of per-row terms, so sharding a batch leaves it unchanged.
ROW_WISE_METHODS = frozenset(
    {"kd", "kd_regression", "dkd", "fitnet", "hidden_mse", "hidden_cosine", "at"}
)
#: Where the package lives, for the workers' import path.
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class DistributedRun:
    """What a distributed run did; the fields of :class:`~potstill.train.TrainResult`."""

    epochs_run: int
    best_epoch: int
    best_val: float
    seconds: float
    seconds_per_epoch: float
    teacher_cache: str
    resumed_from_epoch: int = 0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)


def check_distributed(methods: Sequence[str], config: TrainConfig) -> None:
    """Refuse a distributed run this module cannot make equal to a single process's."""
    cpus = os.cpu_count() or 1
    if config.nproc > cpus:
        raise ConfigError(
            f"The 'nproc' training setting must be at most the {cpus} CPU cores of this "
            f"machine (one training process per core). Got {config.nproc} instead. Lower "
            "--nproc (train.nproc in a fleet)."
        )
    if config.nproc == 1:
        return
    refused = sorted(set(methods) - ROW_WISE_METHODS)
    if refused:
        raise MethodError(
            f"Distributed training (nproc {config.nproc}) cannot run {refused}: their loss "
            "compares the rows of a batch with each other (or needs attention maps, which "
            "are not cached), so a batch split across processes would be a different loss. "
            f"Supported: {sorted(ROW_WISE_METHODS)}. Train these with nproc 1."
        )
    if config.augment or (methods and not config.teacher_cache):
        raise ConfigError(
            f"Distributed training (nproc {config.nproc}) shares the teacher's cached outputs "
            "with every process, but augment true or teacher_cache false asks for the teacher "
            "on every batch. Set augment false and teacher_cache true, or nproc 1."
        )


def train_distributed(
    student: nn.Module,
    task: Task,
    objective: Objective,
    config: TrainConfig,
    feed: TeacherFeed,
    plan: LayerPlan,
    *,
    seed: int,
    checkpoint: Path | None,
    description: str,
    stage: Stage | None,
) -> DistributedRun:
    """Train ``student`` (and ``objective``'s adapters) in place with ``config.nproc``
    processes; ``feed`` holds the teacher's cached outputs, ``plan`` the layers tapped."""
    check_distributed([m.name for m in objective.method_list], config)
    with tempfile.TemporaryDirectory(prefix="potstill-ddp-") as tmp:
        job = Path(tmp)
        job_file = job / "job.pt"
        payload = {"student": student, "objective": objective, "task": task, "config": config,
                   "feed": _shared(feed), "plan": plan, "seed": seed, "checkpoint": checkpoint,
                   "description": description}  # fmt: skip
        atomic_write(job_file, lambda fh: torch.save(payload, fh))
        keep_log = None if checkpoint is None else checkpoint.with_name("torchrun.log")
        _launch(job, config, description, _Progress(stage, task.metric, config.epochs), keep_log)
        result = torch.load(job / "result.pt", weights_only=True)
    student.load_state_dict(result["student"])
    objective.load_state_dict(result["objective"])
    student.eval()
    ran = max(result["epochs_run"] - result["resumed"], 1)
    return DistributedRun(
        epochs_run=result["epochs_run"],
        best_epoch=result["best_epoch"],
        best_val=float(result["best_val"]),
        seconds=result["seconds"],
        seconds_per_epoch=result["seconds"] / ran,
        teacher_cache=feed.state,
        resumed_from_epoch=result["resumed"],
        history=result["history"],
    )


def _shared(feed: TeacherFeed) -> TeacherFeed:
    """The feed the workers read: the cached outputs of the fields needed, in memory."""
    if feed.cached is None:
        if feed.forward is not None:  # check_distributed refuses per-batch teachers first
            raise ModelError("Distributed training needs the teacher's outputs cached.")
        return TeacherFeed(feed.state, feed.fields)
    rows = feed.cached.take(torch.arange(len(feed.cached.logits)), feed.fields)
    cached = CachedOutputs(logits=rows.logits, hidden=tuple(rows.hidden or ()),
                           embedding=rows.embedding, on_disk=False)  # fmt: skip
    return TeacherFeed(feed.state, feed.fields, cached=cached)


@dataclasses.dataclass
class _Progress:
    """Rank 0's per-epoch lines (``progress.jsonl``) passed on to the stage as they come."""

    stage: Stage | None
    metric: str
    epochs: int
    seen: int = 0

    def poll(self, path: Path) -> None:
        if self.stage is None or not path.is_file():
            return
        lines = path.read_text(encoding="utf-8").split("\n")[:-1]  # complete lines only
        name = get_metric(self.metric).name
        for line in lines[self.seen :]:
            row = json.loads(line)
            loss = {"loss": row["loss"]} if "loss" in row else {}
            self.stage.update(row["epoch"], self.epochs, unit="epoch",
                              values={**loss, f"val_{name}": row["val"]})  # fmt: skip
        self.seen = len(lines)


def _command(job: Path, nproc: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={nproc}", "-m", "potstill.train.ddp_worker", str(job)]  # fmt: skip


def _environment(config: TrainConfig) -> dict[str, str]:
    """This process's environment, with the package importable and the threads set."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join([str(_SOURCE_ROOT), *([path] if path else [])])
    env["OMP_NUM_THREADS"] = str(config.threads)
    return env


def _launch(job: Path, config: TrainConfig, description: str, progress: _Progress,
            keep_log: Path | None) -> None:  # fmt: skip
    """Run the workers to the end, passing on their progress; a failure quotes the log's
    end (the whole log is kept at ``keep_log``, beside the cell's checkpoint)."""
    log_path = job / "torchrun.log"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(_command(job, config.nproc), stdout=out,
                                stderr=subprocess.STDOUT, env=_environment(config))  # fmt: skip
        try:
            while proc.poll() is None:
                progress.poll(job / "progress.jsonl")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:  # interrupted here: the workers must not outlive us
                proc.terminate()
                proc.wait()
    progress.poll(job / "progress.jsonl")
    if proc.returncode == 0:
        return
    if keep_log is not None:
        shutil.copyfile(log_path, keep_log)
    where = f" (the whole log: {keep_log})" if keep_log is not None else ""
    if (job / "result.pt").is_file():  # written after the last epoch: only the exit failed
        log.warning("%s: torchrun exited with code %d after rank 0 wrote the trained weights; "
                    "they are used%s", description, proc.returncode, where)  # fmt: skip
        return
    raise ModelError(
        f"Distributed training of {description} failed: torchrun with {config.nproc} processes "
        f"exited with code {proc.returncode}{where}. The end of its log:\n{_tail(log_path)}"
    )


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
