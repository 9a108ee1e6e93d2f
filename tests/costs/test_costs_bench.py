"""bench_paths (saved potstill models and .onnx files) and what `potstill bench` prints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from torch import nn

from potstill.costs import BenchConfig, bench_paths, export_onnx, json_line, render_bench

models = pytest.importorskip("potstill.models")


def test_bench_a_saved_model_and_an_onnx_file(
    tmp_path: Path, teacher: nn.Module, quick: BenchConfig
) -> None:
    student_dir = models.save_model(models.MLP(8, [4], 3), tmp_path / "student")
    onnx_path = export_onnx(teacher, np.zeros((2, 8), np.float32), tmp_path / "teacher.onnx")
    config = quick.model_copy(update={"memory": True, "memory_calls": 2})
    profiles = bench_paths([student_dir, onnx_path], config)
    keys = [(Path(p.model).name, p.runtime) for p in profiles]
    assert keys == [
        ("student", "eager"),
        ("student", "onnx"),
        ("teacher.onnx", "onnx"),
        ("student", "onnx-int8"),
        ("teacher.onnx", "onnx-int8"),
    ]
    by_key = dict(zip(keys, profiles, strict=True))
    saved = by_key[("student", "eager")]
    assert saved.bytes_on_disk == sum(f.stat().st_size for f in student_dir.iterdir())
    assert saved.params == (8 * 4 + 4) + 2 * 4 + (4 * 3 + 3)  # Linear, LayerNorm, head
    assert saved.extra["cold_start"]["fresh_process"]["kind"] == "potstill"
    onnx_profile = by_key[("teacher.onnx", "onnx")]
    assert onnx_profile.params == 8 * 32 + 32 + 32 * 3 + 3  # initializers of the graph
    assert onnx_profile.bytes_on_disk == onnx_path.stat().st_size
    assert onnx_profile.extra["runtime_notes"]["exporter"] == "given file"
    int8 = by_key[("teacher.onnx", "onnx-int8")].extra["runtime_notes"]
    assert "agreement_vs_onnx_fp32" in int8
    assert profiles[0].settings["input_shape"] == [8]


def test_unusable_paths_are_refused(tmp_path: Path, quick: BenchConfig) -> None:
    from potstill.errors import BenchError

    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BenchError, match="expected a potstill model directory"):
        bench_paths([tmp_path / "notes.txt"], quick)


def test_table_and_final_json_line(
    teacher: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    from potstill.costs import BenchTarget, measure

    profiles = measure(
        [BenchTarget("tiny", teacher, None, rows)],
        quick.model_copy(update={"runtimes": ("eager",)}),
    )
    text = render_bench(profiles)
    table, last = text.rstrip("\n").rsplit("\n", 1)
    assert "tiny" in table and "eager" in table and "p99 ms" in table
    assert ("†" in table) == ("p99" in profiles[0].latency.unreliable)
    parsed = json.loads(last)
    assert last == json_line(profiles)
    assert parsed[0]["model"] == "tiny" and parsed[0]["latency"]["n"] == profiles[0].latency.n
    assert parsed[0]["settings"]["threads"] == 1
