"""The fresh-process memory probe loads a user's TorchScript teacher as it was given."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from potstill.costs.memory import fresh_process_probe, save_for_probe


def test_a_torchscript_module_is_probed_as_torchscript(tmp_path: Path) -> None:
    cnn = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    row = np.random.default_rng(0).random((1, 1, 8, 8)).astype(np.float32)
    with warnings.catch_warnings():  # torch deprecates TorchScript; users still ship it
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.trace(cnn.eval(), torch.from_numpy(row))
    artefact, kind = save_for_probe(scripted, row, tmp_path / "teacher.pt2")
    assert kind == "torchscript" and artefact.is_file()  # torch.export cannot trace it
    probe = fresh_process_probe(kind, artefact, row, tmp_path, calls=3)
    assert probe["peak_rss_mb"] >= probe["baseline_rss_mb"] > 0 and probe["calls"] == 4
    _, plain = save_for_probe(cnn.eval(), row, tmp_path / "plain.pt2")
    assert plain == "pt2"
