"""potstill.data — real data in, :class:`~potstill.types.Task` out.

Doors: :func:`load_table` for a user's CSV/Parquet file, :func:`load_image_folder` /
:func:`load_image_arrays` for a user's images (a folder per class, an .npz), and
:func:`load_builtin` for the built-in fleet (datasets carried by installed packages, listed by
:func:`list_builtin`). All split with a seed; tables are encoded with a
:class:`TabularEncoder` fitted on the train split only, images kept as (N, C, H, W) and
brought to a teacher's input shape by :func:`conform_inputs`. Text tasks are tokenised once with the teacher's tokenizer
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
from potstill.data.images_user import image_problem, load_image_arrays, load_image_folder
from potstill.data.layout import conform_inputs
from potstill.data.table import infer_problem, load_table
from potstill.data.tabular import TabularEncoder, build_task, split_indices
from potstill.data.text import encode_task, encode_texts, is_encoded

__all__ = [
    "BuiltinSpec",
    "TabularEncoder",
    "build_task",
    "builtin_spec",
    "conform_inputs",
    "encode_task",
    "encode_texts",
    "image_problem",
    "infer_problem",
    "is_encoded",
    "list_builtin",
    "load_builtin",
    "load_image_arrays",
    "load_image_folder",
    "load_table",
    "load_text_corpus",
    "read_idx",
    "register_dataset",
    "split_indices",
]
