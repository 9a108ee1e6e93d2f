"""zoo.cache.cached_build: built once, atomically; a failed build leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from potstill.errors import ModelError
from potstill.zoo.cache import MARKER, cached_build, is_built


def test_built_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []

    def build(tmp: Path) -> None:
        calls.append(tmp)
        (tmp / "weights").write_text("w")
        (tmp / MARKER).write_text("{}")

    folder = tmp_path / "teachers" / "sys-mlp-abc"
    assert cached_build(folder, build) is True
    assert cached_build(folder, build) is False
    assert len(calls) == 1 and is_built(folder) and (folder / "weights").read_text() == "w"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["sys-mlp-abc"]  # no temp left


def test_a_failed_or_incomplete_build_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "teachers" / "sys-mlp-abc"

    def crash(tmp: Path) -> None:
        (tmp / "half").write_text("h")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_build(folder, crash)
    with pytest.raises(ModelError, match=f"wrote no {MARKER}"):
        cached_build(folder, lambda tmp: None)
    assert not folder.exists() and list(folder.parent.iterdir()) == []
