"""ONNX teachers expose hidden tensors: candidates, defaults, validation, equal logits."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from potstill.errors import ModelError
from potstill.methods import applicability_reason
from potstill.models.onnx_taps import MAX_DEFAULT_TAPS, candidate_taps, default_taps, with_outputs
from potstill.models.teacher import Teacher, TeacherTaps
from potstill.models.teacher_load import load_teacher

RNG = np.random.default_rng(0)
X = RNG.normal(size=(9, 6)).astype(np.float32)
IMAGES = RNG.normal(size=(5, 1, 8, 8)).astype(np.float32)
STUDENT = frozenset({"logits", "hidden", "embedding"})


def _mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 12), nn.GELU(), nn.Linear(12, 3)
    ).eval()


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    ).eval()  # fmt: skip


def export(model: nn.Module, example: np.ndarray, path: Path, dynamic: bool = True) -> Path:
    """The legacy exporter (named tensors such as '/1/Relu_output_0'), dynamic batch axis."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        torch.onnx.export(
            model,
            (torch.from_numpy(example[:2]),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}} if dynamic else None,
        )
    return path


def _plain_logits(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["logits"], {"x": x})[0])


def _hooked(model: nn.Module, x: np.ndarray, index: int) -> np.ndarray:
    seen: dict[str, torch.Tensor] = {}
    handle = model[index].register_forward_hook(lambda _m, _i, out: seen.update(out=out))
    with torch.no_grad():
        model(torch.from_numpy(x))
    handle.remove()
    return seen["out"].numpy()


@pytest.fixture(scope="module")
def mlp_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    model = _mlp()
    return model, export(model, X, tmp_path_factory.mktemp("onnx") / "mlp.onnx")


@pytest.fixture(scope="module")
def cnn_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[nn.Module, Path]:
    model = _cnn()
    return model, export(model, IMAGES, tmp_path_factory.mktemp("onnx") / "cnn.onnx")


def test_mlp_candidates_and_defaults(mlp_onnx: tuple[nn.Module, Path]) -> None:
    _, path = mlp_onnx
    taps = candidate_taps(onnx.load(str(path)))
    assert [(t.op, t.role, t.shape) for t in taps] == [
        ("Gemm", "linear", ("n", 16)),
        ("Relu", "activation", ("n", 16)),
        ("Gemm", "linear", ("n", 12)),
        ("Gelu", "activation", ("n", 12)),
    ]  # the output layer and the logits are not hidden features
    hidden, embedding = default_taps(taps)
    assert hidden == [taps[1].name, taps[3].name] and embedding == taps[3].name
    assert taps[3].head and all(t.kind == "vector" for t in taps)


def test_mlp_teacher_outputs_logits_equal_and_hidden_equal_torch(
    mlp_onnx: tuple[nn.Module, Path],
) -> None:
    model, path = mlp_onnx
    teacher = load_teacher(path, problem="classification")
    assert teacher.capabilities == {"logits", "hidden", "embedding"}
    assert teacher.hidden_layer_names() == ["/1/Relu_output_0", "/3/Gelu_output_0"]
    out = teacher.outputs(torch.from_numpy(X))
    np.testing.assert_allclose(out.logits.numpy(), _plain_logits(path, X), rtol=1e-6, atol=1e-6)
    assert out.hidden is not None and [tuple(h.shape) for h in out.hidden] == [(9, 16), (9, 12)]
    np.testing.assert_allclose(out.hidden[0].numpy(), _hooked(model, X, 1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.embedding.numpy(), _hooked(model, X, 3), rtol=1e-5, atol=1e-5)
    # timing and scoring use the file as it is; the tapped session is built apart
    np.testing.assert_allclose(teacher.predict_fn()(X), _plain_logits(path, X), rtol=1e-6)
    picked = teacher.outputs(torch.from_numpy(X), hidden=[teacher.hidden_layer_names()[1]] * 2)
    assert picked.hidden is not None and len(picked.hidden) == 2
    torch.testing.assert_close(picked.hidden[0], out.hidden[1])
    arch = teacher.describe()["architecture"]
    assert (
        arch["features"] == teacher.hidden_layer_names() and arch["embedding"] == "/3/Gelu_output_0"
    )


def test_user_chosen_taps_and_refusals(mlp_onnx: tuple[nn.Module, Path]) -> None:
    _, path = mlp_onnx
    chosen = TeacherTaps(features=["/0/Gemm_output_0"], embedding="/1/Relu_output_0")
    teacher = load_teacher(path, problem="classification", taps=chosen)
    out = teacher.outputs(torch.from_numpy(X[:3]))
    assert teacher.hidden_layer_names() == ["/0/Gemm_output_0"] and out.embedding.shape == (3, 16)
    off = Teacher.from_onnx(path, problem="classification", features=[])
    assert off.capabilities == {"logits"} and off.outputs(torch.from_numpy(X)).hidden is None
    with pytest.raises(
        ModelError, match=r"'/1/Relu_output' given as a feature.*not produced.*Did you mean"
    ):
        Teacher.from_onnx(path, problem="classification", features=["/1/Relu_output"])
    with pytest.raises(
        ModelError, match=r"'logits' given as the embedding.*graph output.*Candidate hidden"
    ):
        Teacher.from_onnx(path, problem="classification", embedding="logits")
    with pytest.raises(ModelError, match="exposes no hidden"):
        off.outputs(torch.from_numpy(X), hidden=["/1/Relu_output_0"])


def test_with_outputs_adds_checked_outputs_and_keeps_the_file(
    mlp_onnx: tuple[nn.Module, Path],
) -> None:
    _, path = mlp_onnx
    model = onnx.load(str(path))
    tapped = with_outputs(model, ["/1/Relu_output_0"])
    onnx.checker.check_model(tapped)
    assert [o.name for o in tapped.graph.output] == ["logits", "/1/Relu_output_0"]
    assert [o.name for o in model.graph.output] == ["logits"]  # the original is untouched
    with pytest.raises(ModelError, match="not produced by any node"):
        with_outputs(model, ["nope"])


def test_fixed_batch_graph_pads_the_tapped_run(tmp_path: Path) -> None:
    model = _mlp()
    path = export(model, X, tmp_path / "fixed.onnx", dynamic=False)  # batch fixed at 2
    teacher = load_teacher(path, problem="classification")
    out = teacher.outputs(torch.from_numpy(X[:5]))  # 5 rows through a batch-2 graph
    assert out.hidden is not None and out.hidden[0].shape == (5, 16)
    np.testing.assert_allclose(out.hidden[0].numpy(), _hooked(model, X[:5], 1), rtol=1e-5)


def test_deep_graph_taps_at_most_eight_evenly(tmp_path: Path) -> None:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(12):
        layers += [nn.Linear(6, 6), nn.Tanh()]
    path = export(nn.Sequential(*layers, nn.Linear(6, 2)).eval(), X, tmp_path / "deep.onnx")
    taps = candidate_taps(onnx.load(str(path)))
    acts = [t.name for t in taps if t.role == "activation"]
    hidden, _ = default_taps(taps)
    assert len(acts) == 12 and len(hidden) == MAX_DEFAULT_TAPS and hidden[-1] == acts[-1]
    assert hidden == sorted(set(hidden), key=acts.index)  # distinct, in depth order


def test_cnn_nchw_taps_are_maps_and_at_applies(cnn_onnx: tuple[nn.Module, Path]) -> None:
    model, path = cnn_onnx
    teacher = load_teacher(path, problem="classification")
    out = teacher.outputs(torch.from_numpy(IMAGES))
    np.testing.assert_allclose(out.logits.numpy(), _plain_logits(path, IMAGES), rtol=1e-5)
    assert out.hidden is not None
    assert [tuple(h.shape) for h in out.hidden] == [(5, 4, 8, 8), (5, 8, 4, 4)]
    np.testing.assert_allclose(out.hidden[1].numpy(), _hooked(model, IMAGES, 4), atol=1e-5)
    assert out.embedding.shape == (5, 8)  # the pooled vector the classifier reads
    kinds = {t.kind for t in candidate_taps(onnx.load(str(path))) if t.role == "activation"}
    assert kinds == {"map"}
    for method in ("at", "fitnet", "rkd", "pkt", "cc", "sp"):
        reason = applicability_reason(
            [method], teacher_capabilities=teacher.capabilities, student_capabilities=STUDENT,
            problem="classification", hidden_kind="map",
        )  # fmt: skip
        assert reason is None, (method, reason)


def test_external_data_graph_stays_logits_only_unless_taps_are_named(
    mlp_onnx: tuple[nn.Module, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, path = mlp_onnx
    big = tmp_path / "external.onnx"
    onnx.save_model(
        onnx.load(str(path)), str(big), save_as_external_data=True, size_threshold=0,
        all_tensors_to_one_file=True, location="external.data",
    )  # fmt: skip
    teacher = Teacher.from_onnx(big, problem="classification")
    assert teacher.capabilities == {"logits"} and "external data" in caplog.text
    np.testing.assert_allclose(teacher.predict_fn()(X), _plain_logits(path, X), rtol=1e-6)
    with pytest.raises(ModelError, match=r"Cannot tap hidden tensors.*external data"):
        Teacher.from_onnx(big, problem="classification", features=["/1/Relu_output_0"])
