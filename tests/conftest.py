"""Fixtures shared across the test folders: small hand-built teacher files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

LinearOnnx = Callable[..., Path]


@pytest.fixture
def linear_onnx() -> LinearOnnx:
    """``make(path, W, b, classes=None)``: an ONNX file computing ``x @ W + b`` (logits),
    with ``classes`` written to its metadata (a comma list) when given."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    def make(
        path: Path, W: np.ndarray, b: np.ndarray, classes: Sequence[str] | str | None = None
    ) -> Path:
        W = np.asarray(W, dtype=np.float32)
        b = np.asarray(b, dtype=np.float32)
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "W"], ["xw"]),
             helper.make_node("Add", ["xw", "b"], ["logits"])],
            "linear",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, W.shape[0]])],
            [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, W.shape[1]])],
            [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")],
        )  # fmt: skip
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        if classes is not None:
            text = classes if isinstance(classes, str) else ",".join(classes)
            helper.set_model_props(model, {"classes": text})
        onnx.checker.check_model(model)
        onnx.save(model, str(path))
        return path

    return make


@pytest.fixture(autouse=True)
def _students_trained_in_every_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test trains its own students: reuse across studies (a cache shared by every run
    on the machine) would make a test depend on what ran before it. The student-cache tests
    turn it back on."""
    monkeypatch.setenv("POTSTILL_REUSE_STUDENTS", "0")
