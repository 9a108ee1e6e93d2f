"""quantization_kind reads what an ONNX file's quantisation does from its graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from potstill.models.hf.int8 import quantization_kind  # noqa: E402


def _save(tmp_path: Path, name: str, nodes: list, inits: list) -> Path:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph(nodes, name, [x], [y], initializer=inits)
    path = tmp_path / f"{name}.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def test_integer_weight_only_and_float_graphs(tmp_path: Path) -> None:
    w8 = numpy_helper.from_array(np.ones((2, 2), np.int8), "w_q")
    wf = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    weight_only = _save(tmp_path, "weight_only", [
        helper.make_node("Cast", ["w_q"], ["w"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["x", "w"], ["y"]),
    ], [w8])  # fmt: skip
    integer = _save(tmp_path, "integer", [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "s", "z"]),
        helper.make_node("MatMulInteger", ["xq", "w_q"], ["yi"]),
        helper.make_node("Cast", ["yi"], ["y"], to=TensorProto.FLOAT),
    ], [w8])  # fmt: skip
    plain = _save(tmp_path, "plain", [helper.make_node("MatMul", ["x", "w"], ["y"])], [wf])
    assert quantization_kind(weight_only) == "weight-only"
    assert quantization_kind(integer) == "integer compute"
    assert quantization_kind(plain) == "none"
