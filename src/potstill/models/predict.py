"""Scores of a torch model on a numpy array, the form every metric and benchmark consumes.

Evaluation (scikit-learn metrics), the black-box fidelity checks and the cost bench all
want numpy in, numpy out: class probabilities (n, C) or regression values (n,). This is
the one place that turns a module's raw outputs into those scores, batch by batch, in
eval mode and without autograd, and then puts the module back in the mode it was in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._validation import check_choice, check_scalar
from potstill.errors import DataError, ModelError
from potstill.types import Problem

__all__ = ["as_logits", "count_params", "logits_to_scores", "predict_scores"]


def as_logits(output: Any) -> torch.Tensor:
    """The logits tensor of a forward result: a tensor, a tuple (first item) or an object
    with ``.logits`` (Hugging Face model outputs)."""
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ModelError(
        "The model's forward must return a tensor of logits, a tuple starting with one, or an "
        f"object with a '.logits' tensor. Got {type(output).__name__} instead."
    )


def logits_to_scores(logits: torch.Tensor, problem: Problem) -> torch.Tensor:
    """Classification: softmax probabilities (N, C) (one logit column = binary, sigmoid).
    Regression: values (N,) from an (N, 1) or (N,) output. Embedding: the (N, D) vectors."""
    if problem == "embedding":
        if logits.ndim != 2:
            raise ModelError(
                "An embedding model must output (N, D) vectors. "
                f"Got shape {tuple(logits.shape)} instead."
            )
        return logits
    if problem == "regression":
        if logits.ndim == 2 and logits.shape[1] == 1:
            return logits[:, 0]
        if logits.ndim == 1:
            return logits
        raise ModelError(
            "A regression model must output (N, 1) or (N,) predictions. "
            f"Got shape {tuple(logits.shape)} instead."
        )
    if logits.ndim != 2:
        raise ModelError(
            f"A classifier must output (N, C) logits. Got shape {tuple(logits.shape)} instead."
        )
    if logits.shape[1] == 1:  # a single binary logit
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return torch.softmax(logits, dim=1)


def _input_dtype(module: nn.Module) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def _device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def predict_scores(
    module: nn.Module, X: np.ndarray, *, problem: Problem, batch_size: int = 1024
) -> np.ndarray:
    """Class probabilities (n, C), regression values (n,) or embeddings (n, D), float64.

    Runs in eval mode under ``torch.inference_mode`` on the module's device, in batches of
    ``batch_size`` rows, and restores the module's training flag afterwards.
    """
    check_choice(
        problem,
        "problem",
        owner="predict_scores",
        choices=("classification", "regression", "embedding"),
    )
    check_scalar(batch_size, "batch_size", owner="predict_scores", ge=1, integer=True)
    X = np.asarray(X)
    if X.dtype == object or not np.issubdtype(X.dtype, np.number):
        raise DataError(
            "predict_scores needs a numeric array (tabular rows or images). "
            f"Got dtype {X.dtype} instead; text must be tokenised by its model's adapter."
        )
    if len(X) == 0:
        raise DataError("predict_scores got an array with 0 rows; pass at least one row.")
    dtype, device = _input_dtype(module), _device(module)
    was_training = module.training
    module.eval()
    chunks = []
    try:
        with torch.inference_mode():
            for start in range(0, len(X), batch_size):
                xb = torch.as_tensor(X[start : start + batch_size], dtype=dtype, device=device)
                scores = logits_to_scores(as_logits(module(xb)), problem)
                chunks.append(scores.cpu().numpy().astype(np.float64))
    finally:
        module.train(was_training)
    return np.concatenate(chunks)


def count_params(module: nn.Module) -> int:
    """Number of parameters (each shared tensor counted once; buffers excluded)."""
    return sum(p.numel() for p in module.parameters())
