"""Token batches, logits and generation for causal language models (teacher and student).

Works with any Hugging Face ``PreTrainedModel`` causal LM through its plain forward API,
``model(input_ids=..., attention_mask=..., position_ids=...).logits``; nothing here imports
``transformers``. Prompts may be left-padded: position ids are counted over the attention
mask, so a padded row gets the same logits as the unpadded one. Generation is seeded with
an explicit ``torch.Generator`` (never the global one), hence deterministic on CPU, and uses
the model's key/value cache when its forward accepts one (``cache`` in recent transformers
5 releases, ``past_key_values`` before), else recomputes the prefix each step. Batches are
moved to the model's device; the teacher cache keeps CPU copies.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from potstill.errors import DataError, ModelError
from potstill.evaluate.generation import completion_tokens

__all__ = [
    "Generated",
    "TokenBatch",
    "encode_prompts",
    "generate",
    "greedy_completions",
    "model_logits",
    "vocab_size",
]


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and their attention mask, both (rows, tokens); pad with mask 0."""

    input_ids: Tensor
    attention_mask: Tensor

    def __post_init__(self) -> None:
        ids, mask = self.input_ids, self.attention_mask
        if ids.ndim != 2 or ids.shape != mask.shape or ids.is_floating_point():
            raise DataError(
                "A token batch is integer input_ids and an attention_mask of the same "
                f"(rows, tokens) shape. Got input_ids {tuple(ids.shape)} ({ids.dtype}) and "
                f"attention_mask {tuple(mask.shape)}; tokenize with padding to one length."
            )

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def rows(self, index: Tensor) -> TokenBatch:
        return TokenBatch(self.input_ids[index], self.attention_mask[index])


@dataclass(frozen=True)
class Generated:
    """Prompts with their generated continuations; ``completion_mask`` marks generated tokens
    (the end-of-sequence token included, anything after it excluded)."""

    tokens: TokenBatch
    completion_mask: Tensor

    def rows(self, index: Tensor) -> Generated:
        return Generated(self.tokens.rows(index), self.completion_mask[index])

    def loss_mask(self) -> Tensor:
        """Which logits positions predict a generated token: position i predicts token i + 1."""
        mask = torch.zeros_like(self.completion_mask)
        mask[:, :-1] = self.completion_mask[:, 1:]
        return mask


def vocab_size(model: nn.Module, role: str) -> int:
    """The model's ``config.vocab_size``; a ModelError for anything that is not a HF causal LM."""
    size = getattr(getattr(model, "config", None), "vocab_size", None)
    if not isinstance(size, int):
        raise ModelError(
            f"The {role} must be a Hugging Face causal language model (a PreTrainedModel with "
            f"config.vocab_size). Got {type(model).__name__} instead."
        )
    return size


def _positions(mask: Tensor) -> Tensor:
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def model_logits(model: nn.Module, batch: TokenBatch) -> Tensor:
    """Logits (rows, tokens, vocabulary) of a causal LM on a (possibly left-padded) batch,
    moved to the model's device first."""
    device = _device(model)
    ids, mask = batch.input_ids.to(device), batch.attention_mask.to(device)
    return model(input_ids=ids, attention_mask=mask, position_ids=_positions(mask)).logits


def _cache_argument(model: nn.Module) -> str | None:
    """The forward's key/value-cache argument name, or None when it takes none."""
    params = inspect.signature(model.forward).parameters
    return next((name for name in ("cache", "past_key_values") if name in params), None)


def _next_logits(model: nn.Module, ids: Tensor, mask: Tensor, state: dict[str, Any]) -> Tensor:
    """Logits for the next token; feeds only the newest token when a cache is held."""
    name = state.get("name")
    if name is None:
        return model_logits(model, TokenBatch(ids, mask))[:, -1]
    kwargs: dict[str, Any] = {"use_cache": True}
    if name in state:
        kwargs[name] = state[name]
        ids, positions = ids[:, -1:], _positions(mask)[:, -1:]
    else:
        positions = _positions(mask)
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, **kwargs)
    cache = out.get(name) if hasattr(out, "get") else None
    if cache is None:  # the model returned no cache: recompute the prefix from now on
        state["name"] = None
    else:
        state[name] = cache
    return out.logits[:, -1]


def _pick(logits: Tensor, temperature: float | None, generator: torch.Generator | None) -> Tensor:
    if temperature is None:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate(
    model: nn.Module,
    prompts: TokenBatch,
    max_new_tokens: int,
    *,
    temperature: float | None = None,
    generator: torch.Generator | None = None,
    eos_token_ids: Sequence[int] = (),
    pad_token_id: int = 0,
    use_cache: bool = True,
) -> Generated:
    """Greedy (``temperature`` None) or sampled continuations of ``prompts``.

    A row stops at its first end-of-sequence token; later positions hold ``pad_token_id``
    with attention mask 0. The model is put in eval mode for the call and restored after.
    """
    was_training = model.training
    model.eval()
    device = _device(model)
    ids, mask = prompts.input_ids.to(device), prompts.attention_mask.long().to(device)
    done = torch.zeros(len(prompts), dtype=torch.bool, device=ids.device)
    stop = torch.tensor(list(eos_token_ids), dtype=torch.long, device=ids.device)
    state: dict[str, Any] = {"name": _cache_argument(model) if use_cache else None}
    completion = torch.zeros_like(mask)
    try:
        for _ in range(max_new_tokens):
            token = _pick(_next_logits(model, ids, mask, state), temperature, generator)
            token = torch.where(done, torch.full_like(token, pad_token_id), token)
            live = (~done).long().unsqueeze(1)
            ids = torch.cat([ids, token.unsqueeze(1)], dim=1)
            mask = torch.cat([mask, live], dim=1)
            completion = torch.cat([completion, live], dim=1)
            done |= torch.isin(token, stop)
            if bool(done.all()):
                break
    finally:
        model.train(was_training)
    return Generated(TokenBatch(ids, mask), completion)


def encode_prompts(tokenizer: Any, prompts: Sequence[str]) -> TokenBatch:
    """``prompts`` tokenised as one left-padded batch (generation appends on the right), the
    tokenizer's padding side restored afterwards."""
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    return TokenBatch(enc["input_ids"], enc["attention_mask"])


def greedy_completions(
    model: nn.Module, tokenizer: Any, prompts: TokenBatch, max_new_tokens: int, batch_size: int
) -> tuple[list[str], list[list[int]]]:
    """Greedy continuations of ``prompts``, ``batch_size`` rows at a time, each cut at its
    first end-of-sequence token: (decoded texts, token ids)."""
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    eos = {tokenizer.eos_token_id, *np.atleast_1d(config_eos if config_eos is not None else [])}
    eos = {int(e) for e in eos if e is not None}
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos, default=0)
    texts: list[str] = []
    tokens: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        rows = prompts.rows(torch.arange(start, min(start + batch_size, len(prompts))))
        out = generate(
            model, rows, max_new_tokens, eos_token_ids=sorted(eos), pad_token_id=int(pad)
        )
        done = completion_tokens(
            out.tokens.input_ids.tolist(), out.completion_mask.tolist(), sorted(eos)
        )
        tokens += done
        texts += [tokenizer.decode(t, skip_special_tokens=True) for t in done]
    return texts, tokens
