"""Training settings shared by teacher fine-tuning, from-scratch baselines and distillation.

One config for all three keeps the comparison fair: a distilled student and its
from-scratch twin see the same optimiser, schedule, epochs and early-stopping rule.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TrainConfig"]


class TrainConfig(BaseModel):
    """How a student (or a built-in teacher) is trained."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(
        40, ge=1, le=10_000, description="Maximum number of passes over the training split."
    )
    batch_size: int = Field(
        128, ge=2, le=65_536, description="Mini-batch size (>= 2: relation losses need pairs)."
    )
    lr: float = Field(2e-3, gt=0, le=10, description="AdamW learning rate.")
    weight_decay: float = Field(1e-4, ge=0, le=1, description="AdamW weight decay.")
    patience: int = Field(
        8,
        ge=1,
        description="Early stopping: epochs without a better validation metric before stopping.",
    )
    label_weight: float = Field(
        1.0,
        ge=0,
        description="Weight of the label loss (cross-entropy / MSE) beside the distillation terms.",
    )
    grad_clip: float | None = Field(
        5.0, gt=0, description="Clip the gradient norm to this value; null disables."
    )
    augment: bool = Field(
        False,
        description="Random input augmentation (images: random shifts and flips; tabular: small Gaussian jitter). "
        "Augmented inputs change every epoch, so the teacher-output cache is bypassed.",
    )
    teacher_cache: bool = Field(
        True,
        description="Compute the teacher's outputs once and reuse them (offline KD); false calls the "
        "teacher on every batch (only useful to measure what the cache saves).",
    )
    threads: int = Field(
        1,
        ge=1,
        le=512,
        description="torch intra-op threads for training. 1 by default: small models gain little "
        "from more, and an oversubscribed OpenMP pool (other jobs on the cores) runs 10x slower.",
    )
    nproc: int = Field(
        1,
        ge=1,
        le=512,
        description="Processes for data-parallel training (DDP, gloo backend, on CPU, started by "
        "torchrun): each trains on its share of every batch of batch_size rows and the gradients "
        "are averaged, so the run matches one process on the same batches. At most this "
        "machine's CPU cores; 1 trains in this process.",
    )
    cache_in_memory_mb: float = Field(
        512.0,
        ge=0,
        description="Teacher outputs larger than this are memory-mapped on disk instead of held in RAM.",
    )
