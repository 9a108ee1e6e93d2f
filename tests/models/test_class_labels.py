"""Teacher.class_labels: each kind of teacher says its output order, or None."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from torch import nn

from potstill.models import Teacher, load_teacher
from potstill.models.labels import hf_labels, labels_from


def _xy(n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    return X, np.where(X[:, 0] > 0, "good", "bad")


def test_sklearn_classes_are_its_column_order_as_strings() -> None:
    X, y = _xy()
    teacher = Teacher.from_sklearn(LogisticRegression().fit(X, y), problem="classification")
    assert teacher.class_labels() == ("bad", "good")  # scikit-learn sorts its classes_
    ints = LogisticRegression().fit(X, (y == "good").astype(int))
    assert Teacher.from_sklearn(ints, problem="classification").class_labels() == ("0", "1")
    floats = LogisticRegression().fit(X, (y == "good").astype(float))
    assert Teacher.from_sklearn(floats, problem="classification").class_labels() == ("0", "1")
    reg = Teacher.from_sklearn(LinearRegression().fit(X, X[:, 0]), problem="regression")
    assert reg.class_labels() is None


@pytest.mark.parametrize("meta", ['["good", "bad"]', "good, bad"])
def test_onnx_metadata_classes_json_or_comma_list(
    tmp_path: Path, linear_onnx: object, meta: str
) -> None:
    path = linear_onnx(tmp_path / "m.onnx", np.eye(3)[:, :2], np.zeros(2), classes=meta)  # type: ignore[operator]
    assert load_teacher(path, problem="classification").class_labels() == ("good", "bad")
    bare = linear_onnx(tmp_path / "bare.onnx", np.eye(3)[:, :2], np.zeros(2))  # type: ignore[operator]
    assert load_teacher(bare, problem="classification").class_labels() is None


def test_skl2onnx_pipeline_with_imputer_scores_probabilities_and_takes_nan(
    tmp_path: Path,
) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    X, y = _xy(80)
    pipe = make_pipeline(SimpleImputer(), LogisticRegression()).fit(X, y)
    path = tmp_path / "pipe.onnx"
    path.write_bytes(skl2onnx.to_onnx(pipe, X[:1]).SerializeToString())
    teacher = load_teacher(path, problem="classification")
    assert teacher.class_labels() == ("bad", "good")  # the ZipMap's keys
    rows = X[:6].copy()
    rows[0, 1] = rows[3, 0] = np.nan
    scores = teacher.predict_scores(rows)
    assert np.isfinite(scores).all() and scores.shape == (6, 2)
    np.testing.assert_allclose(scores, pipe.predict_proba(rows), atol=1e-5)


class _Named(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.class_names = ["good", "bad"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


def test_torch_and_torchscript_modules_with_class_names(tmp_path: Path) -> None:
    module = _Named().eval()
    assert Teacher.from_torch(module, problem="classification").class_labels() == ("good", "bad")
    path = tmp_path / "named.pt"
    with warnings.catch_warnings():  # TorchScript is deprecated; users still ship it
        warnings.filterwarnings("ignore", message=r".*torch\.jit.*", category=DeprecationWarning)
        torch.jit.script(module).save(str(path))
    assert load_teacher(path, problem="classification").class_labels() == ("good", "bad")
    plain = nn.Sequential(nn.Linear(3, 2))
    assert Teacher.from_torch(plain, problem="classification").class_labels() is None


def test_hf_id2label_by_id_and_default_names_unknown() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(id2label={1: "neg", 0: "pos", 2: "mixed"})
    assert hf_labels(config, 3) == ("pos", "neg", "mixed")
    assert hf_labels(transformers.BertConfig(num_labels=2), 2) is None  # LABEL_0, LABEL_1
    assert hf_labels(config, 2) is None  # does not name every output


def test_labels_from_normalises_values() -> None:
    assert labels_from(np.array([0.0, 1.0])) == ("0", "1")
    assert labels_from([b"a", b"b"]) == ("a", "b")
    assert labels_from(["only"]) is None and labels_from("ab") is None
