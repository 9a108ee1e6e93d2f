"""Predictors on raw text: tokenise the strings given, then call the tensor-only model.

Evaluation runs on the raw-text task, because the robustness checks perturb the strings
themselves (token dropout, typos); training and the bench run on the encoded task. A text
predictor bridges the two: numpy array of strings in, scores out — class probabilities
(n, C), regression values (n,), or sentence embeddings (n, D) for an embedding model.
Already-encoded (n, 2, L) rows are passed through unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._validation import check_scalar
from potstill.data.text import encode_texts, is_encoded
from potstill.errors import DataError
from potstill.models.predict import as_logits, predict_scores
from potstill.types import Problem

__all__ = ["embed_texts", "text_predictor"]


def _encoded(X: np.ndarray, tokenizer: Any, max_length: int) -> np.ndarray:
    X = np.asarray(X)
    if len(X) == 0:
        raise DataError("A text predictor got 0 rows; pass at least one text.")
    return X if is_encoded(X) else encode_texts(X, tokenizer, max_length)


def text_predictor(
    module: nn.Module, tokenizer: Any, max_length: int, problem: Problem, *, batch_size: int = 64
) -> Callable[[np.ndarray], np.ndarray]:
    """A numpy predictor of ``module`` on raw strings (tokenised with ``tokenizer``)."""
    check_scalar(max_length, "max_length", owner="text_predictor", ge=2, integer=True)
    check_scalar(batch_size, "batch_size", owner="text_predictor", ge=1, integer=True)

    def predict(X: np.ndarray) -> np.ndarray:
        encoded = _encoded(X, tokenizer, max_length)
        return predict_scores(module, encoded, problem=problem, batch_size=batch_size)

    return predict


def embed_texts(
    module: nn.Module,
    texts: np.ndarray,
    *,
    tokenizer: Any = None,
    max_length: int = 128,
    batch_size: int = 64,
) -> np.ndarray:
    """float32 (n, D) forward outputs of an embedding model on strings or encoded rows."""
    check_scalar(batch_size, "batch_size", owner="embed_texts", ge=1, integer=True)
    encoded = _encoded(texts, tokenizer, max_length)
    was_training = module.training
    module.eval()
    parts = []
    try:
        with torch.inference_mode():
            for start in range(0, len(encoded), batch_size):
                xb = torch.from_numpy(np.ascontiguousarray(encoded[start : start + batch_size]))
                parts.append(as_logits(module(xb)).float().cpu().numpy())
    finally:
        module.train(was_training)
    return np.concatenate(parts).astype(np.float32)
