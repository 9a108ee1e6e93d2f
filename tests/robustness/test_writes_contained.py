"""Every write stays inside the output folder.

A study (eager, with the fresh-process memory probe) and a ``distill`` of an ONNX teacher
(ONNX and INT8 runtimes) run as subprocesses from an empty working directory, with HOME
and the temporary folder pointed at empty folders of their own. Afterwards no file may
exist anywhere but in the output folder, except in the documented cache locations:

* ``$HOME/.cache/potstill`` — the teacher cache (README: "cached under the user cache
  directory"; ``$POTSTILL_CACHE`` overrides it), and
* ``$HOME/.cache/matplotlib`` — matplotlib's own font list, built once per user when the
  report's charts first import it (``MPLCONFIGDIR`` moves it).

What this caught: ONNX Runtime's telemetry (a device id and an event database under
``~/.cache/Microsoft``, a session file in the temporary folder) and its shape inference's
``sym_shape_infer_temp.onnx`` in the working directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from potstill.costs import export_onnx

ALLOWED = ("home/.cache/potstill/", "home/.cache/matplotlib/")

FLEET = """
name: contained
seed: 0
grid: [scratch, kd]
train: {epochs: 2, batch_size: 64}
bench: {warmup: 10, min_calls: 30, min_seconds: 0.02, batch_sizes: [1],
        runtimes: [eager], memory: true, server: true, threads: 1}
evaluate: {n_resamples: 20, severities: [1.0]}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [16], epochs: 2}
"""


def _fitted(x: np.ndarray, y: np.ndarray) -> nn.Module:
    """A small MLP fitted to (x, y): a teacher better than the majority class."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 2))
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(100):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        optimiser.step()
    return model.eval()


def _inputs(root: Path) -> tuple[Path, Path, Path]:
    """The fleet, a 5-feature CSV and an ONNX teacher for it, in ``root/in``."""
    folder = root / "in"
    folder.mkdir()
    (folder / "fleet.yaml").write_text(FLEET)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    lines = [",".join(f"{v:.4f}" for v in row) + f",{t}" for row, t in zip(x, y, strict=True)]
    (folder / "data.csv").write_text("a,b,c,d,e,y\n" + "\n".join(lines) + "\n")
    export_onnx(_fitted(x, y), x[:8], folder / "teacher.onnx")
    return folder / "fleet.yaml", folder / "data.csv", folder / "teacher.onnx"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}


@pytest.mark.slow  # a study and a distill in fresh processes
def test_a_study_and_a_distill_write_only_into_their_output_folders(tmp_path: Path) -> None:
    fleet, data, teacher = _inputs(tmp_path)
    for name in ("cwd", "home", "tmp"):
        (tmp_path / name).mkdir()
    inputs = _files(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in {"POTSTILL_CACHE", "XDG_CACHE_HOME",
           "XDG_CONFIG_HOME", "MPLCONFIGDIR", "ORT_DISABLE_TELEMETRY"}}  # fmt: skip
    tmp = str(tmp_path / "tmp")
    env.update(HOME=str(tmp_path / "home"), TMPDIR=tmp, TMP=tmp, TEMP=tmp)
    cli = [sys.executable, "-m", "potstill.cli"]
    runs = [
        [*cli, "study", str(fleet), "--out", str(tmp_path / "out-study")],
        [*cli, "distill", "--teacher", str(teacher), "--data", str(data), "--target", "y",
         "--out", str(tmp_path / "out-distill"), "--quick"],
    ]  # fmt: skip
    for argv in runs:
        done = subprocess.run(argv, cwd=tmp_path / "cwd", env=env, capture_output=True,
                              text=True, timeout=900)  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    written = _files(tmp_path) - inputs
    outside = sorted(
        p for p in written if not p.startswith(("out-study/", "out-distill/", *ALLOWED))
    )
    assert not outside, outside
    assert any(p.startswith("out-distill/records/") for p in written)
    assert any(p.startswith("home/.cache/potstill/teachers/") for p in written)
