"""The loop's state between epochs, and its atomic checkpoint (an interrupted run resumes).

The checkpoint holds everything the next epoch depends on: the student, the objective's
adapters, the optimiser, the batch-order generator, torch's global CPU generator (dropout
draws its masks from it) and the early-stopping state, so a resumed run equals an
uninterrupted one bit for bit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._io import atomic_write
from potstill.errors import ModelError

__all__ = ["LoopState", "load_checkpoint", "save_checkpoint"]

log = logging.getLogger(__name__)

_KEYS = {"student", "objective", "optimizer", "best_state", "epoch", "generator"}


@dataclass
class LoopState:
    """Early stopping and history: where the loop is after ``epoch`` epochs."""

    best_state: dict[str, torch.Tensor]
    epoch: int = 0
    best_val: float = -np.inf
    best_epoch: int = 0
    bad: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    resumed: int = 0

    @classmethod
    def start(cls, student: nn.Module) -> LoopState:
        return cls(best_state=_copy(student))

    def record(self, epoch: int, val: float, losses: dict[str, float], sign: float,
               student: nn.Module) -> None:  # fmt: skip
        """Add an epoch's validation metric and mean losses; keep the weights if best."""
        self.history.append({"epoch": epoch + 1, "val": val, **losses})
        self.epoch = epoch + 1
        if not np.isfinite(self.best_val) or sign * val > sign * self.best_val:
            self.best_val, self.best_epoch, self.bad = val, epoch + 1, 0
            self.best_state = _copy(student)
        else:
            self.bad += 1


def _copy(student: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in student.state_dict().items()}


def save_checkpoint(path: Path, state: LoopState, modules: dict[str, Any],
                    generator: torch.Generator) -> None:  # fmt: skip
    """Write the loop's state atomically (temporary file, fsync, rename: ``_io``)."""
    payload = {
        "epoch": state.epoch,
        **{name: m.state_dict() for name, m in modules.items()},
        "best_state": state.best_state,
        "best_val": state.best_val,
        "best_epoch": state.best_epoch,
        "bad": state.bad,
        "history": state.history,
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
    }
    atomic_write(path, lambda fh: torch.save(payload, fh))


def _read(path: Path) -> dict[str, Any]:
    """A training checkpoint, or a clear refusal naming the file when it cannot be read."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # a truncated zip, random bytes, a foreign pickle: all unreadable
        raise ModelError(
            f"The training checkpoint '{path}' cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}). It is only a resume point: delete it and rerun to train this "
            "cell from the start."
        ) from None
    if not isinstance(state, dict) or not state.keys() >= _KEYS:
        raise ModelError(
            f"The training checkpoint '{path}' is not one potstill wrote (it lacks "
            f"{sorted(_KEYS - set(state) if isinstance(state, dict) else _KEYS)}). Delete it and "
            "rerun to train this cell from the start."
        )
    return state


def load_checkpoint(path: Path, modules: dict[str, Any], generator: torch.Generator,
                    description: str) -> LoopState:  # fmt: skip
    """Restore ``modules`` (student, objective, optimizer) and the generator from ``path``."""
    saved = _read(path)
    for name, module in modules.items():
        module.load_state_dict(saved[name])
    generator.set_state(saved["generator"])
    if "torch_rng" in saved:
        torch.set_rng_state(saved["torch_rng"])
    else:  # written before the global generator was kept: resumes, but not bit for bit
        log.warning(
            "%s: the checkpoint has no dropout generator state; the resumed run "
            "may differ slightly from an uninterrupted one",
            description,
        )
    log.info("%s: resumed from checkpoint at epoch %d", description, saved["epoch"])
    return LoopState(
        best_state=saved["best_state"],
        epoch=saved["epoch"],
        best_val=saved["best_val"],
        best_epoch=saved["best_epoch"],
        bad=saved["bad"],
        history=saved["history"],
        resumed=saved["epoch"],
    )
