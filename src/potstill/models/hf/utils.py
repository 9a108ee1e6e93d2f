"""Plumbing shared by the Hugging Face modules: the optional import, quiet loading, encoded
inputs, pooling, finding the transformer blocks, and configs as JSON.

``transformers`` is an optional extra (``potstill[text]``); everything here imports it only
when called, so ``import potstill`` works without it.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from potstill.errors import ModelError, missing_dependency

__all__ = [
    "config_from_dict",
    "config_to_dict",
    "find_layer_list",
    "masked_mean",
    "quiet_transformers",
    "split_encoded",
    "transformers_module",
]


def transformers_module() -> Any:
    """``import transformers``, or a MissingDependencyError with the command that fixes it."""
    try:
        import transformers
    except ImportError:
        raise missing_dependency(
            "transformers", extra="text", purpose="Hugging Face teachers and students"
        ) from None
    return transformers


@contextlib.contextmanager
def quiet_transformers() -> Iterator[Any]:
    """Silence transformers' progress bars and info logs for one load; restored on exit."""
    tf = transformers_module()
    hf_logging = tf.utils.logging
    bars, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity(logging.ERROR)
    try:
        yield tf
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def split_encoded(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` as int64 from an encoded batch shaped (N, 2, L)."""
    if x.ndim != 3 or x.shape[1] != 2:
        raise ModelError(
            "A Hugging Face model takes encoded text shaped (N, 2, L) (input_ids and "
            f"attention_mask stacked). Got shape {tuple(x.shape)} instead; encode raw text with "
            "potstill.data.text.encode_texts."
        )
    ids = x[:, 0].round().long() if x.is_floating_point() else x[:, 0].long()
    mask = x[:, 1].round().long() if x.is_floating_point() else x[:, 1].long()
    return ids, mask


def masked_mean(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the (N, T, D) token vectors over the positions where ``mask`` is 1."""
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1e-9)


def find_layer_list(backbone: nn.Module, n_layers: int) -> tuple[str, nn.ModuleList]:
    """The ``ModuleList`` of transformer blocks (``encoder.layer`` in BERT, ``transformer.layer``
    in DistilBERT) and its qualified name inside ``backbone``."""
    for name, module in backbone.named_modules():
        last = name.split(".")[-1]
        is_blocks = isinstance(module, nn.ModuleList) and len(module) == n_layers
        if is_blocks and last in ("layer", "layers", "block", "h"):
            return name, module
    raise ModelError(
        f"Cannot find the list of {n_layers} transformer blocks inside "
        f"{type(backbone).__name__} (looked for a ModuleList named layer/layers/block/h). "
        "This architecture is not supported for layer taps or layer-dropped students."
    )


def config_to_dict(config: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(config.to_json_string(use_diff=False))
    for key in ("_name_or_path", "transformers_version", "_attn_implementation_autoset"):
        data.pop(key, None)
    return data


def config_from_dict(data: Mapping[str, Any]) -> Any:
    """A transformers config rebuilt from :func:`config_to_dict` output (no network)."""
    tf = transformers_module()
    values = dict(data)
    model_type = values.pop("model_type", None)
    if not isinstance(model_type, str):
        raise ModelError(
            "The transformers config in the HFClassifier spec has no 'model_type'. "
            "Rebuild the spec with HFClassifier.spec()."
        )
    try:
        return tf.AutoConfig.for_model(model_type, **values)
    except ValueError as exc:
        raise ModelError(f"Unknown transformers model_type {model_type!r}: {exc}") from exc
