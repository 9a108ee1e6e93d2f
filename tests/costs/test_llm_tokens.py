"""Per-token costs of causal language models on tiny random Llamas (no timed assertions:
only that every field is measured, consistent and priced)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from potstill.costs.llm_tokens import measure_tokens, priced, time_requests  # noqa: E402
from potstill.costs.prices import PriceCatalog  # noqa: E402
from potstill.costs.stats import StopRule  # noqa: E402
from potstill.errors import BenchError  # noqa: E402


def tiny_llama(layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config).eval()


def test_every_per_token_field_is_measured_and_priced() -> None:
    prompts = [torch.tensor([[1, 5, 7, 9]]), torch.tensor([[2, 3, 4, 6, 8, 10]])]
    rule = StopRule(min_calls=3, min_seconds=0.0)
    rows = measure_tokens([("teacher", tiny_llama(4)), ("student", tiny_llama(2))], prompts,
                          new_tokens=5, rule=rule)  # fmt: skip
    teacher, student = rows
    assert [r["name"] for r in rows] == ["teacher", "student"]
    for row in rows:
        assert row["generations"] == 3 and row["stop_reason"] == "both_rules_met"
        assert row["itl_ms"]["n"] == 3 * 4 and row["ttft_ms"]["n"] == 3
        assert "p99" in row["itl_ms"]["unreliable"]  # 12 gaps cannot carry a p99
        for key in ("prefill_tokens_per_s", "decode_tokens_per_s", "output_tokens_per_s"):
            assert row[key] > 0
        assert row["peak_memory_bytes"] == row["weights_bytes"] + row["kv_cache_bytes_max"]
    # K and V, per layer: 2 kv heads x head_dim 4 x float32, at the longest context: 6 prompt
    # tokens + 4 fed back (the last new token is never fed)
    assert teacher["kv_cache_bytes_max"] == 2 * 4 * 2 * 4 * 4 * 10
    assert student["kv_cache_bytes_max"] == teacher["kv_cache_bytes_max"] // 2
    assert teacher["kv_cache_bytes_per_token"] == 2 * 4 * 2 * 4 * 4  # 4 layers
    entries = PriceCatalog.load().entries[:2]
    cost = priced(teacher["output_tokens_per_s"], entries, "tokens")
    assert set(cost) == {e.id for e in entries}
    first = entries[0]
    assert cost[first.id] == pytest.approx(
        first.usd_per_hour / 3600 / teacher["output_tokens_per_s"] * 1e6
    )


def test_bad_settings_are_refused() -> None:
    with pytest.raises(BenchError, match="new_tokens >= 2"):
        measure_tokens([("m", tiny_llama(1))], [torch.tensor([[1, 2]])], new_tokens=1,
                       rule=StopRule(1, 0.0))  # fmt: skip
    with pytest.raises(BenchError, match="positive measured rate"):
        priced(0.0, PriceCatalog.load().entries[:1], "tokens")


def test_requests_are_timed_interleaved() -> None:
    x = np.zeros((1, 3))
    out = time_requests([("a", lambda v: v + 1, x), ("b", lambda v: v * 2, x)],
                        StopRule(min_calls=10, min_seconds=0.0), block_calls=5)  # fmt: skip
    assert set(out) == {"a", "b"}
    assert out["a"]["latency_ms"]["n"] == 10 and out["b"]["requests_per_s"] > 0
