"""`potstill distill` end to end on teachers in their own formats: a traced TorchScript MLP
(response and feature methods) and gradient-boosted trees saved by XGBoost and LightGBM
(response methods, and relation methods on their leaf embedding)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import lightgbm
import numpy as np
import pytest
import torch
import xgboost
from sklearn.datasets import load_breast_cancer
from torch import nn

from potstill.cli import main

COLUMNS = [0, 1, 2, 3, 6, 7, 20, 21, 22, 27, 30]


class Standardize(nn.Module):
    """The scaling a deployed model carries inside itself (buffers, no weights)."""

    def __init__(self, X: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(X.mean(axis=0)))
        self.register_buffer("std", torch.from_numpy(X.std(axis=0) + 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.get_buffer("mean")) / self.get_buffer("std")


class Net(nn.Module):
    def __init__(self, X: np.ndarray) -> None:
        super().__init__()
        self.net = nn.Sequential(
            Standardize(X), nn.Linear(X.shape[1], 128), nn.ReLU(), nn.Linear(128, 64),
            nn.ReLU(), nn.Linear(64, 2),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture(scope="module")
def user_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    root = tmp_path_factory.mktemp("formats")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, COLUMNS]
    frame = frame.rename(columns={"target": "benign"})
    csv = root / "tumours.csv"
    frame.to_csv(csv, index=False)
    X = frame.drop(columns="benign").to_numpy(np.float32)
    return csv, X, frame["benign"].to_numpy()


def _torchscript_teacher(X: np.ndarray, y: np.ndarray, path: Path) -> Path:
    torch.manual_seed(0)
    model = Net(X)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    inputs, labels = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(150):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(inputs), labels).backward()
        optimiser.step()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.", category=DeprecationWarning)
        torch.jit.trace(model.eval(), inputs[:2]).save(str(path))
    return path


def _distill(csv: Path, teacher: Path, out: Path, *methods: str) -> dict[str, Any]:
    args = ["distill", "--teacher", str(teacher), "--data", str(csv), "--target", "benign"]
    for method in methods:
        args += ["--method", method]
    with pytest.raises(SystemExit) as info:
        main([*args, "--quick", "--out", str(out)])
    assert int(info.value.code or 0) == 0
    return {p.stem: json.loads(p.read_text()) for p in (out / "records").glob("*.json")}


def test_torchscript_teacher_distils_with_response_and_feature_methods(
    user_data: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    csv, X, y = user_data
    teacher = _torchscript_teacher(X, y, tmp_path / "mlp.pt")
    records = _distill(csv, teacher, tmp_path / "out", "kd", "fitnet")
    assert {k: r["status"] for k, r in records.items()} == {
        "system__scratch": "ok", "system__kd": "ok", "system__fitnet": "ok",
    }  # fmt: skip
    kd, fitnet = records["system__kd"], records["system__fitnet"]
    assert kd["teacher"]["backend"] == "torch"
    assert kd["teacher"]["architecture"] == {
        "type": "TorchScript", "original_name": "Net", "hidden_layers": ["net.2", "net.4"],
    }  # fmt: skip
    assert fitnet["family"] == "feature"
    assert kd["quality"]["teacher"]["value"] > 0.85
    assert kd["quality"]["retention"]["value"] > 0.8
    assert fitnet["quality"]["retention"]["value"] > 0.8


@pytest.mark.parametrize("suffix", [".json", ".txt"])
def test_gbm_files_distil_as_black_boxes(
    user_data: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path, suffix: str
) -> None:
    csv, X, y = user_data
    path = tmp_path / f"teacher{suffix}"
    if suffix == ".json":
        model: Any = xgboost.XGBClassifier(n_estimators=200, max_depth=4).fit(X, y)
        model.save_model(path)
    else:
        model = lightgbm.LGBMClassifier(n_estimators=200, num_leaves=15, verbose=-1).fit(X, y)
        model.booster_.save_model(path)
    records = _distill(csv, path, tmp_path / "out", "kd", "fitnet", "rkd")
    kd = records["system__kd"]
    assert records["system__rkd"]["status"] == "ok"  # relation KD on the leaf embedding
    assert kd["status"] == "ok"
    assert kd["teacher"]["backend"] == {".json": "xgboost", ".txt": "lightgbm"}[suffix]
    assert kd["teacher"]["trees"]["trees"] == 200 and kd["teacher"]["params"] is None
    assert kd["quality"]["teacher"]["value"] > 0.85
    assert kd["quality"]["retention"]["value"] > 0.8
    reason = records["system__fitnet"]["reason"]
    assert records["system__fitnet"]["status"] == "not_applicable" and "'hidden'" in reason
