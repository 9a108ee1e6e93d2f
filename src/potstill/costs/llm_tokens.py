"""Per-token cost of causal language models: prefill, decode, TTFT, ITL, KV cache, $/M tokens.

:func:`measure_tokens` times greedy generation of a fixed number of new tokens (the
end-of-sequence token is ignored, as serving benchmarks do, so every generation costs the
same work) from each prompt, with the KV cache on, one prompt at a time (batch 1,
single stream). Teacher and students take turns, one generation each per round, until
each meets both stopping rules (generations and seconds, :class:`StopRule`), as the
harness interleaves its lanes. Per model it reports

* prefill throughput (prompt tokens per second of prefill forward passes),
* decode throughput (new tokens per second of one-token forward passes after the first),
* time to first token (prefill + the first token) and inter-token latency percentiles,
  with the harness's reliability marks (a p99 from fewer than 662 gaps is marked),
* output throughput (new tokens per second of whole generations) and the $ per million
  output tokens it gives on each catalog instance,
* the KV cache it holds (bytes counted from the cache's tensors, per token and at the
  longest sequence) and its peak memory: on CUDA the allocator's peak; on CPU the bytes
  of its weights plus its largest KV cache (counted tensors, not the process RSS).

:func:`time_requests` times plain per-request callables (an LLM → classifier teacher's
scoring call against its student's prediction) the same interleaved way, for $ per
million requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill.costs.prices import PriceEntry
from potstill.costs.stats import StopRule, latency_stats
from potstill.costs.timing import Lane, cpu_timer, run_interleaved
from potstill.errors import BenchError

__all__ = ["TokenLane", "measure_tokens", "priced", "time_requests", "weights_of"]


@dataclass
class TokenLane:
    """One language model in the rotation and what its generations measured."""

    name: str
    model: nn.Module
    prefill_s: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    itl_ms: list[float] = field(default_factory=list)
    generation_s: list[float] = field(default_factory=list)
    kv_bytes_max: int = 0
    kv_bytes_per_token: float = 0.0
    cuda_peak: int = 0
    stop_reason: str | None = None

    @property
    def seconds(self) -> float:
        return float(sum(self.generation_s))


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _kv_bytes(cache: Any) -> int:
    layers = getattr(cache, "layers", None)
    if layers is None:
        raise BenchError(
            f"The model's KV cache ({type(cache).__name__}) does not expose its layers; "
            "per-token costs need a transformers 5 Cache."
        )
    total = 0
    for layer in layers:
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


def _generate(lane: TokenLane, ids: torch.Tensor, new_tokens: int) -> None:
    """One timed greedy generation of ``new_tokens`` tokens from ``ids`` (1, L)."""
    device = ids.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode():
        start = _clock(device)
        out = lane.model(input_ids=ids, use_cache=True)
        token = out.logits[:, -1:].argmax(-1)
        first = _clock(device)
        cache, steps = out.cache, []
        for _ in range(new_tokens - 1):
            before = _clock(device)
            out = lane.model(input_ids=token, cache=cache, use_cache=True)
            token = out.logits[:, -1:].argmax(-1)
            steps.append(_clock(device) - before)
            cache = out.cache
    lane.prefill_s.append(first - start)
    lane.prompt_tokens.append(int(ids.shape[1]))
    lane.ttft_ms.append((first - start) * 1e3)
    lane.itl_ms.extend(s * 1e3 for s in steps)
    lane.generation_s.append(first - start + sum(steps))
    kv = _kv_bytes(cache)
    lane.kv_bytes_max = max(lane.kv_bytes_max, kv)
    lane.kv_bytes_per_token = kv / max(1, int(cache.get_seq_length()))
    if device.type == "cuda":
        lane.cuda_peak = max(lane.cuda_peak, torch.cuda.max_memory_allocated(device))


def measure_tokens(
    models: Sequence[tuple[str, nn.Module]],
    prompts: Sequence[torch.Tensor],
    *,
    new_tokens: int,
    rule: StopRule,
    warmup: int = 1,
) -> list[dict[str, Any]]:
    """Per-token costs of each ``(name, model)`` on ``prompts`` (token ids, (1, L) each,
    on the models' device), generations interleaved round-robin until each meets ``rule``."""
    if new_tokens < 2:
        raise BenchError(
            f"measure_tokens needs new_tokens >= 2 to time decoding. Got {new_tokens}."
        )
    if not prompts or not models:
        raise BenchError("measure_tokens needs at least one model and one prompt.")
    lanes = [TokenLane(name, model.eval()) for name, model in models]
    for lane in lanes:
        for _ in range(warmup):
            _generate(TokenLane(lane.name, lane.model), prompts[0], new_tokens)
    active, turn = list(lanes), 0
    while active:
        ids = prompts[turn % len(prompts)]
        turn += 1
        for lane in list(active):
            _generate(lane, ids, new_tokens)
            lane.stop_reason = rule.reason(len(lane.generation_s), lane.seconds)
            if lane.stop_reason is not None:
                active.remove(lane)
    return [_summary(lane, new_tokens, prompts[0].device) for lane in lanes]


def weights_of(model: nn.Module) -> tuple[int, int]:
    """(weights, bytes) of ``model``: its parameters, each counted once (tied ones too), plus
    the packed INT8 weights and biases of dynamically quantized linear layers, which are
    not parameters."""
    tensors = list(model.parameters())
    for module in model.modules():
        weight, bias = getattr(module, "weight", None), getattr(module, "bias", None)
        if getattr(module, "_packed_params", None) is not None and callable(weight):
            tensors += [t for t in (weight(), bias() if callable(bias) else None) if t is not None]
    return sum(t.numel() for t in tensors), sum(t.numel() * t.element_size() for t in tensors)


def _summary(lane: TokenLane, new_tokens: int, device: torch.device) -> dict[str, Any]:
    n = len(lane.generation_s)
    params, weights = weights_of(lane.model)
    config = lane.model.config
    return {
        "name": lane.name,
        "params": params,
        "layers": getattr(config, "num_hidden_layers", None),
        "hidden_size": getattr(config, "hidden_size", None),
        "generations": n,
        "new_tokens": new_tokens,
        "prompt_tokens_mean": float(np.mean(lane.prompt_tokens)),
        "prefill_tokens_per_s": sum(lane.prompt_tokens) / sum(lane.prefill_s),
        "decode_tokens_per_s": len(lane.itl_ms) / (sum(lane.itl_ms) / 1e3),
        "output_tokens_per_s": n * new_tokens / lane.seconds,
        "ttft_ms": asdict(latency_stats(np.asarray(lane.ttft_ms))),
        "itl_ms": asdict(latency_stats(np.asarray(lane.itl_ms))),
        "kv_cache_bytes_max": lane.kv_bytes_max,
        "kv_cache_bytes_per_token": lane.kv_bytes_per_token,
        "weights_bytes": weights,
        "peak_memory_bytes": lane.cuda_peak
        if device.type == "cuda"
        else weights + lane.kv_bytes_max,
        "peak_memory_method": "torch.cuda.max_memory_allocated"
        if device.type == "cuda"
        else "weights + largest KV cache (counted tensors)",
        "stop_reason": lane.stop_reason,
        "timed_seconds": lane.seconds,
    }


def priced(rate_per_s: float, entries: Sequence[PriceEntry], what: str) -> dict[str, float]:
    """$ per million units (tokens, requests) at ``rate_per_s`` units per second, one
    instance each; refused for a rate that is not positive."""
    if not rate_per_s > 0:
        raise BenchError(
            f"A cost per million {what} needs a positive measured rate. Got {rate_per_s!r}."
        )
    return {e.id: e.usd_per_hour / (3600.0 * rate_per_s) * 1e6 for e in entries}


def time_requests(
    calls: Sequence[tuple[str, Callable[[np.ndarray], Any], np.ndarray]],
    rule: StopRule,
    *,
    block_calls: int = 5,
    warmup: int = 2,
) -> dict[str, dict[str, Any]]:
    """Single-stream latency of per-request callables ``(name, fn, one request)``,
    interleaved in blocks like the harness; requests per second is 1 / mean latency."""
    lanes = [Lane(name, fn, x) for name, fn, x in calls]
    for lane in lanes:
        for _ in range(warmup):
            lane.predict(lane.x)
    schedule = run_interleaved(lanes, rule, block_calls, cpu_timer)
    out = {}
    for lane in lanes:
        stats = latency_stats(lane.samples_ms())
        out[lane.label] = {
            "latency_ms": asdict(stats),
            "requests_per_s": 1e3 / stats.mean_ms,
            "stop_reason": schedule["stop_reason"][lane.label],
        }
    return out
