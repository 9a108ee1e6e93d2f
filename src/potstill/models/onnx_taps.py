"""Intermediate activations of an ONNX teacher, exposed as extra graph outputs.

An ONNX file is a black box to onnxruntime: it returns the graph's outputs and nothing
else. Feature methods (FitNet, hidden MSE, attention transfer) need hidden layers and
relation methods (RKD, PKT, CC, SP) an embedding, so the graph is rewritten in memory
(the file is never touched): the chosen hidden tensors are added as named graph outputs,
the rewritten model is checked with ``onnx.checker`` and run by one onnxruntime session
that returns the logits and the hidden tensors together.

Candidates (:func:`candidate_taps`) are the outputs of activation nodes (Relu, Gelu,
Sigmoid, Tanh, LeakyRelu, Clip, …), of linear layers (Gemm, MatMul + Add) and of
convolution blocks (Conv, Conv + BatchNormalization), plus the pooled vector the output
layer reads. With shape inference, only tensors of rank 2 to 4 whose first axis is the
input's batch axis are kept. By default (:func:`default_taps`) the hidden features are
up to :data:`MAX_DEFAULT_TAPS` activations spread evenly over depth (the uniform map
of :func:`~potstill.models.hooks.uniform_layer_map`, ending on the last one), all of one
kind (vectors or maps), and the embedding is the input of the layer producing the output
(the penultimate representation), else the last activation.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill.errors import ModelError
from potstill.models.hooks import uniform_layer_map
from potstill.models.labels import zipmap_to_array
from potstill.types import Outputs

__all__ = [
    "MAX_DEFAULT_TAPS",
    "OnnxTaps",
    "Tap",
    "candidate_taps",
    "default_taps",
    "run_batched",
    "with_outputs",
]

#: At most this many hidden activations are tapped by default (evenly spaced over depth).
MAX_DEFAULT_TAPS = 8

_ACTIVATIONS = frozenset(
    {"Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid",
     "HardSwish", "Tanh", "Softplus", "Softsign", "Mish", "Clip", "ThresholdedRelu"}
)  # fmt: skip
_LINEAR = frozenset({"Gemm", "MatMul"})
#: Ops walked through from the output back to the layer that produced it.
_HEAD_PASSTHROUGH = frozenset(
    {"Add", "Identity", "Softmax", "LogSoftmax", "Sigmoid", "Reshape", "Squeeze", "Flatten"}
)
log = logging.getLogger(__name__)

_KINDS = {2: "vector", 3: "tokens", 4: "map"}
_MAX_LISTED = 20
_BATCH = "batch"  # name given to an unnamed batch axis


@dataclass(frozen=True)
class Tap:
    """One candidate hidden tensor: its name, the op that makes it, its role and shape."""

    name: str
    op: str
    role: str  # "activation" | "linear" | "conv" | "pooled" (another tensor the head reads)
    shape: tuple[int | str, ...]  # inferred; str for a symbolic axis (the batch)
    head: bool = False  # read by the layer that produces the output (the default embedding)

    @property
    def kind(self) -> str:
        """ "vector" (N, D), "tokens" (N, T, D) or "map" (N, C, H, W)."""
        return _KINDS[len(self.shape)]


def _dims(value_info: Any) -> tuple[int | str, ...] | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    dims: list[int | str] = []
    for d in tensor.shape.dim:
        dims.append(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?"))
    return tuple(dims)


def _inferred(model: Any) -> tuple[Any, dict[str, Any]]:
    """The model with inferred shapes, and value infos by tensor name. An unnamed batch
    axis (skl2onnx leaves it blank) is named first, so inference can follow it."""
    import onnx

    named = onnx.ModelProto()
    named.CopyFrom(model)
    for value in named.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value") and not dims[0].dim_param:
            dims[0].dim_param = _BATCH
    try:
        inferred = onnx.shape_inference.infer_shapes(named, data_prop=True)
    except Exception as exc:  # onnx raises its own untyped errors for graphs it cannot infer
        raise ModelError(f"ONNX shape inference failed on the teacher graph: {exc}") from exc
    graph = inferred.graph
    infos = {vi.name: vi for vi in [*graph.value_info, *graph.output, *graph.input]}
    return inferred, infos


def _batch_axis(model: Any) -> int | str:
    inputs = [
        i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}
    ]
    dims = _dims(inputs[0]) if inputs else None
    if not dims:
        raise ModelError("The ONNX teacher's input has no shape, so its batch axis is unknown.")
    return dims[0]


def _batched(shape: tuple[int | str, ...] | None, batch: int | str) -> bool:
    return shape is not None and 2 <= len(shape) <= 4 and shape[0] == batch and shape[0] != "?"


def _roles(model: Any) -> dict[str, tuple[str, str]]:
    """Tensor name → (op, role) for the outputs of activation, linear and conv nodes."""
    producer = {out: node for node in model.graph.node for out in node.output}
    roles: dict[str, tuple[str, str]] = {}
    for node in model.graph.node:
        op, out = node.op_type, node.output[0] if node.output else ""
        if op in _ACTIVATIONS:
            roles[out] = (op, "activation")
        elif op == "Gemm" or op == "Conv":
            roles[out] = (op, "linear" if op == "Gemm" else "conv")
        elif op in ("Add", "BatchNormalization"):
            src = producer.get(node.input[0])
            if src is not None and src.op_type in (("MatMul",) if op == "Add" else ("Conv",)):
                roles[out] = (f"{src.op_type}+{op}", "linear" if op == "Add" else "conv")
                roles.pop(src.output[0], None)  # the block's output is after the bias / norm
        elif op == "MatMul":
            roles[out] = (op, "linear")
    return roles


def _head_input(model: Any, output: str) -> str | None:
    """The tensor the output layer reads: walk back from ``output`` to a Gemm/MatMul."""
    producer = {out: node for node in model.graph.node for out in node.output}
    weights = {t.name for t in model.graph.initializer}
    node = producer.get(output)
    for _ in range(8):
        if node is None:
            return None
        if node.op_type in _LINEAR:
            return str(node.input[0])
        if node.op_type not in _HEAD_PASSTHROUGH:
            return None
        data = [i for i in node.input if i in producer and i not in weights]
        node = producer.get(data[0]) if data else None
    return None


def candidate_taps(model: Any, output: str | None = None) -> list[Tap]:
    """Hidden tensors of ``model`` (an ``onnx.ModelProto``) that can become graph outputs,
    in graph (topological) order; ``output`` (default: the first) marks the embedding."""
    inferred, infos = _inferred(model)
    batch = _batch_axis(inferred)
    outputs = {o.name for o in inferred.graph.output}
    roles = _roles(inferred)
    head = _head_input(inferred, output or inferred.graph.output[0].name)
    nodes = list(inferred.graph.node)
    # Tensors from the output layer on (logits, an output Sigmoid) are not hidden features.
    linear = [i for i, node in enumerate(nodes) if node.op_type in (*_LINEAR, "Conv")]
    taps: list[Tap] = []
    for node in nodes[: linear[-1]] if linear else nodes:
        for name in node.output:
            role = roles.get(name) or ((node.op_type, "pooled") if name == head else None)
            shape = _dims(infos[name]) if name in infos else None
            if role is None or name in outputs or shape is None or not _batched(shape, batch):
                continue
            taps.append(Tap(name, role[0], role[1], shape, head=name == head))
    return taps


def default_taps(taps: Sequence[Tap]) -> tuple[list[str], str | None]:
    """(hidden tensor names, embedding name) chosen when the user names none."""
    acts = [t for t in taps if t.role == "activation"] or [
        t for t in taps if t.role in ("linear", "conv")
    ]
    hidden: list[str] = []
    if acts:
        kinds = [t.kind for t in acts]
        kind = max(dict.fromkeys(kinds), key=kinds.count)  # the most common kind, first on ties
        same = [t for t in acts if t.kind == kind]
        keep = min(len(same), MAX_DEFAULT_TAPS)
        hidden = [same[j].name for _, j in uniform_layer_map(len(same), keep)]
    head = [t.name for t in taps if t.head and t.kind == "vector"]
    embedding = head[0] if head else (acts[-1].name if acts else None)
    return hidden, embedding


def _describe(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_MAX_LISTED])
    return shown + (f", … ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def _tappable(model: Any) -> dict[str, Any]:
    """Value infos of every node output that may become a graph output: not an output
    already, with an inferred shape of rank 2-4 whose first axis is the batch."""
    inferred, infos = _inferred(model)
    batch = _batch_axis(inferred)
    outputs = {o.name for o in inferred.graph.output}
    return {
        name: infos[name]
        for node in inferred.graph.node
        for name in node.output
        if name in infos and name not in outputs and _batched(_dims(infos[name]), batch)
    }


def _check_names(names: Sequence[str], model: Any, taps: Sequence[Tap], where: str) -> None:
    """Refuse a name that is not a tappable tensor, listing the candidates."""
    if not names:
        return
    usable = _tappable(model)
    outputs = {o.name for o in model.graph.output}
    produced = {out for node in model.graph.node for out in node.output}
    for name in names:
        if name in usable:
            continue
        candidates = [t.name for t in taps]
        close = difflib.get_close_matches(name, candidates, n=3)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        if name in outputs:
            why = "is a graph output, not a hidden tensor"
        elif name in produced:
            why = "has no inferred shape of rank 2-4 with the input's batch axis first"
        else:
            why = "is not produced by any node of the graph"
        raise ModelError(
            f"The tensor {name!r} given as {where} of the ONNX teacher {why}.{hint} "
            f"Candidate hidden tensors ({len(candidates)}): {_describe(candidates) or 'none'} "
            "(see 'potstill inspect TEACHER')."
        )


def with_outputs(model: Any, names: Sequence[str]) -> Any:
    """A copy of ``model`` whose graph also outputs ``names`` (validated, checked)."""
    import onnx

    _check_names(names, model, candidate_taps(model), "a feature")
    infos = _tappable(model)
    tapped = onnx.ModelProto()
    tapped.CopyFrom(model)
    existing = {o.name for o in tapped.graph.output}
    for name in dict.fromkeys(names):
        if name not in existing:
            tapped.graph.output.append(infos[name])
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError:
        return tapped  # the file itself does not pass the checker: onnxruntime is the judge
    try:
        onnx.checker.check_model(tapped)
    except onnx.checker.ValidationError as exc:
        raise ModelError(f"Adding {list(names)} as outputs breaks the ONNX graph: {exc}") from exc
    return tapped


def run_batched(
    session: Any, input_name: str, X: np.ndarray, names: list[str], fixed_batch: int | None
) -> list[np.ndarray]:
    """``session.run(names)`` over the rows of ``X``: in one call, or in chunks of a
    fixed-batch graph's size (the last chunk padded with its last row, then trimmed).
    A ZipMap output (a list of {label: probability} dicts) becomes an array."""
    step = fixed_batch or len(X)
    chunks = []
    for start in range(0, len(X), step):
        xb = X[start : start + step]
        n = len(xb)
        if fixed_batch and n < step:
            xb = np.concatenate([xb, np.repeat(xb[-1:], step - n, axis=0)])
        chunks.append([zipmap_to_array(a)[:n] for a in session.run(names, {input_name: xb})])
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


class OnnxTaps:
    """The taps of one ONNX teacher and the session that returns them with the logits.

    Built by :meth:`open`; ``features``/``embedding`` are the chosen tensor names (empty /
    None when the teacher exposes logits only). The tapped session is created on first use,
    so a teacher that is only timed or scored never builds it (timing uses the file as is).
    """

    def __init__(self, model: Any, output: str, features: list[str], embedding: str | None):
        self.model, self.output = model, output
        self.features, self.embedding = features, embedding
        self._session: Any = None

    @classmethod
    def open(
        cls, path: Path, output: str, features: Sequence[str] | None, embedding: str | None
    ) -> OnnxTaps:
        """Choose the taps of the ONNX file at ``path``: ``features=None`` for the defaults,
        ``[]`` for logits only (unless ``embedding`` is named)."""
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        try:
            if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
                raise ModelError("its weights are stored as external data (a graph over 2 GB)")
            taps = candidate_taps(model, output)
        except ModelError as exc:
            if features is not None or embedding is not None:
                raise ModelError(f"Cannot tap hidden tensors of '{path}': {exc}") from exc
            log.warning("%s: no hidden tensors exposed (%s); logits only.", path, exc)
            return cls(model, output, [], None)
        auto_hidden, auto_emb = default_taps(taps)
        hidden = auto_hidden if features is None else list(features)
        emb = embedding if embedding is not None else (auto_emb if features is None else None)
        _check_names(hidden, model, taps, "a feature")
        _check_names([emb] if emb else [], model, taps, "the embedding")
        return cls(model, output, hidden, emb)

    @property
    def capabilities(self) -> frozenset[str]:
        caps = {"hidden"} if self.features else set()
        return frozenset(caps | ({"embedding"} if self.embedding else set()))

    def names(self) -> list[str]:
        """The tensors the tapped session returns: the output first, then the taps."""
        extra = [*self.features, *([self.embedding] if self.embedding else [])]
        return list(dict.fromkeys([self.output, *extra]))

    def session(self) -> Any:
        """The onnxruntime session of the rewritten graph (built once)."""
        if self._session is None:
            import onnxruntime as ort

            tapped = with_outputs(self.model, self.names()[1:])
            options = ort.SessionOptions()
            options.log_severity_level = 3
            self._session = ort.InferenceSession(
                tapped.SerializeToString(), options, providers=["CPUExecutionProvider"]
            )
            self.model = None  # onnxruntime holds the graph now
        return self._session

    def outputs(
        self, arrays: Sequence[np.ndarray], logits: torch.Tensor, device: torch.device
    ) -> Outputs:
        """``Outputs`` from the session's arrays (in :meth:`names` order), on ``device``."""
        by_name = dict(zip(self.names(), arrays, strict=True))

        def tensor(name: str) -> torch.Tensor:
            return torch.from_numpy(np.asarray(by_name[name], dtype=np.float32)).to(device)

        emb = tensor(self.embedding) if self.embedding else None
        return Outputs(
            logits=logits.to(device),
            hidden=[tensor(n) for n in self.features] or None,
            embedding=None if emb is None else emb.reshape(len(emb), -1),
        )
