"""``potstill inspect TEACHER``: what a user's file takes, gives, knows and exposes."""

from __future__ import annotations

from pathlib import Path

import pytest
from builders import UserSystem
from cli_helpers import PY_TRACEBACK, run_cli


@pytest.mark.parametrize(
    ("name", "must_show"),
    [
        ("progression_onnx", ["input", "output"]),  # the graph's own names
        ("screening_onnx", ["benign", "malignant"]),  # the classes the graph knows
        ("digits_cnn_onnx", ["input", "8"]),  # (N, 1, 8, 8)
    ],
)
def test_inspect_prints_inputs_outputs_classes_and_hidden_layers(
    name: str, must_show: list[str], user_systems: dict[str, UserSystem], tmp_path: Path
) -> None:
    system = user_systems[name]
    run = run_cli(["inspect", str(system.teacher)], tmp_path)
    assert run.code == 0, run.err[-2000:]
    assert PY_TRACEBACK not in run.err
    for text in must_show:
        assert text in run.out, (text, run.out)
    if system.hidden:  # an MLP or CNN graph: candidate hidden layers are listed
        assert "hidden" in run.out.lower(), run.out
