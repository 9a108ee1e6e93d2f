"""Trained students reused across studies, keyed by everything that shapes their weights.

Training is seeded and deterministic on CPU, so a student trained from the same initial
weights, on the same rows, by the same teacher, method and settings comes out the same.
A second study (a new output folder, the same fleet) copies such a student from the cache
instead of training it again, as teachers are cached (:mod:`potstill.zoo`). Every study
benchmarks and prices each student again.

The key is a content hash of:

- the teacher: its weights (a torch teacher), its file's bytes (a teacher file) or its
  recipe key (a built-in tree ensemble), and the hidden tensors it exposes;
- the data the loop reads: training and validation rows and labels, problem and metric;
- the method specs (names, parameters, weights) and the whole training config;
- the seed and the initial student (architecture and weights, input statistics included);
- the transfer rows and their teacher labels, when the student trains on a transfer set;
- the cache format version and the torch version.

Change any of them and the key changes, so the student is trained again. The record says
``student_cache: hit`` and keeps the training time measured when it was trained. Its
evaluation may be reused as well (:mod:`potstill.study.eval_cache`); its costs never are. Entries
live under ``<cache>/students`` (``$POTSTILL_CACHE``); deleting that folder retrains all,
and ``POTSTILL_REUSE_STUDENTS=0`` turns reuse off (every student is trained; none stored).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._io import atomic_folder, tree_sha256
from potstill.methods import MethodSpec
from potstill.models.export import MODEL_JSON
from potstill.models.sizing import TeacherSize
from potstill.models.teacher import Teacher
from potstill.study.eval_cache import EvaluationCache
from potstill.train.cache import TeacherOutputCache, content_hash
from potstill.train.config import TrainConfig
from potstill.train.transfer import TransferRows
from potstill.types import Task
from potstill.zoo.cache import default_cache_dir

__all__ = [
    "STUDENT_CACHE_VERSION",
    "StudentCache",
    "SystemTraining",
    "reuse_enabled",
    "student_key",
    "system_training",
    "teacher_digest",
]

log = logging.getLogger(__name__)

#: Part of every key: bump it when the training loop's arithmetic changes, so students
#: trained by an earlier loop are not mistaken for what this one would train.
STUDENT_CACHE_VERSION = 1
REUSE_ENV = "POTSTILL_REUSE_STUDENTS"


def reuse_enabled() -> bool:
    """False when ``$POTSTILL_REUSE_STUDENTS`` is 0, false, no or off."""
    return os.environ.get(REUSE_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def teacher_digest(teacher: Teacher, info: Mapping[str, Any]) -> str | None:
    """What identifies the teacher's outputs; None when nothing does (then no reuse)."""
    taps = [teacher.hidden_layer_names(), teacher.embedding_layer_name(), teacher.backend]
    if teacher.module is not None:
        return content_hash("module", teacher.module, *taps)
    source = Path(str(info.get("source", "")))
    if info.get("source") and source.exists():
        return content_hash("file", tree_sha256(source), *taps)
    if info.get("cache_key"):  # a built-in recipe (XGBoost): its key hashes recipe and data
        return content_hash("recipe", info.get("arch"), info["cache_key"], *taps)
    return None


def student_key(
    teacher: str,
    task: Task,
    specs: Sequence[MethodSpec],
    config: TrainConfig,
    seed: int,
    student: nn.Module,
    transfer: TransferRows | None = None,
) -> str:
    """The content hash a trained student is stored under (see the module docstring);
    ``transfer``: the transfer rows it trains on, if any."""
    spec_fn = getattr(student, "spec", None)
    extra = () if transfer is None else (("transfer", transfer.digest()),)
    return content_hash(
        STUDENT_CACHE_VERSION,
        torch.__version__,
        teacher,
        task.train.X,
        np.asarray(task.train.y),
        task.val.X,
        np.asarray(task.val.y),
        task.problem,
        task.metric,
        [s.model_dump(mode="json") for s in specs],
        config.model_dump(mode="json"),
        seed,
        repr(student),
        spec_fn() if callable(spec_fn) else None,
        student,
        *extra,
    )


class StudentCache:
    """Trained student folders under ``root``, one per key."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, key: str, name: str) -> Path:
        return self.root / f"{name}-{key[:24]}"

    def fetch(self, key: str, name: str, dest: Path) -> bool:
        """Copy the student stored under ``key`` into ``dest``; False when there is none."""
        src = self._folder(key, name)
        if not (src / MODEL_JSON).is_file():
            return False
        dest.mkdir(parents=True, exist_ok=True)
        for f in src.iterdir():
            if f.is_file():
                shutil.copy2(f, dest / f.name)
        return True

    def store(self, key: str, name: str, src: Path) -> None:
        """Keep the saved student in ``src`` under ``key`` (atomically: a folder rename)."""
        folder = self._folder(key, name)
        if (folder / MODEL_JSON).is_file():
            return

        def fill(tmp: Path) -> None:
            for f in src.iterdir():
                if f.is_file() and f.suffix != ".pt":  # not a training checkpoint
                    shutil.copy2(f, tmp / f.name)

        atomic_folder(folder, fill)


@dataclass
class SystemTraining:
    """What every cell of a system trains with: the teacher's outputs (computed once), its
    size, and the students earlier studies trained (``students`` None: no reuse)."""

    outputs: TeacherOutputCache
    size: TeacherSize
    students: StudentCache | None = None
    teacher_digest: str | None = None
    evaluations: EvaluationCache | None = None


def system_training(
    spill_dir: Path,
    cache_dir: Path | None,
    in_memory_mb: float,
    teacher: tuple[Teacher, Mapping[str, Any]],
    size: TeacherSize,
) -> SystemTraining:
    """A system's training resources; reuse is on unless turned off or the teacher has no
    digest. Students are kept under ``cache_dir`` (default: the teacher cache's root)."""
    outputs = TeacherOutputCache(spill_dir=spill_dir, in_memory_mb=in_memory_mb)
    digest = teacher_digest(*teacher) if reuse_enabled() else None
    if digest is None:
        return SystemTraining(outputs, size)
    root = cache_dir or default_cache_dir()
    students, evaluations = StudentCache(root / "students"), EvaluationCache(root / "evaluations")
    return SystemTraining(outputs, size, students, digest, evaluations)
