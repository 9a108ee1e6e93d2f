"""An ONNX teacher through `potstill distill` with feature and relation methods, and the
YAML `teacher.features` / `teacher.embedding` choices through the study's teacher loader."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier
from torch import nn

from potstill.cli import main
from potstill.errors import ConfigError
from potstill.train.config import TrainConfig
from potstill.types import DatasetInfo, Split, Task
from potstill.zoo import TeacherSpec, get_teacher

RNG = np.random.default_rng(0)
X = RNG.normal(size=(240, 6)).astype(np.float32)
Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.5).astype(np.int64)


@pytest.fixture(scope="module")
def onnx_teacher(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("onnx-user")
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 3)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):  # the user's own trained model
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(Y)).backward()
        optimiser.step()
    path = root / "teacher.onnx"
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r".*legacy TorchScript-based ONNX export", category=DeprecationWarning
        )
        torch.onnx.export(
            model.eval(), (torch.from_numpy(X[:2]),), str(path), dynamo=False,
            input_names=["x"], output_names=["logits"],
            dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        )  # fmt: skip
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]).assign(label=Y)
    frame.to_csv(root / "rows.csv", index=False)
    return path, root / "rows.csv"


def test_distill_onnx_teacher_with_fitnet_and_rkd(
    onnx_teacher: tuple[Path, Path], tmp_path: Path
) -> None:
    path, csv = onnx_teacher
    out = tmp_path / "out"
    args = ["distill", "--teacher", str(path), "--data", str(csv), "--target", "label"]
    args += ["--method", "fitnet", "--method", "rkd", "--quick", "--out", str(out)]
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code in (0, None)
    records = {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}
    assert {k: r["status"] for k, r in records.items()} == {
        "system__scratch": "ok", "system__fitnet": "ok", "system__rkd": "ok",
    }  # fmt: skip
    teacher = records["system__fitnet"]["teacher"]
    assert teacher["backend"] == "onnx"
    assert teacher["capabilities"] == ["embedding", "hidden", "logits"]
    assert teacher["architecture"]["features"] == ["/1/Relu_output_0", "/3/Relu_output_0"]
    assert records["system__rkd"]["quality"]["teacher"]["value"] > 0.8


def _task() -> Task:
    return Task(
        name="t", sector="other", kind="tabular", problem="classification",
        train=Split(X[:160], Y[:160]), val=Split(X[160:200], Y[160:200]),
        test=Split(X[200:], Y[200:]), metric="accuracy", n_classes=3,
        info=DatasetInfo("t", "generated", "n/a"),
    )  # fmt: skip


def test_yaml_features_reach_the_teacher_or_are_refused(
    onnx_teacher: tuple[Path, Path], tmp_path: Path
) -> None:
    path, _ = onnx_teacher
    spec = TeacherSpec(path=path, features=["/2/Gemm_output_0"], embedding="/1/Relu_output_0")
    teacher, _ = get_teacher("s", _task(), spec, seed=0, train_cfg=TrainConfig())
    assert teacher.hidden_layer_names() == ["/2/Gemm_output_0"]
    assert teacher.embedding_layer_name() == "/1/Relu_output_0"
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, Y)
    joblib.dump(forest, tmp_path / "rf.joblib")
    tree = TeacherSpec(path=tmp_path / "rf.joblib", trust_pickle=True, features=["x"])
    with pytest.raises(ConfigError, match=r"teacher\.features names hidden"):
        get_teacher("s", _task(), tree, seed=0, train_cfg=TrainConfig())
    off = TeacherSpec(path=tmp_path / "rf.joblib", trust_pickle=True, leaf_embedding=0)
    assert get_teacher("s", _task(), off, seed=0, train_cfg=TrainConfig())[0].capabilities == {
        "logits"
    }
