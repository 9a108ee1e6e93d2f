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
  :func:`load_minilm`, :func:`get_text_teacher`, :func:`finetune_classifier`: the built-in
  MiniLM teacher; :func:`distill_embeddings`: embedding distillation with retrieval
  fidelity; :func:`load_int8_minilm`: the INT8 ONNX MiniLM reference.
"""

from __future__ import annotations

from potstill.models.backends import (
    HFBackend,
    SklearnBackend,
    TeacherBackend,
    TorchBackend,
)
from potstill.models.cnn import SmallCNN
from potstill.models.embedding import (
    EmbeddingResult,
    cosine_agreement,
    distill_embeddings,
    retrieval_recall,
    similarity_agreement,
)
from potstill.models.ensemble import DeepEnsemble
from potstill.models.export import load_model, load_model_info, save_model
from potstill.models.hf import HFClassifier
from potstill.models.hf_int8 import OnnxSentenceEncoder, int8_minilm_path, load_int8_minilm
from potstill.models.hf_io import load_pretrained, save_pretrained
from potstill.models.hf_students import build_hf_student
from potstill.models.hf_zoo import (
    TextTeacherRecipe,
    finetune_classifier,
    get_text_teacher,
    load_minilm,
    minilm_path,
)
from potstill.models.hooks import FeatureTap, uniform_layer_map
from potstill.models.mlp import MLP
from potstill.models.mobilenet import ImageClassifier, MobileNetV2, load_imagenet_weights
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
    "EmbeddingResult",
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
    "TextTeacherRecipe",
    "TorchBackend",
    "build_from_spec",
    "build_hf_student",
    "build_student",
    "cosine_agreement",
    "count_params",
    "distill_embeddings",
    "embed_texts",
    "finetune_classifier",
    "get_text_teacher",
    "int8_minilm_path",
    "list_architectures",
    "load_imagenet_weights",
    "load_int8_minilm",
    "load_minilm",
    "load_model",
    "load_model_info",
    "load_pretrained",
    "load_teacher",
    "minilm_path",
    "predict_scores",
    "register_architecture",
    "retrieval_recall",
    "save_model",
    "save_pretrained",
    "similarity_agreement",
    "student_for_blackbox",
    "student_for_images",
    "text_predictor",
    "uniform_layer_map",
]
