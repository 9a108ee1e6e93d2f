"""The LLM → smaller-LLM loop on tiny random Llama models built here (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from potstill.errors import ConfigError, DataError, ModelError
from potstill.methods import functional as PF
from potstill.train.llm import LLMDistillConfig, distill_causal_lm
from potstill.train.llm_cache import LMTeacherCache
from potstill.train.llm_generate import TokenBatch, generate, model_logits

transformers = pytest.importorskip("transformers")

VOCAB = 64


@pytest.fixture(autouse=True)
def one_thread():
    """The models here are tiny: one thread is fastest, an OpenMP pool on shared cores is not."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def llama(layers: int, seed: int, vocab: int = VOCAB, init: float = 0.02):
    config = transformers.LlamaConfig(
        vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
        initializer_range=init, eos_token_id=None, bos_token_id=None, pad_token_id=0,
    )  # fmt: skip
    torch.manual_seed(seed)
    return transformers.LlamaForCausalLM(config).eval()


def teacher():
    return llama(2, seed=1, init=0.3)  # peaked next-token distributions, far from the student's


def batch(rows: int, length: int, seed: int, pad_left: bool) -> TokenBatch:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, VOCAB, (rows, length), generator=g)
    mask = torch.ones(rows, length, dtype=torch.long)
    for r in range(0, rows, 3):  # every third row is two tokens shorter
        pad = slice(0, 2) if pad_left else slice(length - 2, length)
        ids[r, pad], mask[r, pad] = 0, 0
    return TokenBatch(ids, mask)


CORPUS = batch(12, 10, seed=2, pad_left=False)
PROMPTS = batch(12, 4, seed=3, pad_left=True)


def divergence_on_training_data(student, teach, mode: str) -> float:
    """The full-vocabulary loss each mode minimises, on its own training sequences."""
    if mode == "token":
        seqs, mask = CORPUS, CORPUS.attention_mask
    else:
        targets = LMTeacherCache().greedy(teach, PROMPTS, 6)
        seqs, mask = targets.tokens, targets.loss_mask()
    with torch.no_grad():
        s_logits, t_logits = model_logits(student, seqs), model_logits(teach, seqs)
    if mode == "sequence":  # cross-entropy on the teacher's greedy tokens
        nll = torch.nn.functional.cross_entropy(
            s_logits[:, :-1].transpose(1, 2), seqs.input_ids[:, 1:], reduction="none"
        )
        return float((nll * mask[:, :-1]).sum() / mask.sum())
    return float(PF.forward_kl_loss(s_logits, t_logits, mask))


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "token", "divergence": "forward_kl", "top_k": 8},
        {"mode": "token", "divergence": "reverse_kl", "top_k": None},
        {"mode": "token", "divergence": "jsd", "beta": 0.5, "temperature": 2.0},
        {"mode": "sequence"},
        {"mode": "on_policy", "divergence": "jsd", "beta": 0.5, "on_policy_fraction": 0.5},
    ],
    ids=lambda s: "-".join(str(v) for v in s.values()),
)
def test_each_mode_brings_the_student_closer_to_the_teacher(settings: dict) -> None:
    teach, student = teacher(), llama(1, seed=5)
    before = divergence_on_training_data(student, teach, settings["mode"])
    config = LLMDistillConfig(steps=25, batch_size=4, lr=1e-2, max_new_tokens=6, **settings)
    result = distill_causal_lm(teach, student, config, corpus=CORPUS, prompts=PROMPTS)
    assert len(result.losses) == 25 and all(torch.isfinite(torch.tensor(result.losses)))
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    after = divergence_on_training_data(student, teach, settings["mode"])
    assert last < first, result.losses
    assert after < 0.8 * before
    if settings["mode"] == "on_policy":
        assert 0 < result.on_policy_steps < 25  # λ = 0.5 mixes both kinds of step


def test_runs_are_deterministic() -> None:
    config = LLMDistillConfig(mode="on_policy", steps=4, batch_size=4, max_new_tokens=4)
    runs = [
        distill_causal_lm(teacher(), llama(1, seed=5), config, prompts=PROMPTS).losses
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_teacher_cache_hits_on_rerun_from_disk(tmp_path: Path) -> None:
    config = LLMDistillConfig(mode="on_policy", steps=3, batch_size=4, max_new_tokens=4)
    first = distill_causal_lm(
        teacher(), llama(1, seed=5), config, prompts=PROMPTS, cache=LMTeacherCache(tmp_path)
    )
    assert (first.cache_hits, first.cache_misses) == (0, 2)  # greedy targets + their top-k
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["greedy", "topk"]
    again = distill_causal_lm(  # a new process: a fresh cache object on the same folder
        teacher(), llama(1, seed=5), config, prompts=PROMPTS, cache=LMTeacherCache(tmp_path)
    )
    assert (again.cache_hits, again.cache_misses) == (2, 0)
    assert again.losses == first.losses
    other = teacher()
    with torch.no_grad():
        other.lm_head.weight.mul_(1.01)  # other weights: a different key, computed anew
    third = distill_causal_lm(
        other, llama(1, seed=5), config, prompts=PROMPTS, cache=LMTeacherCache(tmp_path)
    )
    assert third.cache_misses == 2


def test_cached_topk_is_the_teacher_top_k(tmp_path: Path) -> None:
    teach = teacher()
    indices, log_probs = LMTeacherCache(tmp_path).topk(teach, CORPUS, k=5, temperature=2.0)
    reloaded = LMTeacherCache(tmp_path).topk(teach, CORPUS, k=5, temperature=2.0)
    with torch.no_grad():
        ref = torch.log_softmax(model_logits(teach, CORPUS) / 2.0, dim=-1).topk(5, dim=-1)
    assert torch.equal(indices, ref.indices) and torch.allclose(log_probs, ref.values)
    assert torch.equal(reloaded[0], indices) and torch.equal(reloaded[1], log_probs)


def test_vocabulary_mismatch_is_refused() -> None:
    config = LLMDistillConfig(steps=1)
    with pytest.raises(ModelError, match=r"teacher's vocabulary \(64 tokens.*student's \(48\)"):
        distill_causal_lm(teacher(), llama(1, seed=5, vocab=48), config, corpus=CORPUS)
    with pytest.raises(ModelError, match="must be a Hugging Face causal language model"):
        distill_causal_lm(teacher(), torch.nn.Linear(2, 2), config, corpus=CORPUS)


def test_missing_data_and_bad_batches_are_refused() -> None:
    with pytest.raises(ConfigError, match="'sequence' mode of LLM distillation needs 'prompts'"):
        distill_causal_lm(teacher(), llama(1, 5), LLMDistillConfig(mode="sequence"), corpus=CORPUS)
    with pytest.raises(DataError, match="same \\(rows, tokens\\) shape"):
        TokenBatch(torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 4))


def test_generation_cache_padding_and_end_of_sequence() -> None:
    teach = teacher()
    fast = generate(teach, PROMPTS, 5)
    slow = generate(teach, PROMPTS, 5, use_cache=False)
    assert torch.equal(fast.tokens.input_ids, slow.tokens.input_ids)
    alone = generate(teach, PROMPTS.rows(torch.tensor([0])), 5)  # row 0 is left-padded
    unpadded = TokenBatch(PROMPTS.input_ids[:1, 2:], PROMPTS.attention_mask[:1, 2:])
    assert torch.equal(
        alone.tokens.input_ids[0, 2:], generate(teach, unpadded, 5).tokens.input_ids[0]
    )
    stop = int(fast.tokens.input_ids[0, 4])  # row 0's first generated token as end-of-sequence
    ended = generate(teach, PROMPTS, 5, eos_token_ids=[stop], pad_token_id=0)
    assert ended.completion_mask[0].tolist() == [0, 0, 0, 0, 1, 0, 0, 0, 0]
    assert (
        ended.tokens.attention_mask[0, 5:].sum() == 0 and ended.tokens.input_ids[0, 5:].sum() == 0
    )
    sampled = [
        generate(teach, PROMPTS, 5, temperature=1.0, generator=torch.Generator().manual_seed(s))
        for s in (0, 0, 1)
    ]
    assert torch.equal(sampled[0].tokens.input_ids, sampled[1].tokens.input_ids)
    assert not torch.equal(sampled[0].tokens.input_ids, sampled[2].tokens.input_ids)


@pytest.mark.parametrize(("fraction", "sampled", "misses"), [(0.0, 0, 2), (1.0, 3, 0)])
def test_on_policy_fraction_ends(fraction: float, sampled: int, misses: int) -> None:
    # λ = 0: supervised KD on the teacher's cached outputs; λ = 1: only student samples
    config = LLMDistillConfig(
        mode="on_policy", on_policy_fraction=fraction, steps=3, batch_size=4, max_new_tokens=3
    )
    result = distill_causal_lm(teacher(), llama(1, seed=5), config, prompts=PROMPTS)
    assert (result.on_policy_steps, result.cache_misses) == (sampled, misses)


@pytest.mark.parametrize("top_k", [None, 8])
def test_a_bfloat16_teacher_distils_into_a_float32_student(
    top_k: int | None, tmp_path: Path
) -> None:
    config = LLMDistillConfig(steps=2, batch_size=4, top_k=top_k)
    cache = LMTeacherCache(tmp_path)  # the content hash reads bfloat16 weights
    result = distill_causal_lm(
        teacher().to(torch.bfloat16), llama(1, seed=5), config, corpus=CORPUS, cache=cache
    )
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert result.cache_misses == (0 if top_k is None else 1)
