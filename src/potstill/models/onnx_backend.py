"""An ONNX file as a teacher: run by onnxruntime on CPU.

It gives logits (or log-probabilities when its output is probabilities) and, for feature
and relation methods, hidden tensors added as graph outputs (:mod:`potstill.models.
onnx_taps`): timing and scoring run the file as it is, ``outputs`` runs the tapped graph.

A classifier exported by skl2onnx runs as it is: its probability output is scored by
default (its first output is the predicted label) and a ZipMap's dicts become columns;
its class labels come from the graph or the model's ``classes`` metadata
(:mod:`potstill.models.labels`).

Its size (:func:`onnx_params`) is the number of values it learned: the elements of the
graph's initialisers (a network's weights) plus the coefficients that scikit-learn-style
operators (ai.onnx.ml) keep as node attributes (a LinearClassifier's coefficients and
intercepts, a Scaler's offsets and scales, an Imputer's fill values, an SVM's support
vectors); tree ensembles are counted by :func:`~potstill.models.trees.onnx_tree_count`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill._validation import check_choice
from potstill.errors import ModelError, missing_dependency
from potstill.models.backends import TeacherBackend, _log_probs, _non_empty
from potstill.models.labels import onnx_default_output, onnx_labels
from potstill.models.onnx_taps import OnnxTaps, run_batched
from potstill.models.predict import logits_to_scores
from potstill.models.trees import TreeCount, onnx_tree_count
from potstill.types import Outputs, Problem

__all__ = ["OnnxBackend", "onnx_params"]

#: Node attributes of ai.onnx.ml operators that hold learned values (trees apart).
_LEARNED_ATTRIBUTES = {
    "LinearClassifier": ("coefficients", "intercepts"),
    "LinearRegressor": ("coefficients", "intercepts"),
    "Scaler": ("offset", "scale"),
    "Imputer": ("imputed_value_floats", "imputed_value_int64s"),
    "SVMClassifier": ("coefficients", "support_vectors", "rho", "prob_a", "prob_b"),
    "SVMRegressor": ("coefficients", "support_vectors", "rho"),
}


def onnx_params(path: Path | str) -> int:
    """Learned values of an ONNX graph: initialiser elements + ai.onnx.ml coefficients."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    count = sum(int(np.prod(t.dims)) for t in graph.initializer)
    for node in graph.node:
        wanted = _LEARNED_ATTRIBUTES.get(node.op_type, ())
        for attribute in node.attribute:
            if attribute.name in wanted:
                count += len(attribute.floats) + len(attribute.ints)
    return int(count)


_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class OnnxBackend(TeacherBackend):
    """An ONNX file run by onnxruntime on CPU: logits (or probabilities), and hidden tensors
    added as graph outputs (:mod:`~potstill.models.onnx_taps`) for feature/relation methods."""

    kind = "onnx"

    def __init__(
        self,
        path: Path,
        problem: Problem,
        output: str | None = None,
        scores: str = "logits",
        *,
        features: Sequence[str] | None = None,
        embedding: str | None = None,
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
        outputs = self.session.get_outputs()
        if output is None:  # skl2onnx puts the predicted label first: score the probabilities
            output, probabilities = onnx_default_output(outputs, problem)
            self.scores = "probabilities" if probabilities else self.scores
        self.output_name = check_choice(
            output, "output", owner="Teacher.from_onnx", choices=[o.name for o in outputs],
            error=ModelError,
        )  # fmt: skip
        self.taps = OnnxTaps.open(self.path, self.output_name, features, embedding)

    @property
    def capabilities(self) -> frozenset[str]:
        return frozenset({"logits"}) | self.taps.capabilities

    def hidden_layer_names(self) -> list[str]:
        return list(self.taps.features)

    def embedding_layer_name(self) -> str | None:
        return self.taps.embedding

    def _run_all(self, X: np.ndarray, names: list[str], session: Any) -> list[np.ndarray]:
        X = np.asarray(X, dtype=self.input_dtype)
        return run_batched(session, self.input_name, X, names, self.fixed_batch)

    def _run(self, X: np.ndarray) -> np.ndarray:
        return self._run_all(X, [self.output_name], self.session)[0]

    def _as_logits(self, raw: np.ndarray) -> np.ndarray:
        raw = raw.astype(np.float32)
        if self.problem == "regression":
            return raw.reshape(len(raw), -1)
        return _log_probs(raw) if self.scores == "probabilities" else raw

    def _logits(self, X: np.ndarray) -> np.ndarray:
        return self._as_logits(self._run(X))

    def outputs(self, x: torch.Tensor) -> Outputs:
        X = x.detach().cpu().numpy()
        if not self.taps.capabilities:
            return Outputs(logits=torch.from_numpy(self._logits(X)).to(x.device))
        arrays = self._run_all(X, self.taps.names(), self.taps.session())
        logits = torch.from_numpy(self._as_logits(arrays[0]))
        return self.taps.outputs(arrays, logits, x.device)

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
            "features": self.hidden_layer_names(),
            "embedding": self.embedding_layer_name(),
        }

    def trees(self) -> TreeCount | None:
        return onnx_tree_count(self.path)

    def params(self) -> int | None:
        return onnx_params(self.path)

    def class_labels(self) -> tuple[str, ...] | None:
        return onnx_labels(self.path) if self.problem == "classification" else None
