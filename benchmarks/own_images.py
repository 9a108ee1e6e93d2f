"""A user's own CNN on their own images, end to end through ``potstill study``.

The user's side is built here the way it usually arrives: a small CNN in (N, C, H, W)
layout trained on sklearn's 8x8 digits (1,797 images, seeded), saved as ONNX and as
TorchScript; the images saved as an .npz (``X``, ``y``) and as a folder of PNGs per class.
Two systems then run in one study (grid: scratch, kd; quick bench preset, memory probe on):

- ``digits_onnx``: the ONNX teacher on the .npz, ``input_shape`` [1, 8, 8];
- ``digits_torchscript``: the TorchScript teacher on the PNG folder (shape from the data).

Both students are ``SmallCNN`` sized at width × depth of the teacher's parameters. Writes
benchmarks/results/own_images.json (teacher and student accuracy, retention with its 95 %
CI, parameters, cost reduction, wall time) and prints it as the final line.

    python benchmarks/own_images.py [--steps 300] [--epochs 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

from potstill.config import FleetConfig
from potstill.costs import PRESETS, export_onnx
from potstill.runner import run_study

RESULTS = Path(__file__).with_name("results") / "own_images.json"


def user_files(root: Path, steps: int) -> dict[str, Path]:
    """The teacher files and the images, as a user brings them."""
    digits = load_digits()
    X = (digits.images[:, None] / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(32, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(cnn.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):  # the user's own training, on every image (they are its train set)
        idx = torch.randint(0, len(X), (128,), generator=gen)
        loss = nn.functional.cross_entropy(cnn(torch.from_numpy(X[idx])), torch.from_numpy(y[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    cnn.eval()
    files = {"onnx": export_onnx(cnn, X[:4], root / "cnn.onnx"), "pt": root / "cnn.pt"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.trace(cnn, torch.from_numpy(X[:2])).save(str(files["pt"]))
    np.savez(root / "digits.npz", X=X, y=y)
    for i, (image, label) in enumerate(zip(X, y, strict=True)):
        folder = root / "pngs" / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image[0] * 255).round().astype(np.uint8)).save(folder / f"{i}.png")
    return {**files, "npz": root / "digits.npz", "pngs": root / "pngs"}


def fleet(files: dict[str, Path], epochs: int) -> FleetConfig:
    student = {"width": 0.5, "depth": 0.5}
    return FleetConfig.model_validate({
        "name": "own-images",
        "systems": [
            {"name": "digits_onnx", "dataset": {"path": str(files["npz"])},
             "teacher": {"path": str(files["onnx"]), "input_shape": [1, 8, 8]}, "student": student},
            {"name": "digits_torchscript", "dataset": {"images": str(files["pngs"])},
             "teacher": {"path": str(files["pt"])}, "student": student},
        ],
        "grid": ["scratch", "kd"],
        "train": {"epochs": epochs, "patience": 8},
        "bench": {**PRESETS["quick"], "memory": True},
        "evaluate": {"n_resamples": 1000, "severities": [0.25, 1.0]},
    })  # fmt: skip


def summary(out: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((out / "records").glob("*.json")):
        r = json.loads(path.read_text())
        q, c = r["quality"], r["costs"] or {}
        rows.append({
            "system": r["system"], "method": r["method"], "status": r["status"],
            "teacher_backend": r["teacher"]["backend"], "teacher_params": r["teacher"]["params"],
            "input": r["teacher"]["input"], "student_arch": r["student"]["arch"],
            "student_params": r["student"]["params"], "n_test": q["n_test"],
            "teacher_accuracy": q["teacher"]["value"], "student_accuracy": q["student"]["value"],
            "retention": q["retention"], "cost_reduction": c.get("reduction"),
            "teacher_peak_mb": next((p["peak_memory_mb"] for p in r["profiles"]
                                     if p["model"] == "teacher"), None),
        })  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="the user's CNN training steps")
    parser.add_argument("--epochs", type=int, default=30, help="student training epochs")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = user_files(Path(tmp), args.steps)
        out = args.out or Path(tmp) / "study"
        start = time.perf_counter()
        run_study(fleet(files, args.epochs), out)
        wall = time.perf_counter() - start
        result = {"wall_s": wall, "steps": args.steps, "epochs": args.epochs,
                  "records": summary(out)}  # fmt: skip
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
