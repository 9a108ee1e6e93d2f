"""Every teacher format end to end: the probabilities potstill reads, and a TorchScript study.

On scikit-learn's breast-cancer table (10 raw columns), this script saves one teacher per
format the way its library does (XGBoost ``.json`` and ``.ubj``, LightGBM ``.txt``, CatBoost
``.cbm``, a scikit-learn HistGradientBoosting through skops, a traced TorchScript MLP),
loads each with ``potstill.models.load_teacher`` and records the largest difference
between the probabilities potstill gets and the library's own ``predict_proba``, with the
size potstill reports. It then runs a quick one-system study of the TorchScript teacher
(grid scratch, kd, fitnet; fresh-process memory probe on) and records each cell's status,
retention and the teacher's probed peak memory.

Writes ``benchmarks/results/teacher_formats.json``; the last stdout line is a JSON summary.
Usage: ``python benchmarks/teacher_formats.py`` (a few minutes on 2 cores).
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import catboost
import lightgbm
import numpy as np
import pandas as pd
import skops.io as sio
import torch
import xgboost
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from torch import nn

import potstill
from potstill._io import atomic_write_json
from potstill.config import FleetConfig
from potstill.costs import PRESETS
from potstill.models.teacher_load import load_teacher

OUT = Path(__file__).with_name("results") / "teacher_formats.json"
COLUMNS = [0, 1, 2, 3, 6, 7, 20, 21, 22, 27, 30]


class Standardize(nn.Module):
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


def _torchscript(X: np.ndarray, y: np.ndarray, path: Path) -> tuple[Path, Any]:
    torch.manual_seed(0)
    model = Net(X)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        opt.step()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.jit.trace(model.eval(), torch.from_numpy(X[:2])).save(str(path))

    def proba(rows: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.softmax(model(torch.from_numpy(rows)), dim=1).numpy()

    return path, proba


def _save_teachers(X: np.ndarray, y: np.ndarray, root: Path) -> dict[str, tuple[Path, Any]]:
    xgb = xgboost.XGBClassifier(n_estimators=100, max_depth=4).fit(X, y)
    xgb.save_model(root / "xgb.json")
    xgb.save_model(root / "xgb.ubj")
    lgb = lightgbm.LGBMClassifier(n_estimators=100, num_leaves=15, verbose=-1).fit(X, y)
    lgb.booster_.save_model(root / "lgb.txt")
    cb = catboost.CatBoostClassifier(
        iterations=100, depth=4, verbose=0, allow_writing_files=False
    ).fit(X, y)
    cb.save_model(str(root / "cb.cbm"))
    hgb = HistGradientBoostingClassifier(max_iter=100).fit(X, y)
    sio.dump(hgb, root / "hgb.skops")
    return {
        "xgboost .json": (root / "xgb.json", xgb.predict_proba),
        "xgboost .ubj": (root / "xgb.ubj", xgb.predict_proba),
        "lightgbm .txt": (root / "lgb.txt", lgb.predict_proba),
        "catboost .cbm": (root / "cb.cbm", cb.predict_proba),
        "sklearn .skops (trusted)": (root / "hgb.skops", hgb.predict_proba),
        "torchscript .pt": _torchscript(X, y, root / "mlp.pt"),
    }


def _formats(X: np.ndarray, teachers: dict[str, tuple[Path, Any]]) -> list[dict[str, Any]]:
    rows = []
    for label, (path, library_proba) in teachers.items():
        t0 = time.perf_counter()
        teacher = load_teacher(path, problem="classification", trust_pickle="skops" in label)
        load_s = time.perf_counter() - t0
        diff = np.abs(teacher.predict_scores(X) - library_proba(X)).max()
        desc = teacher.describe()
        rows.append(
            {
                "format": label, "backend": teacher.backend, "load_s": load_s,
                "max_abs_diff_vs_library_predict_proba": float(diff),
                "params": desc["params"], "trees": desc["trees"],
                "capabilities": desc["capabilities"],
            }
        )  # fmt: skip
    return rows


def _torchscript_study(csv: Path, teacher: Path, out: Path) -> dict[str, Any]:
    raw = {
        "name": "torchscript",
        "systems": [
            {
                "name": "tumours",
                "dataset": {"path": str(csv), "target": "benign"},
                "teacher": {"path": str(teacher)},
            }
        ],
        "grid": ["scratch", "kd", "fitnet"],
        "train": {"epochs": 10, "patience": 4},
        "bench": {**PRESETS["quick"], "memory": True, "memory_calls": 10},
    }
    t0 = time.perf_counter()
    potstill.run_study(FleetConfig.model_validate(raw), out)
    cells = {}
    for path in sorted((out / "records").glob("*.json")):
        record = json.loads(path.read_text())
        teacher_eager = next(
            p for p in record["profiles"] if p["model"] == "teacher" and p["runtime"] == "eager"
        )
        cells[record["method"]] = {
            "status": record["status"],
            "retention": (record.get("quality") or {}).get("retention", {}).get("value"),
            "teacher_fresh_process": teacher_eager["extra"]["cold_start"]["fresh_process"],
            "teacher_runtimes": sorted(
                {p["runtime"] for p in record["profiles"] if p["model"] == "teacher"}
            ),
        }
    return {"seconds": time.perf_counter() - t0, "cells": cells}


def main() -> None:
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, COLUMNS]
    frame = frame.rename(columns={"target": "benign"})
    X = frame.drop(columns="benign").to_numpy(np.float32)
    y = frame["benign"].to_numpy().copy()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        csv = root / "tumours.csv"
        pd.DataFrame(frame).to_csv(csv, index=False)
        teachers = _save_teachers(X, y, root)
        result = {
            "data": "sklearn breast_cancer, 569 rows, 10 raw columns",
            "formats": _formats(X, teachers),
            "torchscript_study": _torchscript_study(csv, root / "mlp.pt", root / "study"),
        }
    atomic_write_json(OUT, result)
    worst = max(r["max_abs_diff_vs_library_predict_proba"] for r in result["formats"])
    cells = result["torchscript_study"]["cells"]
    summary = {
        "max_abs_diff_vs_library": worst,
        "torchscript": {m: [c["status"], c["retention"]] for m, c in cells.items()},
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
