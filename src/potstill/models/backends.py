"""How a teacher is run: one backend per kind of deployed model.

A production model may be a torch module, a scikit-learn / XGBoost / LightGBM estimator
or an ONNX file. The distiller, the evaluator and the bench should not care, so each kind
is wrapped by a :class:`TeacherBackend` that answers the same four questions: what can
you expose (``capabilities``), give me ``Outputs`` for this tensor, give me scores for
this array, give me a plain numpy callable to time. Black boxes expose logits only (the
log of their clipped probabilities). Hugging Face transformers ("hf") are a torch white
box that also exposes attention maps and value vectors, and accepts raw strings (its
tokenizer encodes them). :class:`~potstill.models.teacher.Teacher` takes any of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from potstill._validation import check_choice
from potstill.errors import DataError, ModelError, missing_dependency
from potstill.models.hf import HFClassifier
from potstill.models.hooks import FeatureTap
from potstill.models.predict import count_params, logits_to_scores, predict_scores
from potstill.types import Outputs, Problem

__all__ = [
    "PROBA_EPS",
    "HFBackend",
    "OnnxBackend",
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

    def _device(self) -> torch.device:
        return next((p.device for p in self._module.parameters()), torch.device("cpu"))

    def outputs(self, x: torch.Tensor) -> Outputs:
        self._module.eval()
        with torch.no_grad(), FeatureTap(self._module, self.features, self.embedding) as tap:
            return tap(x.to(self._device()))

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        return predict_scores(self._module, X, problem=self.problem, batch_size=batch_size)

    def architecture(self) -> dict[str, Any]:
        spec = getattr(self._module, "spec", None)
        return dict(spec()) if callable(spec) else {"type": type(self._module).__name__}

    def params(self) -> int:
        return count_params(self._module)


class HFBackend(TorchBackend):
    """A Hugging Face :class:`~potstill.models.hf.HFClassifier`: a torch white box that also
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
        from potstill.data.text import encode_texts

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
    """A scikit-learn-compatible estimator (sklearn, XGBoost, LightGBM): logits only."""

    kind = "sklearn"

    def __init__(self, estimator: Any, problem: Problem) -> None:
        super().__init__(problem)
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
        return frozenset({"logits"})

    def _scores(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self._predict(X), dtype=np.float64)
        if self.problem == "regression":
            return out.reshape(len(X), -1)[:, 0] if out.ndim > 1 else out
        return out

    def outputs(self, x: torch.Tensor) -> Outputs:
        scores = self._scores(x.detach().cpu().numpy())
        if self.problem == "classification":
            logits = torch.from_numpy(_log_probs(scores))
        else:
            logits = torch.from_numpy(scores.astype(np.float32)).reshape(-1, 1)
        return Outputs(logits=logits.to(x.device))

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
        return arch


_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class OnnxBackend(TeacherBackend):
    """An ONNX file run by onnxruntime on CPU: logits (or probabilities) only."""

    kind = "onnx"

    def __init__(
        self, path: Path, problem: Problem, output: str | None = None, scores: str = "logits"
    ) -> None:
        super().__init__(problem)
        self.scores = check_choice(
            scores, "scores", owner="Teacher.from_onnx", choices=("logits", "probabilities")
        )
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_dependency("onnxruntime", purpose="ONNX teachers") from None
        self.path = Path(path)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ModelError(f"onnxruntime cannot load the ONNX file '{self.path}': {exc}") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(
                f"An ONNX teacher must take exactly one input tensor; '{self.path}' takes "
                f"{[i.name for i in inputs]}."
            )
        self.input_name = inputs[0].name
        self.input_dtype = _ORT_DTYPES.get(inputs[0].type, np.float32)
        dims = list(inputs[0].shape or [])[1:]  # after the batch axis; symbolic dims are str
        if dims and all(isinstance(d, int) and d > 0 for d in dims):
            self.input_shape = tuple(int(d) for d in dims)
        first = inputs[0].shape[0] if inputs[0].shape else None
        self.fixed_batch = first if isinstance(first, int) and first > 0 else None
        names = [o.name for o in self.session.get_outputs()]
        self.output_name = check_choice(
            output or names[0], "output", owner="Teacher.from_onnx", choices=names, error=ModelError
        )

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"logits"})

    def _run(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=self.input_dtype)
        step = self.fixed_batch or len(X)
        chunks = []
        for start in range(0, len(X), step):
            xb = X[start : start + step]
            n = len(xb)
            if self.fixed_batch and n < step:  # pad a fixed-batch model's last chunk
                xb = np.concatenate([xb, np.repeat(xb[-1:], step - n, axis=0)])
            chunks.append(
                np.asarray(self.session.run([self.output_name], {self.input_name: xb})[0])[:n]
            )
        return np.concatenate(chunks)

    def _logits(self, X: np.ndarray) -> np.ndarray:
        raw = self._run(X).astype(np.float32)
        if self.problem == "regression":
            return raw.reshape(len(X), -1)
        return _log_probs(raw) if self.scores == "probabilities" else raw

    def outputs(self, x: torch.Tensor) -> Outputs:
        logits = torch.from_numpy(self._logits(x.detach().cpu().numpy()))
        return Outputs(logits=logits.to(x.device))

    def predict_scores(self, X: np.ndarray, batch_size: int) -> np.ndarray:
        X = _non_empty(X)
        parts = []
        for start in range(0, len(X), batch_size):
            logits = torch.from_numpy(self._logits(X[start : start + batch_size]))
            parts.append(logits_to_scores(logits, self.problem).numpy().astype(np.float64))
        return np.concatenate(parts)

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        return self._run

    def architecture(self) -> dict[str, Any]:
        meta = self.session.get_modelmeta()
        return {
            "type": "onnx",
            "path": str(self.path),
            "producer": meta.producer_name,
            "input": self.input_name,
            "output": self.output_name,
        }

    def params(self) -> int | None:
        import onnx

        model = onnx.load(str(self.path), load_external_data=False)
        return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))
