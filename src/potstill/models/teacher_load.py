"""Opening a saved teacher by its format: :func:`load_teacher`.

It never runs code from disk unless asked: weights load with ``weights_only=True`` or from
safetensors, GBMs through their own loaders, and pickles are refused with
:class:`~potstill.errors.UnsafeModelError` unless ``trust_pickle=True`` (``--trust-pickle``).
The :class:`~potstill.models.teacher.Teacher` it returns is the same adapter a teacher
built in memory gets.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file
from torch import nn

from potstill.errors import ModelError
from potstill.models.export import MODEL_JSON, load_model
from potstill.models.formats import (
    GBM_SUFFIXES,
    check_torch_file,
    is_torchscript,
    load_gbm,
    load_skops,
    load_torchscript,
    module_from_weights,
    refuse_pickle,
    unpickle,
)
from potstill.models.hf.io import load_tokenizer
from potstill.models.hf.model import HFClassifier
from potstill.models.taps import TeacherTaps
from potstill.models.teacher import Teacher
from potstill.types import Problem

__all__ = ["PICKLE_SUFFIXES", "load_teacher"]

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_TORCH_SUFFIXES = (".pt", ".pth")


def _from_object(obj: Any, path: Path, problem: Problem, name: str, taps: TeacherTaps) -> Teacher:
    if isinstance(obj, nn.Module):
        return Teacher.from_torch(obj.eval(), problem=problem, name=name, **taps.named())
    if callable(getattr(obj, "predict", None)):
        return Teacher.from_sklearn(obj, problem=problem, name=name, leaf_width=taps.leaf_width)
    raise ModelError(
        f"'{path}' holds a {type(obj).__name__}, which is neither a torch module nor an "
        "estimator with predict/predict_proba."
    )


def _with_architecture(
    architecture: Mapping[str, Any] | None, state: Any, path: Path, problem: Problem, name: str
) -> Teacher:
    module = module_from_weights(architecture, state, path)
    return Teacher.from_torch(module.eval(), problem=problem, name=name)


def _from_directory(path: Path, problem: Problem, name: str, taps: TeacherTaps) -> Teacher:
    if not (path / MODEL_JSON).is_file():
        if (path / "config.json").is_file():
            return Teacher.from_pretrained(path, problem=problem, name=name)
        raise ModelError(
            f"The teacher directory '{path}' has no {MODEL_JSON} (potstill save_model) and "
            "no config.json (Hugging Face save_pretrained). Give a model file instead."
        )
    module = load_model(path)
    if isinstance(module, HFClassifier):
        module.tokenizer = load_tokenizer(path)
    return Teacher.from_torch(module, problem=problem, name=name, **taps.named())


def _from_torch_file(
    path: Path,
    problem: Problem,
    name: str,
    trust_pickle: bool,
    architecture: Mapping[str, Any] | None,
    taps: TeacherTaps,
) -> Teacher:
    if architecture is None and is_torchscript(path):
        module = load_torchscript(path)
        return Teacher.from_torch(module, problem=problem, name=name, **taps.named())
    check_torch_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not trust_pickle:
            raise refuse_pickle(path, "it holds pickled Python objects, not only weights.") from exc
        obj = unpickle(path, lambda: torch.load(path, map_location="cpu", weights_only=False))
        return _from_object(obj, path, problem, name, taps)
    return _with_architecture(architecture, state, path, problem, name)


def load_teacher(
    path: Path,
    *,
    problem: Problem,
    trust_pickle: bool = False,
    architecture: Mapping[str, Any] | None = None,
    name: str | None = None,
    taps: TeacherTaps | None = None,
) -> Teacher:
    """Open a saved teacher by its format (``taps``: which hidden features it exposes).

    - a directory: a potstill model (``model.json``: spec + safetensors, and the tokenizer
      saved beside an HFClassifier) or a Hugging Face ``save_pretrained`` folder (offline);
    - ``.onnx``: onnxruntime; ``.json``/``.ubj`` (XGBoost), ``.txt`` (LightGBM), ``.cbm``
      (CatBoost): the library's own loader, whose objective must match ``problem``;
    - ``.skops``: scikit-learn through skops; types skops does not trust need ``trust_pickle``;
    - ``.joblib`` / ``.pkl`` / ``.pickle``: refused unless ``trust_pickle=True``; a library
      missing while unpickling is named with the package to install;
    - ``.pt`` / ``.pth``: TorchScript archive, or a state dict (``weights_only=True``) that
      needs ``architecture`` (a ``spec()`` dict); a whole pickled module needs ``trust_pickle``;
    - ``.safetensors``: weights that need ``architecture``.
    """
    path = Path(path)
    name = name or path.stem
    taps = taps or TeacherTaps()
    if not path.exists():
        raise ModelError(f"The teacher file '{path}' does not exist.")
    suffix = path.suffix.lower()
    if path.is_dir():
        return _from_directory(path, problem, name, taps)
    if suffix == ".onnx":
        return Teacher.from_onnx(path, problem=problem, name=name, **taps.named())
    if suffix in GBM_SUFFIXES:
        return Teacher(load_gbm(path, problem, leaf_width=taps.leaf_width), name=name)
    if suffix == ".skops":
        estimator = load_skops(path, trust_pickle=trust_pickle)
        return _from_object(estimator, path, problem, name, taps)
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise refuse_pickle(path, "it is a pickle (joblib) file.")
        import joblib

        return _from_object(unpickle(path, lambda: joblib.load(path)), path, problem, name, taps)
    if suffix == ".safetensors":
        try:
            state = load_safetensors_file(path)
        except SafetensorError as exc:
            raise ModelError(f"'{path}' is not a valid safetensors file: {exc}") from exc
        return _with_architecture(architecture, state, path, problem, name)
    if suffix in _TORCH_SUFFIXES:
        return _from_torch_file(path, problem, name, trust_pickle, architecture, taps)
    dirs = ["<potstill model dir>", "<Hugging Face dir>", ".onnx", *GBM_SUFFIXES, ".skops"]
    supported = ", ".join([*dirs, *_TORCH_SUFFIXES, ".safetensors", *PICKLE_SUFFIXES])
    raise ModelError(
        f"Unknown teacher format '{suffix or path.name}' for '{path}'. Supported: {supported}."
    )
