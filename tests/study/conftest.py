"""Tiny user files and fleets shared by the study tests: a CSV, a black-box teacher that
trains in a second, and a corrupt teacher file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
import yaml
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier


@pytest.fixture(scope="session")
def user_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("files")
    frame = load_breast_cancer(as_frame=True).frame.iloc[:, [0, 1, 2, 7, 20, 27, 30]]
    csv = root / "tumours.csv"
    frame.to_csv(csv, index=False)
    teacher = HistGradientBoostingClassifier(max_iter=20, random_state=0)
    teacher.fit(frame.drop(columns="target").to_numpy(np.float32), frame["target"])
    joblib.dump(teacher, root / "teacher.joblib")
    (root / "broken.onnx").write_bytes(b"\x08\x07not an onnx graph" * 8)  # a corrupt file
    return {"csv": csv, "good": root / "teacher.joblib", "broken": root / "broken.onnx"}


def _fleet_yaml(
    files: dict[str, Path],
    systems: dict[str, str],
    per_system: dict[str, dict[str, Any]] | None = None,
    **overrides: Any,
) -> str:
    """A tiny fleet: each system reads the same CSV with the named teacher file
    (``good``: a joblib HistGradientBoosting, ``broken``: a corrupt .onnx); ``per_system``
    adds keys to a system's entry, ``overrides`` replace fleet keys."""
    raw: dict[str, Any] = {
        "name": "failures",
        "seed": 0,
        "grid": ["scratch", "kd"],
        "train": {"epochs": 3, "batch_size": 64, "patience": 3},
        "bench": {"warmup": 10, "min_calls": 10, "min_seconds": 0.01, "max_seconds": 2.0,
                  "batch_sizes": [1, 8], "sweep_min_calls": 2, "sweep_min_seconds": 0.01,
                  "memory": False, "runtimes": ["eager"], "threads": 1},
        "evaluate": {"n_resamples": 20, "robustness": False},
        "gates": {"min_retention": 0.5},
        "systems": [
            {"name": name, "sector": "healthcare",
             "dataset": {"path": str(files["csv"]), "target": "target"},
             "teacher": {"path": str(files[teacher]), "trust_pickle": True},
             **(per_system or {}).get(name, {})}
            for name, teacher in systems.items()
        ],
    }  # fmt: skip
    raw.update(overrides)
    return yaml.safe_dump(raw)


@pytest.fixture(scope="session")
def fleet_yaml() -> Callable[..., str]:
    """``fleet_yaml(files, {"system": "good" | "broken"}, per_system, **fleet) -> YAML``."""
    return _fleet_yaml
