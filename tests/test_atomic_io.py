"""potstill._io: a file or a folder appears whole or not at all."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from potstill._io import (
    atomic_folder,
    atomic_write,
    atomic_write_json,
    atomic_write_text,
    remove_orphan_temps,
)


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


KILLED_WRITER = """
import os, signal, sys
from pathlib import Path
from potstill._io import atomic_folder, atomic_write

target = Path(sys.argv[1])
if sys.argv[2] == "file":
    atomic_write(target, lambda fh: (fh.write(b"half"), os.kill(os.getpid(), signal.SIGKILL)))
else:
    atomic_folder(target, lambda tmp: os.kill(os.getpid(), signal.SIGKILL))
"""


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_killed_writer_leaves_a_temp_that_remove_orphan_temps_deletes(
    tmp_path: Path, kind: str
) -> None:
    study = tmp_path / "study"
    (study / "records").mkdir(parents=True)
    (study / ".potstill.lock").write_text("{}")  # dotfiles of other kinds stay
    (study / "records" / ".notes.txt").write_text("mine")
    atomic_write_text(study / "records" / "a.json", "old")
    target = study / "records" / ("a.json" if kind == "file" else "student")
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target), kind])
    assert done.returncode != 0  # killed mid-write
    orphans = [p.name for p in study.rglob(".*.tmp")]
    assert len(orphans) == 1 and orphans[0].startswith(f".{target.name}.")
    assert [p.name for p in remove_orphan_temps(study, lock_name=".potstill.lock")] == orphans
    left = sorted(str(p.relative_to(study)) for p in study.rglob("*"))
    assert left == [".potstill.lock", "records", "records/.notes.txt", "records/a.json"]
    assert (study / "records" / "a.json").read_text() == "old"
