"""potstill.data — real data in, :class:`~potstill.types.Task` out.

Two doors: :func:`load_table` for a user's CSV/Parquet file and :func:`load_builtin` for
the built-in fleet (datasets carried by installed packages, listed by
:func:`list_builtin`). Both split with a seed and encode with a :class:`TabularEncoder`
fitted on the train split only. Text tasks are tokenised once with the teacher's tokenizer
by :func:`encode_task` (:func:`encode_texts` for raw strings).
"""

from __future__ import annotations

from potstill.data.builtin import (
    BuiltinSpec,
    builtin_spec,
    list_builtin,
    load_builtin,
    register_dataset,
)
from potstill.data.corpus import load_text_corpus
from potstill.data.image import read_idx
from potstill.data.table import infer_problem, load_table
from potstill.data.tabular import TabularEncoder, build_task, split_indices
from potstill.data.text import encode_task, encode_texts, is_encoded

__all__ = [
    "BuiltinSpec",
    "TabularEncoder",
    "build_task",
    "builtin_spec",
    "encode_task",
    "encode_texts",
    "infer_problem",
    "is_encoded",
    "list_builtin",
    "load_builtin",
    "load_table",
    "load_text_corpus",
    "read_idx",
    "register_dataset",
    "split_indices",
]
