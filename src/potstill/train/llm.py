"""Distil a causal language model into a smaller one: token-level, sequence-level, on-policy.

Three modes, each the loss of its paper on the data it prescribes:

* ``token`` — word-level KD (Hinton et al. 2015; Kim & Rush 2016 §3.1) on a fixed corpus: at
  every unpadded position the student matches the teacher's next-token distribution under
  ``divergence`` (forward KL, reverse KL or GKD's generalized JSD). The teacher's top-k
  log-probabilities are cached once (:class:`~potstill.train.llm_cache.LMTeacherCache`).
* ``sequence`` — sequence-level KD (Kim & Rush 2016, §3.2): the teacher's greedy
  continuations of the prompts are the targets; the student minimises cross-entropy on the
  generated tokens (the prompt is context only). Generations are cached like the top-k.
* ``on_policy`` — generalized KD (GKD, Agarwal et al. 2024, Algorithm 1): at each step, with
  probability λ (``on_policy_fraction``) the student samples continuations of the prompts and
  the teacher scores them (full vocabulary, live); otherwise the batch is the teacher's
  cached greedy continuations with its cached top-k. Both use ``divergence`` on the
  generated tokens only, and no gradient flows through the sampling (as in the paper).

Teacher and student are Hugging Face ``PreTrainedModel`` causal LMs used only through
``model(input_ids, attention_mask, position_ids).logits``; they must share one vocabulary.
The loop is seeded (batch order, λ draws and sampling use one ``torch.Generator``) and
deterministic on CPU. This module never imports ``transformers``: the caller builds the
models (``potstill[text]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from potstill.errors import ConfigError, ModelError
from potstill.methods import functional as PF
from potstill.train.llm_cache import LMTeacherCache, TopK
from potstill.train.llm_generate import Generated, TokenBatch, generate, model_logits, vocab_size

__all__ = ["LLMDistillConfig", "LLMDistillResult", "distill_causal_lm"]

StepLoss = Callable[[Tensor], Tensor]


class LLMDistillConfig(BaseModel):
    """How a causal-LM student is distilled from a causal-LM teacher."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["token", "sequence", "on_policy"] = Field(
        "token",
        description="token: match the teacher's next-token distributions on a corpus; sequence: "
        "cross-entropy on the teacher's greedy continuations (Kim & Rush 2016); on_policy: GKD "
        "(Agarwal et al. 2024), the student's own samples scored by the teacher.",
    )
    divergence: Literal["forward_kl", "reverse_kl", "jsd"] = Field(
        "forward_kl",
        description="Token-level divergence for the token and on_policy modes: KL(teacher||student), "
        "KL(student||teacher) or the generalized JSD with 'beta'.",
    )
    beta: float = Field(
        0.5, ge=0, le=1, description="β of the generalized JSD (0: forward KL, 1: reverse KL)."
    )
    temperature: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Softmax temperature of both models in the token losses (loss × T²).",
    )
    top_k: int | None = Field(
        64,
        ge=1,
        description="Cache the teacher's k most likely tokens per position for the off-policy losses; "
        "null runs the teacher on every batch with the full vocabulary.",
    )
    on_policy_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="GKD's λ: the share of on_policy steps trained on student samples.",
    )
    max_new_tokens: int = Field(
        16,
        ge=1,
        le=4096,
        description="Tokens generated per prompt (teacher targets, student samples).",
    )
    sample_temperature: float = Field(
        1.0,
        gt=0,
        le=100,
        description="Temperature of the student's sampling in the on_policy mode.",
    )
    steps: int = Field(100, ge=1, le=1_000_000, description="Optimiser steps.")
    batch_size: int = Field(8, ge=1, le=65_536, description="Sequences per step.")
    lr: float = Field(1e-4, gt=0, le=10, description="AdamW learning rate.")
    weight_decay: float = Field(0.0, ge=0, le=1, description="AdamW weight decay.")
    grad_clip: float | None = Field(
        1.0, gt=0, description="Clip the gradient norm to this value; null disables."
    )
    seed: int = Field(0, ge=0, description="Seed of the batch order, λ draws and sampling.")
    threads: int = Field(
        1,
        ge=1,
        le=512,
        description="torch intra-op threads while training (restored after); 1 avoids an "
        "oversubscribed OpenMP pool on shared cores.",
    )


@dataclass(frozen=True)
class LLMDistillResult:
    """What one distillation run did: the loss of every step, in order."""

    mode: str
    losses: tuple[float, ...]
    on_policy_steps: int
    cache_hits: int
    cache_misses: int


def _special_ids(teacher: nn.Module) -> tuple[list[int], int]:
    """The teacher's end-of-sequence ids and the pad id generation fills finished rows with."""
    config = getattr(teacher, "config", None)
    eos = getattr(config, "eos_token_id", None)
    eos_ids = [int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos]) if e is not None]
    pad = getattr(config, "pad_token_id", None)
    return eos_ids, int(pad) if pad is not None else (eos_ids[0] if eos_ids else 0)


def _check_models(teacher: nn.Module, student: nn.Module) -> None:
    v_t, v_s = vocab_size(teacher, "teacher"), vocab_size(student, "student")
    if v_t != v_s:
        raise ModelError(
            f"The teacher's vocabulary ({v_t} tokens, config.vocab_size) differs from the "
            f"student's ({v_s}). LLM distillation compares next-token distributions over one "
            "vocabulary: build the student from the teacher's config and tokenizer."
        )


def _data_for(mode: str, corpus: TokenBatch | None, prompts: TokenBatch | None) -> TokenBatch:
    name, data = ("corpus", corpus) if mode == "token" else ("prompts", prompts)
    if data is None:
        raise ConfigError(
            f"The '{mode}' mode of LLM distillation needs '{name}' (a TokenBatch). Got None."
        )
    return data


def _token_loss(
    logits: Tensor, teacher: Tensor | TopK, mask: Tensor, config: LLMDistillConfig
) -> Tensor:
    """``config.divergence`` against full teacher logits or a cached (indices, log-probs)."""
    c = config
    if isinstance(teacher, Tensor):
        teacher = teacher.to(logits.device)
        if c.divergence == "forward_kl":
            return PF.forward_kl_loss(logits, teacher, mask, c.temperature)
        if c.divergence == "reverse_kl":
            return PF.reverse_kl_loss(logits, teacher, mask, c.temperature)
        return PF.generalized_jsd_loss(logits, teacher, mask, c.beta, c.temperature)
    indices, log_probs = (t.to(logits.device) for t in teacher)  # the cache is on the CPU
    return PF.topk_token_loss(logits, indices, log_probs, mask, c.divergence, c.beta, c.temperature)


class _Distiller:
    """The per-step losses of the three modes; the data each needs is prepared once."""

    def __init__(
        self,
        teacher: nn.Module,
        student: nn.Module,
        config: LLMDistillConfig,
        cache: LMTeacherCache,
        generator: torch.Generator,
    ) -> None:
        self.teacher, self.student, self.config = teacher, student, config
        self.cache, self.generator = cache, generator
        self.eos_ids, self.pad_id = _special_ids(teacher)
        self.on_policy_steps = 0

    def _teacher_source(self, tokens: TokenBatch) -> Callable[[Tensor], Tensor | TopK]:
        """The teacher's view of rows of ``tokens``: cached top-k (computed here, once) or,
        with ``top_k`` null, its full logits run per batch."""
        k = self.config.top_k
        if k is None:

            def live(index: Tensor) -> Tensor:
                with torch.no_grad():
                    return model_logits(self.teacher, tokens.rows(index))

            return live
        indices, log_probs = self.cache.topk(self.teacher, tokens, k, self.config.temperature)
        return lambda index: (indices[index], log_probs[index])

    def token_step(self, corpus: TokenBatch) -> StepLoss:
        teacher = self._teacher_source(corpus)

        def step(index: Tensor) -> Tensor:
            batch = corpus.rows(index)
            logits = model_logits(self.student, batch)
            return _token_loss(logits, teacher(index), batch.attention_mask, self.config)

        return step

    def _greedy(self, prompts: TokenBatch) -> Generated:
        c = self.config
        return self.cache.greedy(self.teacher, prompts, c.max_new_tokens, self.eos_ids, self.pad_id)

    def sequence_step(self, prompts: TokenBatch) -> StepLoss:
        targets = self._greedy(prompts)

        def step(index: Tensor) -> Tensor:
            rows = targets.rows(index)
            logits = model_logits(self.student, rows.tokens)[:, :-1]
            nll = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]),
                rows.tokens.input_ids[:, 1:].reshape(-1).to(logits.device),
                reduction="none",
            ).reshape(logits.shape[:2])
            weights = rows.completion_mask[:, 1:].to(nll)
            return (nll * weights).sum() / weights.sum().clamp_min(1.0)

        return step

    def on_policy_step(self, prompts: TokenBatch) -> StepLoss:
        c = self.config
        fixed = self._greedy(prompts) if c.on_policy_fraction < 1 else None
        teacher_fixed = None if fixed is None else self._teacher_source(fixed.tokens)

        def step(index: Tensor) -> Tensor:
            draw = float(torch.rand((), generator=self.generator))
            if fixed is not None and teacher_fixed is not None and draw >= c.on_policy_fraction:
                logits = model_logits(self.student, fixed.tokens.rows(index))
                return _token_loss(logits, teacher_fixed(index), fixed.rows(index).loss_mask(), c)
            self.on_policy_steps += 1
            sampled = generate(
                self.student, prompts.rows(index), c.max_new_tokens,
                temperature=c.sample_temperature, generator=self.generator,
                eos_token_ids=self.eos_ids, pad_token_id=self.pad_id,
            )  # fmt: skip
            with torch.no_grad():
                teacher = model_logits(self.teacher, sampled.tokens)
            logits = model_logits(self.student, sampled.tokens)
            return _token_loss(logits, teacher, sampled.loss_mask(), c)

        return step


def _batches(n: int, batch_size: int, generator: torch.Generator) -> Callable[[], Tensor]:
    """Row indices of the next batch: seeded epochs of a shuffled order, without replacement."""
    order: list[Tensor] = []

    def next_batch() -> Tensor:
        if not order:
            perm = torch.randperm(n, generator=generator)
            order.extend(perm[i : i + batch_size] for i in range(0, n, batch_size))
            order.reverse()
        return order.pop()

    return next_batch


def distill_causal_lm(
    teacher: nn.Module,
    student: nn.Module,
    config: LLMDistillConfig,
    *,
    corpus: TokenBatch | None = None,
    prompts: TokenBatch | None = None,
    cache: LMTeacherCache | None = None,
) -> LLMDistillResult:
    """Train ``student`` in place towards ``teacher`` (frozen) for ``config.steps`` steps.

    ``corpus`` (token mode) holds full sequences; ``prompts`` (sequence and on_policy modes)
    may be left-padded. ``cache`` keeps the teacher's top-k and generations across runs
    (pass one with a folder to reuse them on disk); a fresh in-memory one by default.
    """
    _check_models(teacher, student)
    cache = cache if cache is not None else LMTeacherCache()
    hits, misses = cache.hits, cache.misses
    generator = torch.Generator().manual_seed(config.seed)
    teacher.eval()
    distiller = _Distiller(teacher, student, config, cache, generator)
    data = _data_for(config.mode, corpus, prompts)
    make = {
        "token": distiller.token_step,
        "sequence": distiller.sequence_step,
        "on_policy": distiller.on_policy_step,
    }[config.mode]
    losses = _optimise(
        student, make(data), _batches(len(data), config.batch_size, generator), config
    )
    return LLMDistillResult(
        config.mode, losses, distiller.on_policy_steps, cache.hits - hits, cache.misses - misses
    )


def _optimise(
    student: nn.Module, step: StepLoss, next_batch: Callable[[], Tensor], config: LLMDistillConfig
) -> tuple[float, ...]:
    threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        return _steps(student, step, next_batch, config)
    finally:
        torch.set_num_threads(threads)


def _steps(
    student: nn.Module, step: StepLoss, next_batch: Callable[[], Tensor], config: LLMDistillConfig
) -> tuple[float, ...]:
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    student.train()
    losses = []
    for _ in range(config.steps):
        loss = step(next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        losses.append(float(loss.detach()))
    student.eval()
    return tuple(losses)
