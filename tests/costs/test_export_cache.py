"""The export cache: ONNX and INT8 files reused by a second benchmark, keyed by what
determines them, and rebuilt when a stored entry is damaged."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from potstill.costs import BenchTarget, ExportCache, measure
from potstill.costs import runtimes as runtimes_module
from potstill.costs.config import BenchConfig
from potstill.costs.export_cache import file_key, int8_key, module_key
from potstill.costs.onnx_export import EXPORT_SETTINGS, INT8_SETTINGS
from potstill.costs.runtimes import BuildContext, create_runtime


def _key(module: nn.Module, rows: np.ndarray, **settings: Any) -> str:
    return module_key(module, rows[:2], {**EXPORT_SETTINGS, **settings})


def test_the_key_changes_with_weights_architecture_rows_and_settings(
    make_mlp: Callable[..., nn.Module], rows: np.ndarray
) -> None:
    base = _key(make_mlp(4, seed=1), rows)
    assert base == _key(make_mlp(4, seed=1), rows)  # stable for the same inputs
    assert base != _key(make_mlp(4, seed=2), rows)  # other weights
    assert base != _key(make_mlp(5, seed=1), rows)  # another width
    torch.manual_seed(1)
    tanh = nn.Sequential(nn.Linear(8, 4), nn.Tanh(), nn.Linear(4, 3))  # same state dict
    assert tanh.state_dict().keys() == make_mlp(4, seed=1).state_dict().keys()
    assert base != _key(tanh, rows)
    assert base != _key(make_mlp(4, seed=1), rows[:, ::-1].copy())  # traced on other rows
    assert base != _key(make_mlp(4, seed=1), rows, trace_rows=3)  # other export settings
    assert int8_key(base, INT8_SETTINGS) != int8_key(base, {**INT8_SETTINGS, "weight_type": "x"})
    assert int8_key(base, INT8_SETTINGS) != base


def test_fetch_misses_then_hits_the_stored_bytes(tmp_path: Path) -> None:
    cache = ExportCache(tmp_path / "exports")
    src = tmp_path / "a.onnx"
    src.write_bytes(b"onnx graph bytes")
    assert cache.fetch("k" * 64, "fp32", tmp_path / "out" / "b.onnx") == "miss"
    assert cache.store("k" * 64, "fp32", src)
    assert not cache.store("k" * 64, "fp32", src)  # kept already: left as it is
    assert cache.fetch("k" * 64, "fp32", tmp_path / "out" / "b.onnx") == "hit"
    assert (tmp_path / "out" / "b.onnx").read_bytes() == b"onnx graph bytes"
    assert cache.fetch("k" * 64, "int8", tmp_path / "c.onnx") == "miss"  # another kind
    assert not list((tmp_path / "exports").glob(".*"))  # no temporary folder left behind


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: (f / "model.onnx").write_bytes(b"onnx graph bytEs"),  # same size, other bytes
        lambda f: (f / "model.onnx").write_bytes(b"onnx"),  # truncated
        lambda f: (f / "model.onnx").unlink(),
        lambda f: (f / "manifest.json").write_text("{not json"),
        lambda f: (f / "manifest.json").unlink(),
    ],
    ids=["flipped", "truncated", "file-missing", "manifest-garbled", "manifest-missing"],
)
def test_a_damaged_entry_is_detected_removed_and_rebuilt(
    tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    cache = ExportCache(tmp_path / "exports")
    src = tmp_path / "a.onnx"
    src.write_bytes(b"onnx graph bytes")
    cache.store("k" * 64, "fp32", src)
    (folder,) = (tmp_path / "exports").iterdir()
    damage(folder)
    dest = tmp_path / "b.onnx"
    assert cache.fetch("k" * 64, "fp32", dest) == "corrupt"
    assert not folder.exists() and not dest.exists()
    assert cache.store("k" * 64, "fp32", src)  # rebuilt
    assert cache.fetch("k" * 64, "fp32", dest) == "hit"
    assert dest.read_bytes() == b"onnx graph bytes"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["key"] == "k" * 64 and manifest["versions"]["torch"] == torch.__version__


def test_a_cache_that_cannot_be_written_costs_only_the_reuse(tmp_path: Path) -> None:
    (tmp_path / "exports").write_text("a file where the cache folder should be")
    src = tmp_path / "a.onnx"
    src.write_bytes(b"onnx graph bytes")
    cache = ExportCache(tmp_path / "exports")
    assert not cache.store("k" * 64, "fp32", src)
    assert cache.fetch("k" * 64, "fp32", tmp_path / "b.onnx") == "miss"


def test_a_second_build_copies_the_exports_and_validates_again(
    tmp_path: Path, student: nn.Module, rows: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ExportCache(tmp_path / "exports")
    target = BenchTarget(name="student", module=student, example=rows)

    def build(run: str) -> dict[str, Any]:
        ctx = BuildContext(tmp_path / run, exports=cache)
        return {r: create_runtime(r, target, ctx) for r in ("onnx", "onnx-int8")}

    first = build("first")
    assert [b.notes["export_cache"] for b in first.values()] == ["miss", "miss"]
    exported: list[str] = []
    for name in ("export_onnx", "quantize_int8"):  # a hit converts nothing
        monkeypatch.setattr(runtimes_module, name, lambda *a, _n=name: exported.append(_n))
    second = build("second")
    assert exported == []
    assert [b.notes["export_cache"] for b in second.values()] == ["hit", "hit"]
    for runtime, built in second.items():
        assert built.artefact is not None and built.artefact.parent == tmp_path / "second"
        assert built.artefact.read_bytes() == first[runtime].artefact.read_bytes()  # type: ignore[union-attr]
        np.testing.assert_array_equal(built.predict(rows), first[runtime].predict(rows))
    assert second["onnx"].notes["validation"] == first["onnx"].notes["validation"]


def test_a_saved_onnx_file_is_keyed_by_its_bytes(
    tmp_path: Path, linear_onnx: Callable[..., Path]
) -> None:
    a = linear_onnx(tmp_path / "a.onnx", np.eye(4, 2), np.zeros(2))
    b = linear_onnx(tmp_path / "b.onnx", np.eye(4, 2), np.ones(2))
    assert file_key(a) == file_key(a) and file_key(a) != file_key(b)
    rows = np.random.default_rng(0).standard_normal((16, 4)).astype(np.float32)
    cache = ExportCache(tmp_path / "exports")
    target = BenchTarget(name="given", example=rows, path=a)
    for run in ("one", "two"):
        (tmp_path / run).mkdir()
    notes = [
        create_runtime("onnx-int8", target, BuildContext(tmp_path / run, exports=cache)).notes
        for run in ("one", "two")
    ]
    assert [n["export_cache"] for n in notes] == ["miss", "hit"]


def test_measure_reports_the_cache_in_each_profiles_runtime_notes(
    tmp_path: Path, student: nn.Module, rows: np.ndarray, quick: BenchConfig
) -> None:
    cache = ExportCache(tmp_path / "exports")
    target = BenchTarget(name="student", module=student, example=rows)
    config = quick.model_copy(update={"runtimes": ("eager", "onnx", "onnx-int8")})
    runs = [measure([target], config, exports=cache) for _ in range(2)]
    notes = [{p.runtime: p.extra["runtime_notes"].get("export_cache") for p in r} for r in runs]
    assert notes == [
        {"eager": None, "onnx": "miss", "onnx-int8": "miss"},
        {"eager": None, "onnx": "hit", "onnx-int8": "hit"},
    ]
    without = measure([target], config)
    assert {p.extra["runtime_notes"].get("export_cache") for p in without} == {None, "off"}
