"""potstill.models: teachers, students and the networks they are made of.

- :class:`Teacher` / :func:`load_teacher`: one adapter over torch, scikit-learn/XGBoost
  and ONNX production models; says what it exposes (logits, hidden, embedding).
- :class:`MLP`, :class:`DeepEnsemble`, :class:`MobileNetV2`, :class:`ImageClassifier`:
  the built-in architectures, each with ``hidden_layer_names()``,
  ``embedding_layer_name()`` and a JSON ``spec()``.
- :class:`StudentSpec`, :func:`build_student`, :func:`student_for_blackbox`: smaller students.
- :class:`FeatureTap`, :func:`uniform_layer_map`: hooked features and layer pairing.
- :func:`save_model` / :func:`load_model`: spec + safetensors, never pickles.
- :func:`predict_scores`, :func:`count_params`: numpy scores and sizes of torch models.
"""

from __future__ import annotations

from potstill.models.backends import (
    OnnxBackend,
    SklearnBackend,
    TeacherBackend,
    TorchBackend,
)
from potstill.models.ensemble import DeepEnsemble
from potstill.models.export import load_model, load_model_info, save_model
from potstill.models.hooks import FeatureTap, uniform_layer_map
from potstill.models.mlp import MLP
from potstill.models.mobilenet import ImageClassifier, MobileNetV2, load_imagenet_weights
from potstill.models.predict import count_params, predict_scores
from potstill.models.registry import list_architectures, register_architecture
from potstill.models.students import (
    StudentSpec,
    build_from_spec,
    build_student,
    student_for_blackbox,
)
from potstill.models.teacher import Teacher, load_teacher

__all__ = [
    "MLP",
    "DeepEnsemble",
    "FeatureTap",
    "ImageClassifier",
    "MobileNetV2",
    "OnnxBackend",
    "SklearnBackend",
    "StudentSpec",
    "Teacher",
    "TeacherBackend",
    "TorchBackend",
    "build_from_spec",
    "build_student",
    "count_params",
    "list_architectures",
    "load_imagenet_weights",
    "load_model",
    "load_model_info",
    "load_teacher",
    "predict_scores",
    "register_architecture",
    "save_model",
    "student_for_blackbox",
    "uniform_layer_map",
]
