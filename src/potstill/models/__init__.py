"""potstill.models: teachers, students and the networks they are made of.

- :class:`Teacher` / :func:`load_teacher`: one adapter over torch, scikit-learn/XGBoost
  and ONNX production models; says what it exposes (logits, hidden, embedding).
- :class:`MLP`, :class:`DeepEnsemble`, :class:`MobileNetV2`, :class:`ImageClassifier`:
  the built-in architectures, each with ``hidden_layer_names()``,
  ``embedding_layer_name()`` and a JSON ``spec()``.
- :class:`StudentSpec`, :func:`build_student`, :func:`student_for_blackbox`,
  :func:`student_for_images` (a :class:`SmallCNN`): smaller students.
- :class:`FeatureTap`, :func:`uniform_layer_map`: hooked features and layer pairing.
- :func:`save_model` / :func:`load_model`: spec + safetensors, never pickles.
- :func:`predict_scores`, :func:`count_params`: numpy scores and sizes of torch models.
- :class:`HFClassifier` (Hugging Face transformers; needs the ``text`` extra),
  :func:`text_predictor`, :func:`embed_texts`: text models on encoded or raw text;
  :func:`load_int8_minilm`: the INT8 ONNX MiniLM reference.

Teachers trained from a recipe (MLP ensembles, XGBoost, the fine-tuned MiniLM) are
:mod:`potstill.zoo`, above training; embedding distillation is
:mod:`potstill.train.embedding`.
"""

from __future__ import annotations

from potstill.models.arch.cnn import SmallCNN
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP
from potstill.models.arch.mobilenet import ImageClassifier, MobileNetV2, load_imagenet_weights
from potstill.models.backends import (
    HFBackend,
    SklearnBackend,
    TeacherBackend,
    TorchBackend,
)
from potstill.models.export import load_model, load_model_info, save_model
from potstill.models.hf.int8 import OnnxSentenceEncoder, int8_minilm_path, load_int8_minilm
from potstill.models.hf.io import load_pretrained, save_pretrained
from potstill.models.hf.model import HFClassifier
from potstill.models.hf.students import build_hf_student
from potstill.models.hooks import FeatureTap, uniform_layer_map
from potstill.models.onnx_backend import OnnxBackend
from potstill.models.predict import count_params, predict_scores
from potstill.models.registry import list_architectures, register_architecture
from potstill.models.students import (
    StudentSpec,
    build_from_spec,
    build_student,
    student_for_blackbox,
    student_for_images,
)
from potstill.models.teacher import Teacher, load_teacher
from potstill.models.text import embed_texts, text_predictor

__all__ = [
    "MLP",
    "DeepEnsemble",
    "FeatureTap",
    "HFBackend",
    "HFClassifier",
    "ImageClassifier",
    "MobileNetV2",
    "OnnxBackend",
    "OnnxSentenceEncoder",
    "SklearnBackend",
    "SmallCNN",
    "StudentSpec",
    "Teacher",
    "TeacherBackend",
    "TorchBackend",
    "build_from_spec",
    "build_hf_student",
    "build_student",
    "count_params",
    "embed_texts",
    "int8_minilm_path",
    "list_architectures",
    "load_imagenet_weights",
    "load_int8_minilm",
    "load_model",
    "load_model_info",
    "load_pretrained",
    "load_teacher",
    "predict_scores",
    "register_architecture",
    "save_model",
    "save_pretrained",
    "student_for_blackbox",
    "student_for_images",
    "text_predictor",
    "uniform_layer_map",
]
