"""The LLM teacher's outputs on a fixed corpus, computed once and kept on disk.

Off-policy LLM distillation reads the frozen teacher on the same token sequences at every
step. Like :class:`potstill.train.cache.TeacherOutputCache`, this cache computes them once,
keyed by a content hash of (teacher weights and config, inputs, settings), and keeps
them in memory — and, given a folder, on disk, so a rerun (or another student distilled
from the same teacher) loads them instead of running the teacher. Full logits would be
(tokens × vocabulary) floats — 49,152 per token for SmolLM2 — so only the top-k
log-probabilities are kept (:func:`potstill.methods.functional.topk_token_loss` uses them
exactly); the teacher's greedy generations (sequence-level KD) are cached the same way.
Each entry is published with :func:`potstill._io.atomic_folder`: a crash leaves none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from potstill._io import atomic_folder
from potstill.methods.functional import topk_log_probs
from potstill.train.cache import content_hash
from potstill.train.llm_generate import Generated, TokenBatch, generate, model_logits

__all__ = ["LMTeacherCache", "TopK"]

log = logging.getLogger(__name__)

Arrays = dict[str, np.ndarray]
TopK = tuple[Tensor, Tensor]  # (indices, log-probabilities), each (rows, tokens, k)


def _model_identity(model: nn.Module) -> tuple[str, str]:
    config = getattr(model, "config", None)
    settings = config.to_dict() if config is not None and hasattr(config, "to_dict") else {}
    settings.pop("transformers_version", None)
    return type(model).__name__, repr(sorted(settings.items()))


class LMTeacherCache:
    """A causal-LM teacher's top-k log-probabilities and greedy generations, once per content.

    ``folder`` None keeps entries in memory only. ``hits`` / ``misses`` count lookups.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = None if folder is None else Path(folder)
        self._memory: dict[str, Arrays] = {}
        self.hits = 0
        self.misses = 0

    def topk(
        self,
        teacher: nn.Module,
        batch: TokenBatch,
        k: int,
        temperature: float = 1.0,
        chunk: int = 16,
    ) -> TopK:
        """The teacher's ``k`` most likely tokens and log-probabilities at every position."""
        key = content_hash(
            "lm-topk-v1", *_model_identity(teacher), teacher,
            batch.input_ids, batch.attention_mask, k, temperature,
        )  # fmt: skip

        def compute() -> Arrays:
            parts = []
            with torch.no_grad():
                for start in range(0, len(batch), chunk):
                    rows = torch.arange(start, min(start + chunk, len(batch)))
                    logits = model_logits(teacher, batch.rows(rows)).float()
                    parts.append(topk_log_probs(logits, k, temperature))
            indices = torch.cat([p[0] for p in parts]).to(torch.int32).cpu().numpy()
            log_probs = torch.cat([p[1] for p in parts]).cpu().numpy()
            return {"indices": indices, "log_probs": log_probs}

        arrays = self._get("topk", key, compute)
        return torch.from_numpy(arrays["indices"]).long(), torch.from_numpy(arrays["log_probs"])

    def greedy(
        self,
        teacher: nn.Module,
        prompts: TokenBatch,
        max_new_tokens: int,
        eos_token_ids: Sequence[int] = (),
        pad_token_id: int = 0,
        chunk: int = 16,
    ) -> Generated:
        """The teacher's greedy continuations of ``prompts`` (Kim & Rush 2016's targets)."""
        key = content_hash(
            "lm-greedy-v1", *_model_identity(teacher), teacher, prompts.input_ids,
            prompts.attention_mask, max_new_tokens, list(eos_token_ids), pad_token_id,
        )  # fmt: skip

        def compute() -> Arrays:
            parts = []
            for start in range(0, len(prompts), chunk):
                rows = prompts.rows(torch.arange(start, min(start + chunk, len(prompts))))
                parts.append(
                    generate(teacher, rows, max_new_tokens, eos_token_ids=eos_token_ids,
                             pad_token_id=pad_token_id)
                )  # fmt: skip
            return _stack(parts, pad_token_id)

        a = self._get("greedy", key, compute)
        tokens = TokenBatch(torch.from_numpy(a["input_ids"]), torch.from_numpy(a["attention_mask"]))
        return Generated(tokens, torch.from_numpy(a["completion_mask"]))

    def _get(self, kind: str, key: str, compute: Callable[[], Arrays]) -> Arrays:
        if key in self._memory:
            self.hits += 1
            return self._memory[key]
        folder = None if self.folder is None else self.folder / f"{kind}-{key[:24]}"
        if folder is not None and folder.is_dir():
            self.hits += 1
            with np.load(folder / "arrays.npz") as data:
                arrays = {name: data[name] for name in data.files}
            log.info("LLM teacher %s: loaded from %s", kind, folder)
        else:
            self.misses += 1
            arrays = compute()
            if folder is not None:
                atomic_folder(folder, lambda tmp: _save(tmp / "arrays.npz", arrays))
                log.info("LLM teacher %s: computed and stored under %s", kind, folder)
        self._memory[key] = arrays
        return arrays


def _save(path: Path, arrays: Arrays) -> None:
    named: dict[str, Any] = dict(arrays)
    np.savez(path, **named)


def _stack(parts: list[Generated], pad_token_id: int) -> Arrays:
    """Concatenate generations whose chunks stopped at different lengths (right-padded)."""
    width = max(int(p.completion_mask.shape[1]) for p in parts)

    def padded(t: Tensor, value: int) -> Tensor:
        return torch.nn.functional.pad(t.cpu(), (0, width - t.shape[1]), value=value)

    return {
        "input_ids": torch.cat([padded(p.tokens.input_ids, pad_token_id) for p in parts]).numpy(),
        "attention_mask": torch.cat([padded(p.tokens.attention_mask, 0) for p in parts]).numpy(),
        "completion_mask": torch.cat([padded(p.completion_mask, 0) for p in parts]).numpy(),
    }
