"""Teacher adapters (torch, scikit-learn, XGBoost, ONNX) and load_teacher's formats."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.svm import SVC

from potstill.errors import ConfigError, ModelError, UnsafeModelError
from potstill.models.arch.ensemble import DeepEnsemble
from potstill.models.arch.mlp import MLP
from potstill.models.backends import PROBA_EPS
from potstill.models.export import save_model
from potstill.models.predict import predict_scores
from potstill.models.teacher import Teacher, load_teacher

RNG = np.random.default_rng(0)
X = RNG.normal(size=(60, 4)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)  # 3 classes


def _mlp(out: int = 3) -> MLP:
    torch.manual_seed(0)
    return MLP(4, [6, 5], out).eval()


@pytest.fixture(scope="module")
def gbc() -> GradientBoostingClassifier:
    return GradientBoostingClassifier(n_estimators=5, max_depth=2, random_state=0).fit(X, Y)


def test_torch_teacher_defaults_features_from_the_module() -> None:
    model = _mlp()
    teacher = Teacher.from_torch(model, problem="classification")
    assert (teacher.backend, teacher.name, teacher.module) == ("torch", "teacher", model)
    assert teacher.capabilities == {"logits", "hidden", "embedding"}
    out = teacher.outputs(torch.from_numpy(X[:7]))
    assert out.hidden is not None and [h.shape for h in out.hidden] == [(7, 6), (7, 5)]
    assert out.embedding.shape == (7, 5) and not out.logits.requires_grad
    np.testing.assert_allclose(
        teacher.predict_scores(X), predict_scores(model, X, problem="classification")
    )
    np.testing.assert_allclose(teacher.predict_fn()(X[:3]), teacher.predict_scores(X[:3]))
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0  # no hooks left behind
    logits_only = Teacher.from_torch(model, problem="classification", features=())
    assert logits_only.capabilities == {"logits", "embedding"}


def test_torch_teacher_describe_is_json() -> None:
    desc = Teacher.from_torch(_mlp(), problem="classification", name="t").describe()
    assert desc["params"] == (4 * 6 + 6 + 12) + (6 * 5 + 5 + 10) + (5 * 3 + 3)
    assert desc["architecture"]["type"] == "MLP" and desc["backend"] == "torch"
    json.dumps(desc)


def test_torch_teacher_refuses_bad_layers_and_problem_mismatch() -> None:
    with pytest.raises(ModelError, match="Unknown layer name"):
        Teacher.from_torch(_mlp(), problem="classification", features=["blocks.9"])
    ensemble = DeepEnsemble([_mlp(1)], problem="regression")
    with pytest.raises(ConfigError, match="built for regression"):
        Teacher.from_torch(ensemble, problem="classification")


def test_sklearn_teacher_is_a_black_box_with_log_probability_logits(
    gbc: GradientBoostingClassifier,
) -> None:
    teacher = Teacher.from_sklearn(gbc, problem="classification")
    assert teacher.backend == "sklearn" and teacher.module is None
    # a tree ensemble also exposes its leaf-membership embedding (relation methods)
    assert teacher.capabilities == {"logits", "embedding"}
    assert teacher.name == "GradientBoostingClassifier"
    proba = gbc.predict_proba(X)
    np.testing.assert_allclose(teacher.predict_scores(X, batch_size=7), proba)
    out = teacher.outputs(torch.from_numpy(X))
    assert out.available() == {"logits", "embedding"} and out.logits.dtype == torch.float32
    assert out.embedding.shape[0] == len(X) and out.embedding.ndim == 2
    logits_only = Teacher.from_sklearn(gbc, problem="classification", leaf_width=0)
    assert logits_only.capabilities == {"logits"}
    np.testing.assert_allclose(out.logits.numpy(), np.log(np.clip(proba, PROBA_EPS, 1)), rtol=1e-6)
    np.testing.assert_allclose(teacher.predict_fn()(X), proba)
    desc = teacher.describe()
    assert desc["params"] is None and desc["architecture"]["classes"] == [0, 1, 2]
    assert desc["architecture"]["params"]["n_estimators"] == 5
    json.dumps(desc)


def test_sklearn_regressor_gives_column_logits() -> None:
    reg = GradientBoostingRegressor(n_estimators=5, random_state=0).fit(X, X[:, 0])
    teacher = Teacher.from_sklearn(reg, problem="regression")
    np.testing.assert_allclose(teacher.predict_scores(X), reg.predict(X))
    assert teacher.outputs(torch.from_numpy(X[:4])).logits.shape == (4, 1)


def test_sklearn_without_predict_proba_is_refused() -> None:
    with pytest.raises(ModelError, match=r"must have a 'predict_proba' method.*probability=True"):
        Teacher.from_sklearn(SVC().fit(X, Y), problem="classification")


def test_xgboost_teacher() -> None:
    xgboost = pytest.importorskip("xgboost")
    model = xgboost.XGBClassifier(n_estimators=4, max_depth=2, n_jobs=1, random_state=0).fit(X, Y)
    teacher = Teacher.from_sklearn(model, problem="classification", name="xgb")
    assert teacher.capabilities == {"logits", "embedding"}
    np.testing.assert_allclose(teacher.predict_scores(X), model.predict_proba(X), rtol=1e-6)
    logits = teacher.outputs(torch.from_numpy(X[:5])).logits
    np.testing.assert_allclose(logits.exp().numpy(), model.predict_proba(X[:5]), rtol=1e-5)
    json.dumps(teacher.describe())


def _export_onnx(model: torch.nn.Module, path: Path, dynamic: bool = True) -> None:
    with warnings.catch_warnings():
        # torch 2.13 deprecates the TorchScript-based exporter that dynamo=False selects (the
        # export itself is what the test needs; the costs box owns the production exporter).
        warnings.filterwarnings(
            "ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        torch.onnx.export(
            model,
            (torch.from_numpy(X[:2]),),
            str(path),
            dynamo=False,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}} if dynamic else None,
        )


def test_onnx_teacher_matches_the_torch_model(tmp_path: Path) -> None:
    model = _mlp()
    _export_onnx(model, tmp_path / "mlp.onnx")
    teacher = load_teacher(tmp_path / "mlp.onnx", problem="classification")
    assert (teacher.backend, teacher.name) == ("onnx", "mlp")
    assert teacher.capabilities == {"logits", "hidden", "embedding"}  # graph outputs added
    expected = predict_scores(model, X, problem="classification")
    np.testing.assert_allclose(teacher.predict_scores(X, batch_size=16), expected, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(
            teacher.outputs(torch.from_numpy(X)).logits, model(torch.from_numpy(X))
        )
    desc = teacher.describe()
    assert desc["params"] == sum(p.numel() for p in model.parameters())
    json.dumps(desc)


def test_onnx_fixed_batch_and_probability_outputs(tmp_path: Path) -> None:
    model = torch.nn.Sequential(_mlp(), torch.nn.Softmax(dim=1)).eval()
    _export_onnx(model, tmp_path / "fixed.onnx", dynamic=False)  # batch fixed at 2
    teacher = Teacher.from_onnx(
        tmp_path / "fixed.onnx", problem="classification", scores="probabilities"
    )
    with torch.no_grad():
        proba = model(torch.from_numpy(X[:5])).numpy()
    # 5 rows through a batch-2 graph: the last chunk is padded, then trimmed
    np.testing.assert_allclose(teacher.predict_scores(X[:5]), proba, rtol=1e-5)
    logits = teacher.outputs(torch.from_numpy(X[:5])).logits.numpy()
    np.testing.assert_allclose(logits, np.log(np.clip(proba, PROBA_EPS, 1)), rtol=1e-5)
    with pytest.raises(ModelError, match=r"'output' parameter of Teacher\.from_onnx"):
        Teacher.from_onnx(tmp_path / "fixed.onnx", problem="classification", output="probs")


def test_onnx_teacher_refuses_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx model")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        load_teacher(bad, problem="classification")


def test_pickles_are_refused_unless_trusted(
    tmp_path: Path, gbc: GradientBoostingClassifier
) -> None:
    path = tmp_path / "gbc.joblib"
    joblib.dump(gbc, path)
    with pytest.raises(UnsafeModelError, match=r"executes arbitrary code.*trust_pickle=True"):
        load_teacher(path, problem="classification")
    teacher = load_teacher(path, problem="classification", trust_pickle=True)
    assert teacher.backend == "sklearn"
    np.testing.assert_allclose(teacher.predict_scores(X), gbc.predict_proba(X))


def test_whole_pickled_torch_module_needs_trust(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    model = _mlp()
    torch.save(model, path)
    with pytest.raises(UnsafeModelError, match="pickled Python objects"):
        load_teacher(path, problem="classification")
    teacher = load_teacher(path, problem="classification", trust_pickle=True)
    np.testing.assert_allclose(
        teacher.predict_scores(X), predict_scores(model, X, problem="classification")
    )


def test_state_dicts_need_an_architecture(tmp_path: Path) -> None:
    model = _mlp()
    expected = predict_scores(model, X, problem="classification")
    pt, st = tmp_path / "w.pt", tmp_path / "w.safetensors"
    torch.save(model.state_dict(), pt)
    save_file(model.state_dict(), st)
    for path in (pt, st):
        with pytest.raises(ModelError, match=r"architecture=<dict>.*--teacher-architecture"):
            load_teacher(path, problem="classification")
        teacher = load_teacher(path, problem="classification", architecture=model.spec())
        assert teacher.capabilities == {"logits", "hidden", "embedding"}
        np.testing.assert_allclose(teacher.predict_scores(X), expected)
    wrong = MLP(4, [7], 3).spec()
    with pytest.raises(ModelError, match="do not fit the MLP architecture"):
        load_teacher(pt, problem="classification", architecture=wrong)


def test_potstill_directory_and_unknown_formats(tmp_path: Path) -> None:
    model = _mlp()
    save_model(model, tmp_path / "saved")
    teacher = load_teacher(tmp_path / "saved", problem="classification")
    np.testing.assert_allclose(
        teacher.predict_scores(X), predict_scores(model, X, problem="classification")
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match=r"has no model\.json"):
        load_teacher(tmp_path / "empty", problem="classification")
    (tmp_path / "m.h5").write_bytes(b"")
    with pytest.raises(ModelError, match=r"Unknown teacher format '.h5'.*\.onnx"):
        load_teacher(tmp_path / "m.h5", problem="classification")
    with pytest.raises(ModelError, match="does not exist"):
        load_teacher(tmp_path / "nope.onnx", problem="classification")
