"""How many tokens a text teacher reads: asked for (``teacher.max_length``), else its own.

A Hugging Face folder records its length (:func:`~potstill.models.hf.io.default_max_length`
finds it when the folder is loaded); these helpers apply a length the user asks for, within
the model's position embeddings, and fix the built-in MiniLM recipe's length.
"""

from __future__ import annotations

from pathlib import Path

from potstill.errors import ConfigError
from potstill.models.hf.model import HFClassifier
from potstill.models.teacher import Teacher
from potstill.types import Problem

__all__ = ["MINILM_POSITIONS", "minilm_length", "with_max_length"]

#: Position embeddings of all-MiniLM-L6-v2: the longest text its recipe can take.
MINILM_POSITIONS = 512


def minilm_length(max_length: int | None) -> int:
    """Tokens the built-in MiniLM is fine-tuned and served at: 128 unless asked."""
    if max_length is None:
        return 128
    if not 8 <= max_length <= MINILM_POSITIONS:
        raise ConfigError(
            f"The 'teacher.max_length' of the built-in MiniLM teacher must be in [8, "
            f"{MINILM_POSITIONS}] (its position embeddings). Got {max_length} instead."
        )
    return max_length


def with_max_length(
    teacher: Teacher, max_length: int | None, problem: Problem, path: Path | None
) -> Teacher:
    """``teacher`` reading ``max_length`` tokens when asked; refused for a teacher that does
    not read text, or beyond its position embeddings."""
    if max_length is None:
        return teacher
    module = teacher.module
    if not isinstance(module, HFClassifier):
        raise ConfigError(
            f"teacher.max_length (--max-length) sets how a Hugging Face teacher tokenises text, "
            f"but '{path}' is a {teacher.backend} teacher. Remove it."
        )
    positions = getattr(module.backbone.config, "max_position_embeddings", None)
    if isinstance(positions, int) and max_length > positions:
        raise ConfigError(
            f"teacher.max_length (--max-length) must be <= {positions}, the position embeddings "
            f"of '{path}'. Got {max_length} instead."
        )
    return Teacher.from_pretrained(module, problem=problem, max_length=max_length,
                                   name=teacher.name)  # fmt: skip
