"""Transformer students of a Hugging Face teacher: fewer layers, narrower, or the user's own.

Three students, chosen by :class:`~potstill.models.students.StudentSpec`:

- **layer-dropped copy** (``init="teacher_layers"``, DistilBERT, Sanh et al. 2019): the
  teacher's configuration with ``n`` of its ``L`` blocks, initialised from the teacher —
  embeddings, head and the blocks picked by :func:`~potstill.models.hooks.uniform_layer_map`
  (every k-th block, always ending on the last; 6 → 3 keeps blocks 2, 4, 6; 6 → 2 keeps
  3 and 6). Student block i is initialised from the very teacher block the feature losses
  pair it with.
- **narrower configuration** (``init="random"``): ``n`` blocks, ``round(width × heads)``
  heads of the teacher's head size (hidden size = heads × head size), an intermediate size
  of ``round(width × intermediate)``, random initialisation, the teacher's vocabulary.
- **a local Hugging Face model** the user names (``pretrained=<folder>``): loaded offline,
  given a new head when it has none; it must share the teacher's vocabulary, because a
  text task is tokenised once, with the teacher's tokenizer.

``n = spec.layers`` or ``round(depth × L)`` (at least 1). ``init="auto"`` copies teacher
layers when ``width == 1`` and builds the narrower random model otherwise.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from potstill.errors import ConfigError, ModelError
from potstill.models.hf.io import load_pretrained, load_tokenizer, same_vocabulary
from potstill.models.hf.model import (
    HFClassifier,
    find_layer_list,
    quiet_transformers,
    transformers_module,
)
from potstill.models.hooks import scaled_count, uniform_layer_map

__all__ = ["build_hf_student", "kept_teacher_layers", "student_layer_count"]


def student_layer_count(n_teacher: int, depth: float, layers: int | None) -> int:
    """Blocks the student keeps: ``layers`` if given, else ``round(depth × n_teacher)`` ≥ 1."""
    n = layers if layers is not None else scaled_count(depth, n_teacher)
    if n > n_teacher:
        raise ConfigError(
            f"The 'layers' parameter of StudentSpec must be <= the teacher's {n_teacher} "
            f"transformer layers. Got {n} instead."
        )
    return int(n)


def kept_teacher_layers(n_teacher: int, n_student: int) -> list[int]:
    """0-based teacher blocks a layer-dropped student is initialised from (uniform map)."""
    return [j for _, j in uniform_layer_map(n_teacher, n_student)]


def _new_model(teacher: HFClassifier, config: Any) -> HFClassifier:
    tf = transformers_module()
    auto = tf.AutoModel if teacher.kind == "encoder" else tf.AutoModelForSequenceClassification
    impl = getattr(teacher.backbone.config, "_attn_implementation", None) or "sdpa"
    with quiet_transformers():
        backbone = auto.from_config(config, attn_implementation=impl)
    return HFClassifier(
        backbone,
        num_labels=teacher.num_labels,
        problem=teacher.problem,
        pooling=teacher.pooling,
        normalize=teacher.normalize,
        dropout=teacher.dropout_p,
        tokenizer=teacher.tokenizer,
        max_length=teacher.max_length,
    )


def _layer_dropped(teacher: HFClassifier, n: int) -> HFClassifier:
    config = copy.deepcopy(teacher.backbone.config)
    config.num_hidden_layers = n
    student = _new_model(teacher, config)
    prefix, _ = find_layer_list(teacher.backbone, teacher.n_layers)
    mapping = {i: j for i, j in enumerate(kept_teacher_layers(teacher.n_layers, n))}
    t_state = teacher.state_dict()
    layer_key = f"backbone.{prefix}."
    state = {}
    for key in student.state_dict():
        source = key
        if key.startswith(layer_key):
            index, rest = key[len(layer_key) :].split(".", 1)
            source = f"{layer_key}{mapping[int(index)]}.{rest}"
        state[key] = t_state[source].detach().clone()
    student.load_state_dict(state, strict=True)
    return student


def _narrow(teacher: HFClassifier, n: int, width: float) -> HFClassifier:
    config = copy.deepcopy(teacher.backbone.config)
    head_size = teacher.hidden_size // teacher.n_heads
    heads = scaled_count(width, teacher.n_heads)
    config.num_hidden_layers = n
    config.num_attention_heads = heads
    config.hidden_size = heads * head_size
    for key in ("intermediate_size", "hidden_dim"):  # BERT-like, DistilBERT
        if isinstance(getattr(config, key, None), int):
            setattr(config, key, scaled_count(width, getattr(config, key)))
            break
    return _new_model(teacher, config)


def _pretrained(teacher: HFClassifier, folder: Path) -> HFClassifier:
    student = load_pretrained(
        folder,
        num_labels=teacher.num_labels or None,
        problem=teacher.problem,
        tokenizer=teacher.tokenizer,
        max_length=teacher.max_length,
    )
    own = student.backbone.config.vocab_size
    if own != teacher.backbone.config.vocab_size:
        raise ModelError(
            f"The student model in '{folder}' has a vocabulary of {own} tokens, the teacher "
            f"{teacher.backbone.config.vocab_size}. A text task is tokenised once with the "
            "teacher's tokenizer, so the student must share it. Choose a student of the same "
            "model family (same tokenizer)."
        )

    own_tok = load_tokenizer(folder)
    both = own_tok is not None and teacher.tokenizer is not None
    if both and not same_vocabulary(own_tok, teacher.tokenizer):
        raise ModelError(
            f"The tokenizer in '{folder}' maps tokens to other ids than the teacher's. "
            "The student must share the teacher's vocabulary."
        )
    if student.out_features != teacher.out_features:
        raise ModelError(
            f"The student model in '{folder}' outputs {student.out_features} values, the "
            f"teacher {teacher.out_features}. Give a student with the teacher's labels."
        )
    return student


def build_hf_student(
    teacher: HFClassifier,
    *,
    width: float,
    depth: float,
    layers: int | None = None,
    init: str = "auto",
    pretrained: Path | None = None,
    seed: int | None = None,
) -> HFClassifier:
    """A transformer student of ``teacher`` (see the module docstring for the rules)."""
    if pretrained is not None:
        return _pretrained(teacher, Path(pretrained))
    n = student_layer_count(teacher.n_layers, depth, layers)
    mode = init if init != "auto" else ("teacher_layers" if width >= 1.0 else "random")
    if seed is not None:
        torch.manual_seed(seed)
    if mode == "teacher_layers":
        if width < 1.0:
            raise ConfigError(
                "StudentSpec(init='teacher_layers') copies teacher layers, so it keeps the "
                f"teacher's width: width must be 1. Got width={width} instead; use "
                "init='random' for a narrower student."
            )
        return _layer_dropped(teacher, n)
    if mode != "random":
        raise ConfigError(
            "The 'init' parameter of StudentSpec must be one of 'auto', 'random', "
            f"'teacher_layers'. Got {init!r} instead."
        )
    return _narrow(teacher, n, width)
