"""ONNX export, the agreement check that gates timing, and INT8 re-measurement."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from potstill.costs import BenchTarget, export_onnx, measure, runtime_predictor
from potstill.costs import runtimes as runtimes_module
from potstill.costs.config import BenchConfig
from potstill.costs.onnx_export import (
    INT8_SETTINGS,
    check_agreement,
    compare_outputs,
    int8_settings,
    quantize_int8,
)
from potstill.costs.runtimes import BuildContext, create_runtime
from potstill.errors import BenchError, ModelError


def eager(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def test_export_matches_eager_at_any_batch_size(
    tmp_path: Path, teacher: nn.Module, rows: np.ndarray
) -> None:
    path = export_onnx(teacher, rows, tmp_path / "t.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    for n in (1, 5, 64):
        out = session.run(None, {"input": rows[:n]})[0]
        np.testing.assert_allclose(out, eager(teacher, rows[:n]), atol=1e-5)


def test_export_of_a_small_cnn_on_images(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 26 * 26, 4))
    images = np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32)
    path = export_onnx(cnn, images, tmp_path / "c.onnx")
    out = ort.InferenceSession(str(path)).run(None, {"input": images})[0]
    np.testing.assert_allclose(out, eager(cnn, images), atol=1e-5)


def test_export_failure_is_a_model_error(tmp_path: Path, rows: np.ndarray) -> None:
    class DataDependent(nn.Module):  # Python control flow on a tensor value
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2 if x.sum() > 0 else -x

    with pytest.raises(ModelError, match=r"Cannot export DataDependent to ONNX .*TorchExportError"):
        export_onnx(DataDependent(), rows, tmp_path / "n.onnx")


def test_compare_outputs_by_hand() -> None:
    ref = np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0]])
    cand = np.array([[1.0, 2.5], [2.0, 0.0], [1.5, 1.0]])
    report = compare_outputs(ref, cand, atol=0.1, rtol=0.0)
    assert report["max_abs_diff"] == 1.5
    assert report["agreement"] == pytest.approx(2 / 3)  # the third row's argmax flips
    assert report["agreement_rule"] == "argmax equal" and report["n_rows"] == 3
    # One output column: agreement = within atol + rtol × max|ref| = 0 + 0.001 × 2.
    single = compare_outputs(
        np.array([[1.0], [2.0]]), np.array([[1.0], [2.01]]), atol=0.0, rtol=1e-3
    )
    assert single["tolerance"] == pytest.approx(0.002) and single["agreement"] == 0.5
    with pytest.raises(BenchError, match="shape"):
        compare_outputs(ref, cand[:2], atol=0, rtol=0)


def test_check_agreement_names_both_failures() -> None:
    report = {"max_abs_diff": 0.5, "tolerance": 0.01, "agreement": 0.9, "n_rows": 10}
    with pytest.raises(
        BenchError,
        match=r"ONNX export of 'm' failed validation.*max abs "
        r"difference 0\.5 > tolerance 0\.01; prediction agreement 0\.9000 < "
        r"required 0\.9900",
    ):
        check_agreement(report, min_agreement=0.99, where="ONNX export of 'm'")
    check_agreement(
        {**report, "max_abs_diff": 0.0, "agreement": 1.0}, min_agreement=0.99, where="x"
    )


@pytest.fixture
def wrong_export(monkeypatch: pytest.MonkeyPatch, make_mlp: Callable[..., nn.Module]) -> None:
    """Make every export write a *different* network, as a broken exporter would."""

    def export_other(module: nn.Module, example: np.ndarray, path: Path) -> Path:
        return export_onnx(make_mlp(32, seed=99), example, path)

    monkeypatch.setattr(runtimes_module, "export_onnx", export_other)


@pytest.mark.usefixtures("wrong_export")
def test_a_disagreeing_export_is_refused_before_timing(
    tmp_path: Path, teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    target = BenchTarget("t", teacher, None, rows)
    with pytest.raises(BenchError, match="ONNX export of 't' failed validation"):
        create_runtime("onnx", target, BuildContext(tmp_path))
    with pytest.raises(BenchError, match="failed validation"):
        measure([target], quick.model_copy(update={"on_runtime_failure": "raise"}))
    profiles = measure([target], quick)  # default: skip, with the reason recorded
    assert [p.runtime for p in profiles] == ["eager"]
    skipped = profiles[0].settings["skipped_runtimes"]
    assert set(skipped) == {"onnx", "onnx-int8"}  # INT8 is never built on a bad export
    assert "failed validation" in skipped["onnx"] and "failed validation" in skipped["onnx-int8"]


def test_int8_accuracy_is_remeasured_through_runtime_predictor(teacher: nn.Module) -> None:
    x = np.random.default_rng(1).standard_normal((600, 8)).astype(np.float32)
    labels = eager(teacher, x).argmax(axis=1)  # the task: reproduce the teacher
    target = BenchTarget("t", teacher, None, x[:64])
    fp32 = runtime_predictor(target, "onnx")(x)
    int8 = runtime_predictor(target, "onnx-int8")(x)
    assert (fp32.argmax(axis=1) == labels).mean() == 1.0
    int8_accuracy = float((int8.argmax(axis=1) == labels).mean())
    assert np.abs(int8 - eager(teacher, x)).max() > 1e-4  # really quantized, not FP32 again
    assert 0.9 <= int8_accuracy <= 1.0  # measured, not assumed equal to FP32's
    np.testing.assert_allclose(runtime_predictor(target, "eager")(x), eager(teacher, x))


def test_runtime_predictor_refuses_unknown_or_inapplicable(
    teacher: nn.Module, rows: np.ndarray
) -> None:
    target = BenchTarget("t", teacher, None, rows)
    with pytest.raises(BenchError, match=r"Unknown runtime 'tensorrt'. Valid runtimes: .*eager"):
        runtime_predictor(target, "tensorrt")
    with pytest.raises(BenchError, match="does not apply"):
        runtime_predictor(target, "native")
    box = BenchTarget("box", None, lambda x: x.sum(axis=1, keepdims=True), rows)
    np.testing.assert_allclose(runtime_predictor(box, "native")(rows), rows.sum(1, keepdims=True))
    with pytest.raises(BenchError, match="does not apply"):
        runtime_predictor(box, "onnx")


def _custom_op_graph(path: Path) -> Path:
    """A graph whose last op (an unknown custom domain) defeats symbolic shape inference."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 2], np.ones(8, np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]),
         helper.make_node("Foo", ["h"], ["y"], domain="com.example")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w],
    )  # fmt: skip
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(path))
    return path


def test_int8_quantization_writes_nothing_into_the_working_directory(
    tmp_path: Path,
    teacher: nn.Module,
    rows: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """ONNX Runtime saves sym_shape_infer_temp.onnx into the current directory when shape
    inference is incomplete; quantization runs in a temporary directory instead. A graph
    that defeats shape inference is quantised as exported, and its file and settings say
    that the pre-processing was skipped and why."""
    cwd, out = tmp_path / "cwd", tmp_path / "out"
    cwd.mkdir()
    out.mkdir()
    monkeypatch.chdir(cwd)
    custom = quantize_int8(_custom_op_graph(out / "custom.onnx"), out / "custom.int8.onnx")
    assert custom["pre_process"].startswith("skipped (shape inference failed:")
    assert "Incomplete symbolic shape inference" in custom["pre_process"]
    assert int8_settings(out / "custom.int8.onnx") == custom
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]
    plain = quantize_int8(export_onnx(teacher, rows, out / "t.onnx"), out / "t.int8.onnx")
    assert plain == INT8_SETTINGS
    assert list(cwd.iterdir()) == []
    names = ["custom.int8.onnx", "custom.onnx", "t.int8.onnx", "t.onnx"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert Path.cwd() == cwd


def test_outputs_that_are_labels_not_numbers_are_refused_as_a_bench_error() -> None:
    """A saved classifier graph whose first output is its string labels (skl2onnx's
    default) cannot be compared across runtimes: a BenchError skips that runtime."""
    labels = np.array(["bad", "good", "bad"], dtype=object)
    with pytest.raises(BenchError, match="class labels"):
        compare_outputs(labels, labels, atol=1e-5, rtol=1e-4)
