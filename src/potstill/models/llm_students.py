"""Smaller language models made from a teacher LLM: fewer layers, or narrower.

* :func:`drop_layers` keeps every ``k``-th decoder layer (the last one always), with the
  teacher's embeddings, final norm and output head: the same interface, fewer layers.
* :func:`narrower` scales the width (attention heads, hidden size, MLP width) by a factor
  and starts from the leading slice of every teacher tensor.

Both return a fresh transformers model (``save_pretrained`` works, tokenizer unchanged).
They handle the decoder-only layouts whose layers live at ``model.layers.N`` (Llama,
Mistral, Qwen2, SmolLM, ...).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from potstill._validation import check_scalar
from potstill.errors import ConfigError, ModelError
from potstill.models.llm import _transformers, lm_config

__all__ = ["drop_layers", "kept_layers", "narrower"]

_LAYER = re.compile(r"^model\.layers\.(\d+)\.")


def _config_copy(model: nn.Module, **changes: Any) -> Any:
    config = lm_config(model)
    new = config.__class__.from_dict({**config.to_dict(), **changes})
    if hasattr(new, "quantization_config"):
        del new.quantization_config
    return new


def kept_layers(n_layers: int, keep_every: int) -> list[int]:
    """Indices of the layers kept: every ``keep_every``-th counting from the last."""
    check_scalar(keep_every, "keep_every", owner="drop_layers", ge=1, integer=True)
    if keep_every > n_layers:
        raise ConfigError(
            f"The 'keep_every' parameter of drop_layers must be <= the teacher's {n_layers} "
            f"layers. Got {keep_every} instead."
        )
    return sorted(range(n_layers - 1, -1, -keep_every))


def drop_layers(model: nn.Module, keep_every: int) -> nn.Module:
    """A copy of ``model`` with every ``keep_every``-th decoder layer (the last included)."""
    n = int(lm_config(model).num_hidden_layers)
    keep = kept_layers(n, keep_every)
    changes: dict[str, Any] = {"num_hidden_layers": len(keep)}
    layer_types = getattr(lm_config(model), "layer_types", None)
    if layer_types:
        changes["layer_types"] = [layer_types[i] for i in keep]
    student = _transformers().AutoModelForCausalLM.from_config(_config_copy(model, **changes))
    new_index = {old: new for new, old in enumerate(keep)}
    state: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        match = _LAYER.match(name)
        if match is None:
            state[name] = tensor
        elif int(match.group(1)) in new_index:
            state[_LAYER.sub(f"model.layers.{new_index[int(match.group(1))]}.", name)] = tensor
    _load(student, state)
    return student.eval()


def narrower(model: nn.Module, width: float) -> nn.Module:
    """A copy of ``model`` with ``width`` × its attention heads (key/value heads kept in
    the same ratio), hidden size and MLP width, initialised from the teacher's leading
    slices."""
    check_scalar(width, "width", owner="narrower", gt=0.0, le=1.0)
    config = lm_config(model)
    heads, kv = int(config.num_attention_heads), int(config.num_key_value_heads or 1)
    group = heads // kv
    new_kv = max(1, round(kv * width))
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    changes = {
        "num_attention_heads": new_kv * group,
        "num_key_value_heads": new_kv,
        "head_dim": head_dim,
        "hidden_size": new_kv * group * head_dim,
        "intermediate_size": max(1, round(int(config.intermediate_size) * width)),
    }
    student = _transformers().AutoModelForCausalLM.from_config(_config_copy(model, **changes))
    source = model.state_dict()
    state = {}
    for name, target in student.state_dict().items():
        if name not in source:
            continue
        state[name] = source[name][tuple(slice(0, s) for s in target.shape)].clone()
    _load(student, state)
    return student.eval()


def _load(student: nn.Module, state: dict[str, torch.Tensor]) -> None:
    missing, unexpected = student.load_state_dict(state, strict=False)
    tied = (
        {"lm_head.weight"} if getattr(lm_config(student), "tie_word_embeddings", False) else set()
    )
    if unexpected or set(missing) - tied:
        raise ModelError(
            f"The student {type(student).__name__} does not take the teacher's weights: "
            f"missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}. Only "
            "decoder-only models with layers at model.layers.N are supported."
        )
    if tied:
        student.tie_weights()  # type: ignore[operator]
