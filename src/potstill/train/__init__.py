"""Training: one loop for teachers, from-scratch baselines and distillation.

Seeded and deterministic on CPU, early stopping on the validation metric, atomic
per-epoch checkpoints (exact resume), and a teacher-output cache so the most expensive
model in the loop runs once per dataset. Causal language models are distilled into smaller
ones by :func:`distill_causal_lm` (token-level, sequence-level and on-policy KD).
"""

from __future__ import annotations

from potstill.train.cache import CachedOutputs, TeacherOutputCache, content_hash
from potstill.train.config import TrainConfig
from potstill.train.distill import TrainResult, layer_pairs, train
from potstill.train.llm import LLMDistillConfig, LLMDistillResult, distill_causal_lm
from potstill.train.llm_cache import LMTeacherCache
from potstill.train.llm_generate import Generated, TokenBatch, generate

__all__ = [
    "CachedOutputs",
    "Generated",
    "LLMDistillConfig",
    "LLMDistillResult",
    "LMTeacherCache",
    "TeacherOutputCache",
    "TokenBatch",
    "TrainConfig",
    "TrainResult",
    "content_hash",
    "distill_causal_lm",
    "generate",
    "layer_pairs",
    "train",
]
