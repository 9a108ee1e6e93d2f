"""What the harness measures: one model with real input rows, and how to call it.

A target is either a torch module (measured on eager / compile / ONNX Runtime / INT8), a
black-box ``predict`` callable such as a scikit-learn ``predict_proba`` (measured as is, on
runtime "native"), or a saved ``.onnx`` file (ONNX Runtime only). Models may return a
tensor, potstill ``Outputs``, a dict with "logits" or a tuple; :class:`LogitsOnly` reduces
all of them to the logits tensor so every runtime returns the same thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill.errors import BenchError

__all__ = ["BenchTarget", "LogitsOnly", "as_logits", "check_targets"]


@dataclass(frozen=True, eq=False)
class BenchTarget:
    """One model to benchmark.

    ``example`` holds real input rows (float32 (n, d) or images (n, 1, 28, 28)), at least
    as many as the largest batch size. ``path`` is the saved artefact (potstill model
    directory, safetensors or ``.onnx`` file), used for bytes on disk and the fresh-process
    memory probe.
    """

    name: str
    module: nn.Module | None = None
    predict: Callable[[np.ndarray], Any] | None = None
    example: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    path: Path | None = None

    @property
    def kind(self) -> str:
        """'module', 'predict' or 'onnx' (a saved ONNX file only)."""
        if self.module is not None:
            return "module"
        if self.predict is not None:
            return "predict"
        return "onnx"


def as_logits(output: Any) -> torch.Tensor:
    """The logits tensor of a forward pass, whatever container the model returns."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, dict) and isinstance(output.get("logits"), torch.Tensor):
        return output["logits"]
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise BenchError(
        "Cannot find the logits in the model's output: expected a tensor, an object with a "
        "'logits' tensor, a dict with key 'logits' or a tuple starting with a tensor. "
        f"Got {type(output).__name__} instead."
    )


class LogitsOnly(nn.Module):
    """Wrap a module so its forward returns only the logits tensor (what ONNX exports)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return as_logits(self.module(x))


def check_targets(targets: Sequence[BenchTarget], max_batch: int) -> None:
    """Refuse targets the harness cannot measure, naming the target and the problem."""
    if not targets:
        raise BenchError("No targets to benchmark: pass at least one BenchTarget.")
    names = [t.name for t in targets]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BenchError(
            f"Benchmark target names must be unique. Got duplicates {duplicates} instead."
        )
    for t in targets:
        if t.module is None and t.predict is None and (t.path is None or t.path.suffix != ".onnx"):
            raise BenchError(
                f"Target '{t.name}' has nothing to run: give a torch module, a predict "
                "callable or the path of an .onnx file."
            )
        example = t.example
        if not isinstance(example, np.ndarray) or example.ndim < 2:
            raise BenchError(
                f"The example of target '{t.name}' must be a numpy array of rows (n, ...). "
                f"Got {type(example).__name__} with shape {getattr(example, 'shape', None)}."
            )
        if example.dtype != np.float32:
            raise BenchError(
                f"The example of target '{t.name}' must be float32. Got {example.dtype} instead;"
                " convert it with example.astype(np.float32)."
            )
        if len(example) < max_batch:
            raise BenchError(
                f"The example of target '{t.name}' has {len(example)} rows but the largest "
                f"batch size is {max_batch}. Give at least {max_batch} real rows or lower "
                "batch_sizes."
            )
