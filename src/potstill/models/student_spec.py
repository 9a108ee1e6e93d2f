"""How much of the teacher the student keeps: the ``student`` section of a fleet system.

The builders in :mod:`potstill.models.students` read it; ``sizes`` is read earlier, when
the fleet is expanded into one system per size (:meth:`potstill.config.FleetConfig.expanded`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["LLMStudentSpec", "StudentSpec"]


class LLMStudentSpec(BaseModel):
    """A smaller LLM made from an LLM teacher (layer-dropped or narrower) and how it trains."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keep_every: int | None = Field(
        None,
        ge=1,
        description="Keep every k-th decoder layer of the teacher, counting from the last "
        "(2 halves the layers); the embeddings, final norm and head are the teacher's.",
    )
    width: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Keep this fraction of the teacher's heads, hidden size and MLP width, "
        "initialised from the leading slice of each teacher tensor.",
    )
    steps: int = Field(20, ge=1, le=1_000_000, description="Optimiser steps of distillation.")
    batch_size: int = Field(4, ge=1, le=4096, description="Sequences per distillation step.")
    lr: float = Field(1e-4, gt=0, le=10, description="AdamW learning rate.")
    top_k: int | None = Field(
        64,
        ge=1,
        description="Teacher log-probabilities cached per position for the token losses; "
        "at most the vocabulary; null runs the teacher with the full vocabulary on every batch.",
    )
    max_new_tokens: int = Field(
        16,
        ge=1,
        le=4096,
        description="Tokens the teacher (sequence KD) or the student (on_policy) generates per "
        "training prompt.",
    )
    train_texts: int = Field(
        64,
        ge=1,
        description="Training rows whose prompts are the distillation corpus (the first ones).",
    )
    bench_new_tokens: int = Field(
        16,
        ge=2,
        le=4096,
        description="New tokens per timed generation when measuring the cost per token.",
    )
    bench_prompts: int = Field(
        4, ge=1, le=1024, description="Test prompts the timed generations cycle through."
    )
    bench_generations: int = Field(
        8,
        ge=1,
        description="Timed generations per model at least (with bench.min_seconds; "
        "bench.max_seconds caps them), teacher and students taking turns.",
    )

    summary_texts: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Test texts each model summarises (greedy) for ROUGE-L and token agreement "
        "against the teacher's summary, in quality.secondary; 0: no summary task.",
    )
    summary_prompt: str = Field(
        "Summarise this text in one sentence.\n\nText: {text}",
        description="The summary instruction, with '{text}' where the text goes (exactly once).",
    )
    summary_new_tokens: int = Field(
        32, ge=1, le=4096, description="Maximum new tokens of each greedy summary."
    )

    @field_validator("summary_prompt")
    @classmethod
    def _one_text(cls, value: str) -> str:
        if value.count("{text}") != 1:
            raise ValueError(f"must hold '{{text}}' exactly once (got {value!r})")
        return value

    @model_validator(mode="after")
    def _one_shape(self) -> LLMStudentSpec:
        if (self.keep_every is None) == (self.width is None):
            raise ValueError(
                "give exactly one of 'keep_every' (a layer-dropped student) and 'width' (a "
                f"narrower one); got keep_every={self.keep_every}, width={self.width}"
            )
        return self

    def describe(self) -> str:
        """The student's shape in words, for records and reports."""
        if self.keep_every is not None:
            return f"1 in {self.keep_every} of the teacher's layers (the last kept)"
        return f"{self.width:g} x the teacher's width"


class StudentSpec(BaseModel):
    """How much of the teacher the student keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Fraction of the teacher's width (units or channels) kept, in (0, 1].",
    )
    depth: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Fraction of the teacher's hidden layers / CNN blocks kept, in (0, 1].",
    )
    hidden: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        min_length=1,
        description="Explicit MLP hidden widths; overrides width and depth (tabular only).",
    )
    target_params: int | None = Field(
        None,
        ge=1,
        description="Parameter budget of the MLP student of a black-box, opaque or MLP "
        "teacher (then width and depth are not used). "
        "Default: width × the teacher's parameters (ONNX initialiser values; width × depth × "
        "parameters for an opaque torch teacher such as TorchScript); tree ensembles: width "
        "× (2 × split nodes + leaves), a feature and a threshold per split and a value per "
        "leaf; a teacher whose size cannot be read: width × 40,000.",
    )
    allow_larger: bool = Field(
        False,
        description="Accept a student with more parameters than its teacher (sizes as in "
        "target_params); it is refused otherwise. The record and the report then carry a "
        "warning.",
    )
    layers: int | None = Field(
        None,
        ge=1,
        description="Transformer teachers: number of layers the student keeps; overrides depth.",
    )
    init: Literal["auto", "teacher_layers", "random"] = Field(
        "auto",
        description="Transformer teachers: 'teacher_layers' copies every k-th teacher layer "
        "(DistilBERT; needs width 1), 'random' builds a narrower config (heads, hidden and "
        "intermediate size × width); 'auto' picks teacher_layers when width is 1.",
    )
    pretrained: Path | None = Field(
        None,
        description="Transformer teachers: a local Hugging Face model folder to use as the "
        "student (it must share the teacher's tokenizer); overrides width, depth and layers.",
    )
    llm: LLMStudentSpec | None = Field(
        None,
        description="LLM teachers: distil a smaller language model (fewer layers or narrower) "
        "instead of a classifier; the grid then names LLM losses (forward_kl, reverse_kl, "
        "jsd, sequence, on_policy) or scratch (the student as built, untrained).",
    )
    sizes: list[float | int] | None = Field(
        None,
        min_length=1,
        description="Capacity curve: run scratch and the grid once per size, the system named "
        "'<name>@<size>'. A size in (0, 1] is a fraction of the teacher (sets width); a whole "
        "number above 1 is a parameter target (sets target_params).",
    )

    @field_validator("sizes")
    @classmethod
    def _check_sizes(cls, value: list[float | int] | None) -> list[float | int] | None:
        if value is None:
            return None
        sizes = [_size(v) for v in value]
        dupes = sorted({str(v) for v in sizes if sizes.count(v) > 1})
        if dupes:
            raise ValueError(f"must be unique; repeated: {', '.join(dupes)}")
        return sizes

    @model_validator(mode="after")
    def _sizes_need_a_size(self) -> StudentSpec:
        if self.sizes is not None and self.pretrained is not None:
            raise ValueError(
                "sizes and pretrained are both set, but a pretrained student has one size. "
                "Remove one of them."
            )
        return self


def _size(value: float | int) -> float | int:
    """A student size: a fraction of the teacher in (0, 1] (float) or a parameter target,
    a whole number above 1 (int)."""
    if isinstance(value, bool) or not 0 < value < float("inf"):
        raise ValueError(
            "each size must be a fraction of the teacher in (0, 1] or a whole number of "
            f"parameters above 1. Got {value!r} instead."
        )
    if value <= 1:
        return float(value)
    if float(value) != int(value):
        raise ValueError(
            f"a size above 1 is a parameter target and must be a whole number. Got {value!r}; "
            "use a fraction in (0, 1] for a share of the teacher."
        )
    return int(value)
