"""The zoo: the built-in teachers' recipes and their cached build, above training.

``recipes`` holds :class:`TeacherSpec` and :func:`get_teacher` (a file teacher, or a
built-in recipe trained once and cached); ``text`` fine-tunes the packaged MiniLM;
``cache`` names a teacher by a content hash and builds it once, atomically.
"""

from __future__ import annotations

from potstill.zoo.cache import default_cache_dir
from potstill.zoo.recipes import ZOO_VERSION, file_teacher, get_teacher
from potstill.zoo.spec import TeacherSpec
from potstill.zoo.text import (
    TextTeacherRecipe,
    finetune_classifier,
    get_text_teacher,
    load_minilm,
    minilm_path,
)

__all__ = [
    "ZOO_VERSION",
    "TeacherSpec",
    "TextTeacherRecipe",
    "default_cache_dir",
    "file_teacher",
    "finetune_classifier",
    "get_teacher",
    "get_text_teacher",
    "load_minilm",
    "minilm_path",
]
