"""Evaluations reused across studies, keyed by everything that shapes their numbers.

Evaluation is deterministic: the same student weights, the same teacher, the same test
(and validation) rows and the same evaluation settings give the same quality, bootstrap
intervals and robustness curves included (every resample and perturbation is seeded).
A student the student cache (:mod:`potstill.study.student_cache`) gave back has a key
that already pins its weights, its teacher and its training data; this module adds the
rows the evaluation reads (one digest per system, shared by its cells) and the evaluation
config, and keeps the :class:`Quality` and the student's test scores under that key. A
second study of the same fleet then reads them instead of repeating the bootstrap and the
robustness sweep.

Costs are never reused: every study measures teacher and students again on the machine
it runs on. The record says ``evaluation_cache: hit``. Entries live under
``<cache>/evaluations``; ``POTSTILL_REUSE_STUDENTS=0`` turns this reuse off with the
student reuse, and deleting the folder re-evaluates everything.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sklearn
import torch

from potstill._io import atomic_write_bytes
from potstill.errors import StoreError
from potstill.evaluate import EvalConfig
from potstill.evaluate.gates import quality_from_dict
from potstill.train.cache import content_hash
from potstill.types import Quality, Task, to_jsonable

__all__ = [
    "EVAL_CACHE_VERSION",
    "EvaluationCache",
    "evaluation_key",
    "rows_digest",
]

log = logging.getLogger(__name__)

#: Part of every key: bump it when what an evaluation computes changes.
EVAL_CACHE_VERSION = 2  # 2: the rows enter as their digest (rows_digest)


def rows_digest(task: Task) -> str:
    """The content hash of the rows an evaluation reads: the test and validation rows and
    the test rows' sensitive attribute. Computed once per system (the rows are the same
    for all its cells), then part of each cell's :func:`evaluation_key`."""
    return content_hash(*_rows(task))


def evaluation_key(student_key: str, rows: str, task: Task, config: EvalConfig) -> str:
    """The content hash an evaluation is kept under: the student's own key (weights,
    teacher, training rows), the :func:`rows_digest` of the rows it reads, the metric and
    the evaluation settings, and the library versions."""
    return content_hash(*_versions(), student_key, rows, *_settings(task, config))


def _versions() -> tuple[object, ...]:
    return EVAL_CACHE_VERSION, torch.__version__, np.__version__, sklearn.__version__


def _rows(task: Task) -> tuple[np.ndarray | None, ...]:
    test, val = task.test, task.val
    sensitive = None if test.sensitive is None else np.asarray(test.sensitive)
    return (np.asarray(test.X), np.asarray(test.y), np.asarray(val.X), np.asarray(val.y),
            sensitive)  # fmt: skip


def _settings(task: Task, config: EvalConfig) -> tuple[object, ...]:
    return task.problem, task.metric, config.model_dump(mode="json")


class EvaluationCache:
    """One ``<key>.npz`` per evaluation under ``root``: the quality's JSON and the scores."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / f"{key[:32]}.npz"

    def fetch(self, key: str) -> tuple[Quality, np.ndarray] | None:
        """The quality and test scores kept under ``key``; None when there are none or the
        entry is unreadable (then it is evaluated again and rewritten)."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != key:
                    return None
                quality = quality_from_dict(json.loads(str(data["quality"])))
                return quality, np.asarray(data["scores"])
        except (KeyError, ValueError, OSError, zipfile.BadZipFile, StoreError) as exc:
            log.warning("evaluation cache entry %s is unreadable (%s); evaluating again", path, exc)
            return None

    def store(self, key: str, quality: Quality, scores: np.ndarray) -> None:
        """Keep ``quality`` (without its pairing to scratch, which depends on the other
        students) and ``scores`` under ``key``, atomically."""
        body = to_jsonable(quality)
        body["versus_scratch"] = None
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer, key=np.array(key), quality=np.array(json.dumps(body)), scores=scores
        )
        atomic_write_bytes(self._path(key), buffer.getvalue())

    def evaluate(
        self,
        key: str,
        compute: Callable[[], tuple[Quality, np.ndarray]],
    ) -> tuple[Quality, np.ndarray, bool]:
        """The kept evaluation under ``key``, or ``compute()`` kept; and whether it was kept."""
        kept = self.fetch(key)
        if kept is not None:
            return (*kept, True)
        quality, scores = compute()
        self.store(key, quality, scores)
        return quality, scores, False
