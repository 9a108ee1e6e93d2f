"""Dynamic INT8 of a causal language model on CPU: the waterfall step after a trained student.

:func:`quantize_llm_int8` copies the model and replaces every ``nn.Linear`` (attention and
MLP projections, and the output head) by PyTorch's dynamically quantized linear layer:
weights stored as INT8 (per-tensor scale), activations quantized per call, accumulation in
int32 (the FBGEMM kernels on x86, QNNPACK on ARM). Embeddings and norms stay float32. The
copy is then checked the way :func:`~potstill.costs.llm_tokens.measure_tokens` uses it: a
prefill pass and one decode step that feeds the KV cache back. A model that does not
quantise or whose quantized copy does not generate is not dropped silently: the step comes
back with ``model=None`` and ``info["reason"]`` saying why.

``torch.ao.quantization.quantize_dynamic`` is deprecated in recent PyTorch releases (its
successor is torchao); its deprecation warnings are silenced for the call only, and the
method is named in ``info`` so a record says what made the INT8 model.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from potstill.costs.llm_tokens import weights_of
from potstill.models.llm import lm_config

__all__ = ["Int8Step", "quantize_llm_int8", "token_waterfall"]

METHOD = "torch.ao.quantization.quantize_dynamic (nn.Linear, qint8)"


@dataclass(frozen=True)
class Int8Step:
    """The INT8 copy (None when it could not be made) and what was done or why not."""

    model: nn.Module | None
    info: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.model is not None


def _refused(info: dict[str, Any], reason: str) -> Int8Step:
    return Int8Step(None, {**info, "quantized": False, "reason": reason})


def _quantize(model: nn.Module) -> nn.Module:
    from torch.ao.quantization import quantize_dynamic  # deprecated module: imported on use

    with warnings.catch_warnings():
        # quantize_dynamic and the quantized tensors it makes warn that they are deprecated
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=UserWarning, message=r".*deprecated")
        return quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)


def _check_generates(model: nn.Module) -> None:
    """A prefill pass and one decode step through the KV cache, as measure_tokens runs."""
    vocab = int(lm_config(model).vocab_size)
    ids = torch.arange(min(4, vocab)).unsqueeze(0)
    with torch.inference_mode():
        out = model(input_ids=ids, use_cache=True)
        token = out.logits[:, -1:].argmax(-1)
        out = model(input_ids=token, cache=out.cache, use_cache=True)
    if out.logits.shape[-1] != vocab or not bool(torch.isfinite(out.logits).all()):
        raise ValueError(f"decode logits of shape {tuple(out.logits.shape)} are not finite")


def quantize_llm_int8(model: nn.Module) -> Int8Step:
    """A dynamic-INT8 copy of ``model`` (the original is left as it is), checked to generate
    with its KV cache; or ``model=None`` with the reason it could not be made."""
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    before = weights_of(model)
    info: dict[str, Any] = {
        "method": METHOD,
        "engine": torch.backends.quantized.engine,
        "linear_layers": linears,
        "weights_bytes_fp32": before[1],
    }
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    if device.type != "cpu":
        return _refused(info, f"dynamic INT8 runs on CPU only; the model is on {device}.")
    if linears == 0:
        return _refused(info, f"{type(model).__name__} has no nn.Linear layer to quantize.")
    try:
        quantized = _quantize(copy.deepcopy(model).eval())
        _check_generates(quantized)
    except Exception as exc:  # any backend failure is recorded as the reason, not raised
        return _refused(info, f"{type(exc).__name__}: {exc}")
    left = sum(isinstance(m, nn.Linear) for m in quantized.modules())
    if left:
        return _refused(info, f"{left} of {linears} nn.Linear layers were left unquantized.")
    return Int8Step(
        quantized, {**info, "quantized": True, "weights_bytes": weights_of(quantized)[1]}
    )


_FIELDS = ("params", "weights_bytes", "prefill_tokens_per_s", "decode_tokens_per_s",
           "output_tokens_per_s", "usd_per_million_tokens")  # fmt: skip


def _step(label: str, change: str | None, row: dict[str, Any], teacher: dict[str, Any],
          quality: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    return {
        "step": label,
        "change": change,
        "model": row["name"],
        **{k: row[k] for k in _FIELDS if k in row},
        "decode_cost_vs_teacher": teacher["decode_tokens_per_s"] / row["decode_tokens_per_s"],
        **quality.get(row["name"], {}),
    }


def token_waterfall(
    teacher: dict[str, Any],
    student: dict[str, Any],
    int8: Int8Step,
    int8_row: dict[str, Any] | None,
    quality: dict[str, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Teacher → student (distillation) → student INT8 (quantization), one step each.

    ``teacher``, ``student`` and ``int8_row`` are rows of one
    :func:`~potstill.costs.llm_tokens.measure_tokens` session (with
    ``usd_per_million_tokens`` added); ``quality`` maps a row's name to what was measured of
    its outputs (agreement with the teacher). An INT8 copy that could not be made, or was
    not timed, is a step with ``measured: False`` and the reason."""
    quality = quality or {}
    steps = [
        _step("teacher", None, teacher, teacher, quality),
        _step("student", "distillation", student, teacher, quality),
    ]
    if int8.ok and int8_row is not None:
        last = _step("student INT8", "quantization", int8_row, teacher, quality)
        steps.append({**last, "measured": True, "quantization": int8.info})
    else:
        reason = int8.info.get("reason") or "the INT8 copy was made but not timed"
        steps.append({"step": "student INT8", "change": "quantization", "model": None,
                      "measured": False, "reason": reason, "quantization": int8.info})  # fmt: skip
    return steps
