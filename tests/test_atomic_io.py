"""potstill._io: a file or a folder appears whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from potstill._io import atomic_folder, atomic_write, atomic_write_json, atomic_write_text


def test_a_failing_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    atomic_write_text(target, "old")

    def fail(_fh: object) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
    atomic_write_json(target, {"a": 1})
    assert target.read_text().strip().startswith("{")


def test_a_folder_is_published_whole_and_a_failed_fill_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "cache" / "student-abc"

    def broken(tmp: Path) -> None:
        (tmp / "half.bin").write_bytes(b"x")
        raise RuntimeError("killed mid-copy")

    with pytest.raises(RuntimeError):
        atomic_folder(folder, broken)
    assert not folder.exists() and list(folder.parent.iterdir()) == []
    atomic_folder(folder, lambda tmp: (tmp / "model.json").write_text("{}"))
    assert [p.name for p in folder.iterdir()] == ["model.json"]


def test_a_folder_another_run_published_first_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "teacher-1"
    atomic_folder(folder, lambda tmp: (tmp / "first").write_text("1"))
    atomic_folder(folder, lambda tmp: (tmp / "second").write_text("2"))
    assert [p.name for p in folder.iterdir()] == ["first"]
    assert [p.name for p in tmp_path.iterdir()] == ["teacher-1"]
