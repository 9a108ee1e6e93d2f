"""The teacher adapter: one interface over every kind of deployed model.

The distiller asks a teacher for ``Outputs`` (logits, and hidden layers/embedding when it
is a white box); the evaluator asks for scores on a numpy array; the bench asks for a
callable to time. :class:`Teacher` answers all three for torch and TorchScript modules,
scikit-learn estimators, GBM files and ONNX files, and says what it can expose in
``capabilities`` so a method that needs hidden layers is refused up front.

:func:`load_teacher` opens a teacher file by its format (:mod:`potstill.models.formats`).
It never runs code from disk unless asked: weights load with ``weights_only=True`` or from
safetensors, GBMs through their own loaders, and pickles are refused with
:class:`~potstill.errors.UnsafeModelError` unless ``trust_pickle=True`` (``--trust-pickle``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file as load_safetensors_file
from torch import nn

from potstill._validation import check_scalar
from potstill.errors import ConfigError, ModelError
from potstill.models.backends import (
    HFBackend,
    SklearnBackend,
    TeacherBackend,
    TorchBackend,
)
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
from potstill.models.hf.io import load_pretrained, load_tokenizer
from potstill.models.hf.model import HFClassifier
from potstill.models.onnx_backend import OnnxBackend
from potstill.models.scripted import script_taps
from potstill.models.taps import TeacherTaps, pick_hidden
from potstill.models.tree_embedding import DEFAULT_WIDTH
from potstill.types import Outputs, Problem

__all__ = ["PICKLE_SUFFIXES", "Teacher", "TeacherTaps", "load_teacher"]

PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
_TORCH_SUFFIXES = (".pt", ".pth")


class Teacher:
    """A deployed model seen through one interface (build it with a ``from_*`` constructor).

    Parameters
    ----------
    backend : TeacherBackend
        How the model is run (torch, sklearn, onnx, or a new kind such as "hf").
    name : str
        Name used in records and reports.
    """

    def __init__(self, backend: TeacherBackend, *, name: str = "teacher") -> None:
        self._backend = backend
        self.name = name

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_torch(
        cls,
        module: nn.Module,
        *,
        problem: Problem,
        features: Sequence[str] | None = None,
        embedding: str | None = None,
        name: str = "teacher",
    ) -> Teacher:
        """A white-box teacher. ``features``/``embedding`` default to the module's
        ``hidden_layer_names()`` / ``embedding_layer_name()`` when it has them (a TorchScript
        module: the hidden steps of its verified chain, see :mod:`potstill.models.scripted`);
        pass ``features=()`` to expose logits only. An :class:`~potstill.models.hf.model.HFClassifier`
        with default taps becomes an "hf" teacher (attention maps, values, raw text)."""
        own = getattr(module, "problem", None)
        if isinstance(own, str) and own != problem:
            raise ConfigError(
                f"The teacher {type(module).__name__} was built for {own}, but the task is "
                f"{problem}. Build the teacher with problem={problem!r}."
            )
        if isinstance(module, HFClassifier) and features is None and embedding is None:
            return cls(HFBackend(module, problem), name=name)
        if isinstance(module, torch.jit.ScriptModule):  # no hooks: its verified chain, if any
            chain = script_taps(module)
            if features is None:
                features = list(chain.hidden) if chain is not None else []
            if embedding is None:
                embedding = chain.embedding if chain is not None else None
        if features is None:
            fn = getattr(module, "hidden_layer_names", None)
            features = list(fn()) if callable(fn) else []
        if embedding is None:
            fn = getattr(module, "embedding_layer_name", None)
            embedding = fn() if callable(fn) else None
        return cls(TorchBackend(module, problem, features, embedding), name=name)

    @classmethod
    def from_pretrained(
        cls,
        path_or_model: Path | str | nn.Module,
        *,
        problem: Problem,
        num_labels: int | None = None,
        tokenizer: Any = None,
        max_length: int | None = None,
        name: str | None = None,
    ) -> Teacher:
        """A Hugging Face teacher from a local ``save_pretrained`` folder or a model object.

        The folder (never a hub id: loading is offline) holds a sequence-classification
        model, an encoder with a potstill head, or a sentence-embedding model (then the
        teacher's logits are its embeddings and it has no class scores). A model object may
        be an :class:`~potstill.models.hf.model.HFClassifier` or a transformers model (an
        ``AutoModelForSequenceClassification``, or an encoder with ``num_labels``: a new,
        untrained head). ``tokenizer`` is a tokenizer object or folder; by default the
        folder's own. ``max_length`` is the token length raw texts are cut to.
        """
        if isinstance(path_or_model, (str, Path)):
            folder = Path(path_or_model)
            module = load_pretrained(
                folder, num_labels=num_labels, problem=problem, tokenizer=tokenizer,
                max_length=max_length,
            )  # fmt: skip
            label = name or folder.name
        elif isinstance(path_or_model, HFClassifier):
            module, label = path_or_model, name or "hf-teacher"
            if tokenizer is not None:
                module.tokenizer = load_tokenizer(tokenizer)
            if max_length is not None:
                module.max_length = check_scalar(
                    max_length, "max_length", owner="Teacher.from_pretrained", ge=2, integer=True
                )
                module.max_length_source = "requested (max_length)"
        elif isinstance(path_or_model, nn.Module):
            module = HFClassifier(
                path_or_model, num_labels=num_labels or 0, problem=problem,
                tokenizer=load_tokenizer(tokenizer), max_length=max_length,
            )  # fmt: skip
            label = name or type(path_or_model).__name__
        else:
            raise ModelError(
                "Teacher.from_pretrained takes a save_pretrained folder or a transformers / "
                f"HFClassifier model. Got {type(path_or_model).__name__} instead."
            )
        if module.problem is not None and module.problem != problem:
            raise ConfigError(
                f"The Hugging Face teacher predicts {module.problem}, but the task is {problem}."
            )
        return cls(HFBackend(module.eval(), problem), name=label)

    @classmethod
    def from_sklearn(
        cls,
        estimator: Any,
        *,
        problem: Problem,
        name: str | None = None,
        leaf_width: int = DEFAULT_WIDTH,
    ) -> Teacher:
        """A black-box teacher from ``predict_proba`` (classification; column order is
        ``estimator.classes_``, which must follow the task's class ids) or ``predict``.
        A tree ensemble also exposes its leaf-membership embedding (``leaf_width`` wide; 0
        for logits only), see :mod:`~potstill.models.tree_embedding`."""
        backend = SklearnBackend(estimator, problem, leaf_width=leaf_width)
        return cls(backend, name=name or type(estimator).__name__)

    @classmethod
    def from_onnx(
        cls,
        path: Path,
        *,
        problem: Problem,
        name: str | None = None,
        output: str | None = None,
        scores: str = "logits",
        features: Sequence[str] | None = None,
        embedding: str | None = None,
    ) -> Teacher:
        """A teacher run by onnxruntime. ``output`` picks the output tensor (default: the
        first); ``scores="probabilities"`` when it is probabilities. ``features`` /
        ``embedding`` name hidden tensors to expose (default: :mod:`~potstill.models.onnx_taps`'
        choice; ``features=[]`` for logits only)."""
        backend = OnnxBackend(
            Path(path), problem, output=output, scores=scores, features=features,
            embedding=embedding,
        )  # fmt: skip
        return cls(backend, name=name or Path(path).stem)

    # ------------------------------------------------------------------ interface

    @property
    def backend(self) -> str:
        """``"torch"``, ``"hf"``, ``"sklearn"``, ``"onnx"`` (or a new backend's kind)."""
        return self._backend.kind

    @property
    def engine(self) -> TeacherBackend:
        """The backend object that runs the model (for tools that describe it)."""
        return self._backend

    @property
    def problem(self) -> Problem:
        return self._backend.problem

    @property
    def capabilities(self) -> frozenset[str]:
        """What ``outputs`` can fill: subset of {"logits", "hidden", "embedding", "attentions",
        "values"}."""
        return self._backend.capabilities

    @property
    def module(self) -> nn.Module | None:
        """The torch module of a white-box teacher, else None."""
        return self._backend.module

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one input (no batch axis) as the model file declares it (ONNX), else None."""
        return self._backend.input_shape

    def hidden_layer_names(self) -> list[str]:
        """The hidden layers (torch) or tensors (ONNX) ``outputs`` fills, in depth order;
        empty when it fills none."""
        return self._backend.hidden_layer_names()

    def embedding_layer_name(self) -> str | None:
        """The layer or tensor ``outputs`` gives as the embedding, if any."""
        return self._backend.embedding_layer_name()

    def outputs(self, x: torch.Tensor, *, hidden: Sequence[str] | None = None) -> Outputs:
        """Teacher outputs for a batch, in eval mode without gradients. ``hidden`` picks (in
        order, repeats allowed) from ``hidden_layer_names()``."""
        out = self._backend.outputs(x)
        return (
            out
            if hidden is None
            else pick_hidden(out, self.hidden_layer_names(), hidden, self.name)
        )

    def predict_scores(self, X: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Class probabilities (n, C) or regression values (n,) on a numpy array."""
        check_scalar(batch_size, "batch_size", owner="Teacher.predict_scores", ge=1, integer=True)
        return self._backend.predict_scores(X, batch_size)

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """One prediction call on a numpy batch, as a plain callable (for benchmarking)."""
        return self._backend.predict_fn()

    def class_labels(self) -> tuple[str, ...] | None:
        """The teacher's class labels in the order of its output columns (``classes_``,
        ONNX labels or metadata, ``id2label``, a module's ``classes``); None when unknown."""
        return self._backend.class_labels()

    def describe(self) -> dict[str, Any]:
        """JSON summary for the run record: name, backend, problem, capabilities,
        architecture, parameter count (None for tree ensembles) and, for a tree ensemble,
        its trees, splits and leaves (see :mod:`potstill.models.trees`)."""
        trees = self._backend.trees()
        return {
            "name": self.name,
            "backend": self.backend,
            "problem": self.problem,
            "capabilities": sorted(self.capabilities),
            "architecture": self._backend.architecture(),
            "params": self._backend.params(),
            "trees": None if trees is None else {**asdict(trees), "learned": trees.learned},
        }

    def __repr__(self) -> str:
        return f"Teacher(name={self.name!r}, backend={self.backend!r}, problem={self.problem!r})"


# ---------------------------------------------------------------------- loading


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
