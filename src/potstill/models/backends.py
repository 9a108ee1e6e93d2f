"""How a teacher is run: one backend per kind of deployed model.

A production model may be a torch module, a scikit-learn / XGBoost / LightGBM estimator
or an ONNX file. The distiller, the evaluator and the bench should not care, so each kind
is wrapped by a :class:`TeacherBackend` that answers the same four questions: what can
you expose (``capabilities``), give me ``Outputs`` for this tensor, give me scores for
this array, give me a plain numpy callable to time. Black boxes expose logits only (the
log of their clipped probabilities). Hugging Face transformers ("hf") are a torch white
box that also exposes attention maps and value vectors, and accepts raw strings (its
tokenizer encodes them). :class:`~potstill.models.teacher.Teacher` takes any of them.
ONNX files have their own module, :mod:`potstill.models.onnx_backend`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from potstill._validation import check_choice, check_scalar
from potstill.data.text import encode_texts
from potstill.errors import DataError, ModelError
from potstill.models.hf.model import HFClassifier
from potstill.models.hooks import FeatureTap
from potstill.models.labels import hf_labels, sklearn_labels, torch_labels
from potstill.models.predict import count_params, predict_scores
from potstill.models.tree_embedding import DEFAULT_WIDTH, TreeLeaves, leaf_support, tree_leaves
from potstill.models.trees import TreeCount, count_trees
from potstill.types import Outputs, Problem

__all__ = [
    "PROBA_EPS",
    "HFBackend",
    "SklearnBackend",
    "TeacherBackend",
    "TorchBackend",
]

#: Probabilities are clipped to [PROBA_EPS, 1] before the log, so a black box that is
#: certain (p = 0) gives finite logits (log 1e-7 ≈ -16.1).
PROBA_EPS = 1e-7


def _log_probs(p: np.ndarray) -> np.ndarray:
    return np.log(np.clip(p, PROBA_EPS, 1.0)).astype(np.float32)


def _non_empty(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X)
    if len(X) == 0:
        raise DataError("predict_scores got an array with 0 rows; pass at least one row.")
    return X


def scored_outputs(
    scores: np.ndarray, problem: str | None, rows: np.ndarray, leaves: TreeLeaves | None,
    leaf_width: int, device: torch.device,
) -> Outputs:  # fmt: skip
    """A tree model's outputs as the loop reads them: log-probabilities (classification) or
    a (n, 1) prediction, and its leaf embedding of ``rows`` when ``leaves`` is set."""
    if problem == "classification":
        logits = torch.from_numpy(_log_probs(scores))
    else:
        logits = torch.from_numpy(scores.astype(np.float32)).reshape(-1, 1)
    emb = None if leaves is None else torch.from_numpy(leaves.embedding(rows, leaf_width))
    return Outputs(logits=logits.to(device), embedding=None if emb is None else emb.to(device))


def _jsonable_param(value: Any) -> Any:
    return value if value is None or isinstance(value, (bool, int, float, str)) else repr(value)


class TeacherBackend(ABC):
    """One way of running a deployed model; subclasses set ``kind``."""

    kind: ClassVar[str]
    #: Shape of one input (no batch axis) when the model file declares it, else None.
    input_shape: tuple[int, ...] | None = None

    def __init__(self, problem: Problem) -> None:
        self.problem: Problem = check_choice(
            problem,
            "problem",
            owner="Teacher",
            choices=("classification", "regression", "embedding"),
        )

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[str]:
        """Subset of {"logits", "hidden", "embedding", "attentions", "values"} it exposes."""

    @property
    def module(self) -> nn.Module | None:
        """The torch module when there is one (white box), else None."""
        return None

    def missing_note(self) -> str | None:
        """Why this teacher exposes no hidden layers or embedding, when it can say more than
        its capabilities do (None otherwise)."""
        return None

    @abstractmethod
    def outputs(self, x: torch.Tensor) -> Outputs:
        """Teacher outputs for a batch, without gradients."""

    @abstractmethod
    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        """Probabilities (n, C) or regression values (n,)."""

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """A numpy → numpy callable doing one prediction call (for timing)."""
        return lambda X: self.predict_scores(X, max(1, len(X)))

    @abstractmethod
    def architecture(self) -> dict[str, Any]:
        """JSON summary of the model's architecture."""

    def params(self) -> int | None:
        """Parameter count where it is defined."""
        return None

    def trees(self) -> TreeCount | None:
        """Trees, splits and leaves of a tree-ensemble model (its ``estimator`` or
        ``booster``), else None."""
        return count_trees(getattr(self, "estimator", None) or getattr(self, "booster", None))

    def hidden_layer_names(self) -> list[str]:
        """The hidden layers (or tensors) ``outputs`` fills, in depth order (none for a black box)."""
        return []

    def embedding_layer_name(self) -> str | None:
        """The layer (or tensor) whose output is ``Outputs.embedding``, if any."""
        return None

    def class_labels(self) -> tuple[str, ...] | None:
        """The teacher's class labels in the order of its output columns, as strings;
        None when the model does not say (then the task's order is assumed)."""
        return None


class TorchBackend(TeacherBackend):
    """A white-box ``nn.Module``: logits plus hooked hidden layers and embedding."""

    kind = "torch"

    def __init__(
        self, module: nn.Module, problem: Problem, features: Sequence[str], embedding: str | None
    ) -> None:
        super().__init__(problem)
        self._module = module
        self.features = list(features)
        self.embedding = embedding
        FeatureTap(module, self.features, embedding).close()  # validates names now

    @property
    def capabilities(self) -> frozenset[str]:
        caps = {"logits"}
        if self.features:
            caps.add("hidden")
        if self.embedding:
            caps.add("embedding")
        return frozenset(caps)

    @property
    def module(self) -> nn.Module:
        return self._module

    def hidden_layer_names(self) -> list[str]:
        return list(self.features)

    def embedding_layer_name(self) -> str | None:
        return self.embedding

    def _device(self) -> torch.device:
        return next((p.device for p in self._module.parameters()), torch.device("cpu"))

    def outputs(self, x: torch.Tensor) -> Outputs:
        self._module.eval()
        with torch.no_grad(), FeatureTap(self._module, self.features, self.embedding) as tap:
            return tap(x.to(self._device()))

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        return predict_scores(self._module, X, problem=self.problem, batch_size=batch_size)

    def architecture(self) -> dict[str, Any]:
        if isinstance(self._module, torch.jit.ScriptModule):
            return {
                "type": "TorchScript",
                "original_name": str(getattr(self._module, "original_name", "")),
                "hidden_layers": list(self.features),
            }
        spec = getattr(self._module, "spec", None)
        return dict(spec()) if callable(spec) else {"type": type(self._module).__name__}

    def params(self) -> int:
        return count_params(self._module)

    def class_labels(self) -> tuple[str, ...] | None:
        return torch_labels(self._module) if self.problem == "classification" else None


class HFBackend(TorchBackend):
    """A Hugging Face :class:`~potstill.models.hf.model.HFClassifier`: a torch white box that also
    exposes attention maps and value vectors, and scores raw strings with its tokenizer.

    ``predict_scores`` takes an encoded array (n, 2, L) or an array of strings; an embedding
    model (no classification head) has no scores and refuses.
    """

    kind = "hf"

    def __init__(self, module: HFClassifier, problem: Problem) -> None:
        self.attentions = module.attention_layer_names()
        self.values = module.value_layer_names()
        super().__init__(
            module, problem, module.hidden_layer_names(), module.embedding_layer_name()
        )
        self.hf: HFClassifier = module

    @property
    def capabilities(self) -> frozenset[str]:
        caps = set(super().capabilities)
        caps.update({"attentions"} if self.attentions else set())
        caps.update({"values"} if self.values else set())
        return frozenset(caps)

    def outputs(self, x: torch.Tensor) -> Outputs:
        self._module.eval()
        tap = FeatureTap(
            self._module, self.features, self.embedding, attentions=self.attentions,
            values=self.values,
        )  # fmt: skip
        with torch.no_grad(), tap:
            return tap(x.to(self._device()))

    def encode(self, X: np.ndarray) -> np.ndarray:
        """Encoded (n, 2, L) rows as given; strings tokenised with the model's tokenizer."""
        X = _non_empty(X)
        if X.ndim == 3 and np.issubdtype(X.dtype, np.number):
            return X
        if self.hf.tokenizer is None:
            raise ModelError(
                "This Hugging Face teacher has no tokenizer, so it cannot score raw text. "
                "Pass tokenizer=... to Teacher.from_pretrained, or give encoded (n, 2, L) rows."
            )

        return encode_texts(X, self.hf.tokenizer, self.hf.max_length)

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        if self.hf.is_embedding_model and self.problem != "embedding":
            raise ModelError(
                "This Hugging Face teacher is a sentence-embedding model: it has no class "
                "scores. Fine-tune a classification head on it first (potstill.models."
                "finetune_classifier), or distil it as an embedding model (problem='embedding')."
            )
        if self.problem == "embedding" and not self.hf.is_embedding_model:
            raise ModelError(
                "The task is 'embedding' but this Hugging Face teacher has a classification "
                "head. Load the encoder without a head (num_labels=0)."
            )
        return super().predict_scores(self.encode(X), batch_size)

    def architecture(self) -> dict[str, Any]:
        arch = super().architecture()
        arch["config"] = {k: arch["config"].get(k) for k in _HF_SUMMARY if k in arch["config"]}
        return arch

    def class_labels(self) -> tuple[str, ...] | None:
        if self.problem != "classification" or self.hf.is_embedding_model:
            return None
        return hf_labels(self.hf.backbone.config, self.hf.num_labels)


#: The transformers config keys kept in a teacher's record (the full config is in its spec).
_HF_SUMMARY = (
    "model_type",
    "num_hidden_layers",
    "hidden_size",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
)


class SklearnBackend(TeacherBackend):
    """A scikit-learn-compatible estimator (sklearn, XGBoost, LightGBM): logits, and for
    tree ensembles a leaf-membership embedding (:mod:`~potstill.models.tree_embedding`)
    of ``leaf_width`` dimensions for relation methods (0: logits only)."""

    kind = "sklearn"

    def __init__(self, estimator: Any, problem: Problem, leaf_width: int = DEFAULT_WIDTH) -> None:
        super().__init__(problem)
        check_scalar(leaf_width, "leaf_width", owner="Teacher.from_sklearn", ge=0, integer=True)
        self.leaf_width = leaf_width
        self.leaves = tree_leaves(estimator) if leaf_width else None
        method = "predict_proba" if problem == "classification" else "predict"
        if not callable(getattr(estimator, method, None)):
            raise ModelError(
                f"A {problem} teacher from scikit-learn must have a '{method}' method; "
                f"{type(estimator).__name__} has none."
                + (" For SVC, fit it with probability=True." if method == "predict_proba" else "")
            )
        self.estimator = estimator
        self._predict: Callable[[np.ndarray], np.ndarray] = getattr(estimator, method)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"logits", "embedding"} if self.leaves else {"logits"})

    def embedding_layer_name(self) -> str | None:
        return "leaves" if self.leaves else None

    def missing_note(self) -> str | None:
        if self.leaves is not None:
            return None
        if not self.leaf_width:
            why = "its leaf embedding is switched off (teacher.leaf_embedding: 0)."
        else:
            why = leaf_support(self.estimator) or "its leaves could not be read."
        return (
            f"This {type(self.estimator).__name__} teacher has no hidden representation to "
            f"distil: {why} Response methods (kd, dkd, dist) need only its outputs."
        )

    def _scores(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self._predict(X), dtype=np.float64)
        if self.problem == "regression":
            return out.reshape(len(X), -1)[:, 0] if out.ndim > 1 else out
        return out

    def outputs(self, x: torch.Tensor) -> Outputs:
        rows = x.detach().cpu().numpy()
        return scored_outputs(self._scores(rows), self.problem, rows, self.leaves,
                              self.leaf_width, x.device)  # fmt: skip

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        X = _non_empty(X)
        return np.concatenate(
            [self._scores(X[i : i + batch_size]) for i in range(0, len(X), batch_size)]
        )

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        return self._predict

    def architecture(self) -> dict[str, Any]:
        est = self.estimator
        get_params = getattr(est, "get_params", None)
        params = get_params(deep=False) if callable(get_params) else {}
        arch: dict[str, Any] = {
            "type": type(est).__name__,
            "library": type(est).__module__.split(".")[0],
            "params": {k: _jsonable_param(v) for k, v in sorted(params.items())},
        }
        if hasattr(est, "classes_"):
            arch["classes"] = [
                _jsonable_param(c.item() if hasattr(c, "item") else c) for c in est.classes_
            ]
        if hasattr(est, "n_features_in_"):
            arch["n_features"] = int(est.n_features_in_)
        if self.leaves is not None:
            arch["leaf_embedding"] = self.leaves.describe(self.leaf_width)
        return arch

    def class_labels(self) -> tuple[str, ...] | None:
        return sklearn_labels(self.estimator) if self.problem == "classification" else None
