"""Training: one loop for teachers, from-scratch baselines and distillation.

Seeded and deterministic on CPU, early stopping on the validation metric, atomic
per-epoch checkpoints (exact resume), and a teacher-output cache so the most expensive
model in the loop runs once per dataset.
"""

from __future__ import annotations

from potstill.train.cache import CachedOutputs, TeacherOutputCache, content_hash
from potstill.train.config import TrainConfig
from potstill.train.distill import TrainResult, layer_pairs, train

__all__ = [
    "CachedOutputs",
    "TeacherOutputCache",
    "TrainConfig",
    "TrainResult",
    "content_hash",
    "layer_pairs",
    "train",
]
