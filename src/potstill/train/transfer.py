"""Transfer rows in the training loop: the teacher labels them once, the loop draws them
beside the labelled rows, and the label loss skips them.

A transfer set (:mod:`potstill.data.transfer`) holds inputs without true labels. The
teacher's outputs on them are cached by content hash like every teacher output
(:class:`~potstill.train.cache.TeacherOutputCache`, memory-mapped when large), so a
system's cells label them once. The loop trains on the labelled rows followed by the
transfer rows: the distillation terms see every row, the label loss only the rows whose
``mask`` is True. The ``pseudo_label`` baseline instead trains on the teacher's hard labels
of the transfer rows as if they were true labels (no mask, no distillation term), which
tells soft targets from "more rows".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from potstill.models.teacher import Teacher
from potstill.train.cache import TeacherOutputCache, content_hash
from potstill.types import Outputs, Task

__all__ = ["TransferRows", "teacher_labels", "training_rows"]


@dataclass(frozen=True, eq=False)
class TransferRows:
    """Inputs without true labels and the teacher's hard labels of them.

    ``y``: class ids (classification) or the teacher's predictions (regression); the loop
    reads them as labels only when ``pseudo_label`` is True, and otherwise only methods
    that need a class per row (DKD) read them.
    """

    X: np.ndarray
    y: np.ndarray
    pseudo_label: bool = False
    teacher_cache: str = "miss"  # "hit" when the teacher had labelled these rows already

    def as_pseudo_labels(self) -> TransferRows:
        """The same rows, their hard labels trained on like true labels."""
        return replace(self, pseudo_label=True)

    def digest(self) -> str:
        """What identifies these rows in a trained student's cache key."""
        return content_hash(self.X, self.y, self.pseudo_label)


def teacher_labels(
    teacher: Teacher,
    labelled: np.ndarray,
    X: np.ndarray,
    cache: TeacherOutputCache,
    problem: str,
) -> tuple[np.ndarray, str]:
    """The teacher's hard labels of the transfer rows ``X`` and whether its outputs came
    from ``cache`` ("hit") or were computed now ("miss").

    The outputs are computed on the rows the loop reads (``labelled`` then ``X``) under the
    key the loop gives a logits-only objective, so a torch teacher runs over them once: the
    first distilled cell (KD, say) reads the same entry."""
    model = teacher.module if teacher.module is not None else teacher.name
    pool = np.concatenate([labelled, np.asarray(X, dtype=labelled.dtype)])
    key = content_hash(model, pool, "logits only")

    def forward(x: torch.Tensor) -> Outputs:
        return Outputs(logits=teacher.outputs(x).logits)

    hits = cache.hits
    logits = torch.as_tensor(np.asarray(cache.get(key, forward, pool).logits)[len(labelled) :])
    state = "hit" if cache.hits > hits else "miss"
    if problem == "classification":
        return logits.argmax(dim=1).numpy().astype(np.int64), state
    return logits.reshape(len(X), -1)[:, 0].numpy().astype(np.float32), state


def training_rows(
    task: Task, transfer: TransferRows | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The loop's inputs, labels and label mask: the training rows alone (mask None, the
    loop as without a transfer set), or followed by the transfer rows."""
    X, y = torch.from_numpy(task.train.X), torch.from_numpy(task.train.y)
    if transfer is None:
        return X, y, None
    X_t = torch.from_numpy(np.ascontiguousarray(transfer.X, dtype=task.train.X.dtype))
    y_t = torch.from_numpy(np.ascontiguousarray(transfer.y, dtype=task.train.y.dtype))
    X_all, y_all = torch.cat([X, X_t]), torch.cat([y, y_t])
    if transfer.pseudo_label:
        return X_all, y_all, None
    mask = torch.cat(
        [torch.ones(len(X), dtype=torch.bool), torch.zeros(len(X_t), dtype=torch.bool)]
    )
    return X_all, y_all, mask
