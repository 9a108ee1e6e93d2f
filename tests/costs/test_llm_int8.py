"""Dynamic INT8 of a student LLM as the last waterfall step, on tiny random Llamas (no timed
assertions: only that the step is made, generates, is measured and labelled, or says why not)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

import potstill.costs.llm_int8 as llm_int8  # noqa: E402
from potstill.costs.llm_int8 import quantize_llm_int8, token_waterfall  # noqa: E402
from potstill.costs.llm_tokens import measure_tokens, weights_of  # noqa: E402
from potstill.costs.stats import StopRule  # noqa: E402


def tiny_llama(layers: int) -> torch.nn.Module:
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
        tie_word_embeddings=True, pad_token_id=0,
    )  # fmt: skip
    return transformers.LlamaForCausalLM(config).eval()


def next_logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits[0, -1]


def test_int8_copy_quantizes_every_linear_and_counts_its_bytes() -> None:
    student = tiny_llama(2)
    step = quantize_llm_int8(student)
    assert step.ok and step.info["quantized"] is True
    assert step.info["linear_layers"] == 2 * 7 + 1  # q k v o gate up down per layer + head
    assert isinstance(student.lm_head, torch.nn.Linear)  # the original is left as it was
    # fp32: embedding 32x16 (tied head) + per layer 2304 linear weights + 2 norms of 16 + final norm
    assert weights_of(student) == (5200, 5200 * 4)
    # INT8: embedding and norms stay float32 (512 + 80 values), linears 1 byte each
    # (2 x 2304 + the untied head 32x16)
    assert step.info["weights_bytes"] == (512 + 80) * 4 + 2 * 2304 + 512
    a, b = next_logits(student, [1, 5, 7, 9]), next_logits(step.model, [1, 5, 7, 9])
    assert a.shape == b.shape and not torch.equal(a, b)  # really quantized ...
    assert torch.allclose(a, b, atol=0.05)  # ... and still the same model


def test_waterfall_times_the_int8_step_after_the_student() -> None:
    teacher, student = tiny_llama(4), tiny_llama(2)
    step = quantize_llm_int8(student)
    rows = measure_tokens(
        [("teacher", teacher), ("student", student), ("student-int8", step.model)],
        [torch.tensor([[1, 5, 7, 9]])], new_tokens=4, rule=StopRule(min_calls=2, min_seconds=0.0),
    )  # fmt: skip
    for row in rows:
        row["usd_per_million_tokens"] = {"c6i.large": 1.0 / row["output_tokens_per_s"]}
    int8_row = rows[2]
    assert int8_row["generations"] == 2 and int8_row["itl_ms"]["n"] == 2 * 3
    assert int8_row["weights_bytes"] == step.info["weights_bytes"]
    assert int8_row["kv_cache_bytes_max"] == rows[1]["kv_cache_bytes_max"]  # float32 cache
    quality = {"student-int8": {"agreement_with_teacher": 0.5}}
    steps = token_waterfall(rows[0], rows[1], step, int8_row, quality)
    assert [s["step"] for s in steps] == ["teacher", "student", "student INT8"]
    assert [s["change"] for s in steps] == [None, "distillation", "quantization"]
    assert steps[0]["decode_cost_vs_teacher"] == 1.0
    last = steps[2]
    assert last["measured"] is True and last["model"] == "student-int8"
    assert last["agreement_with_teacher"] == 0.5 and last["quantization"]["quantized"] is True
    assert last["decode_cost_vs_teacher"] == pytest.approx(
        rows[0]["decode_tokens_per_s"] / int8_row["decode_tokens_per_s"]
    )
    assert np.isfinite(last["usd_per_million_tokens"]["c6i.large"])


def test_a_model_that_does_not_quantize_is_a_step_with_its_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(model: torch.nn.Module) -> torch.nn.Module:
        raise RuntimeError("no quantized engine")

    monkeypatch.setattr(llm_int8, "_quantize", broken)
    step = quantize_llm_int8(tiny_llama(1))
    assert step.model is None and step.info["quantized"] is False
    assert step.info["reason"] == "RuntimeError: no quantized engine"
    rows = measure_tokens([("teacher", tiny_llama(2)), ("student", tiny_llama(1))],
                          [torch.tensor([[1, 2, 3]])], new_tokens=2, rule=StopRule(1, 0.0))  # fmt: skip
    last = token_waterfall(rows[0], rows[1], step, None)[-1]
    assert last["measured"] is False and last["model"] is None
    assert last["reason"] == "RuntimeError: no quantized engine"
    no_linear = quantize_llm_int8(torch.nn.Sequential(torch.nn.Embedding(4, 2)))
    assert no_linear.model is None and "no nn.Linear" in no_linear.info["reason"]
