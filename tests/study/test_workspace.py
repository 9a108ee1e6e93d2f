"""The study folder: user folders are never overwritten, and one run writes at a time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from potstill.errors import ConfigError
from potstill.study.workspace import LOCK_FILE, study_lock


def test_a_new_or_empty_folder_is_taken_and_the_lock_released(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new" / "deeper", tmp_path / "empty"):
        with study_lock(out):
            holder = json.loads((out / LOCK_FILE).read_text())
            assert holder == {"pid": os.getpid(), "host": socket.gethostname()}
        assert not (out / LOCK_FILE).exists()


def test_taking_the_lock_deletes_what_a_killed_run_left_half_written(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: x\n")
    cell = tmp_path / "students" / "bc" / "kd"
    cell.mkdir(parents=True)
    (cell / ".checkpoint.pt.u37qq16g.tmp").write_bytes(b"half")  # killed before its rename
    (tmp_path / ".report.md.abc123.tmp").write_text("half")
    (cell / "student.pt").write_bytes(b"whole")
    with study_lock(tmp_path):
        assert not list(tmp_path.rglob(".*.tmp"))
    assert (cell / "student.pt").read_bytes() == b"whole"


def test_a_nested_study_with_its_own_lock_keeps_its_temps(tmp_path: Path) -> None:
    """A fleet's ``auto:`` search runs a study in ``auto/<system>/`` under its own lock while
    the top folder is free: a second run taking the top lock must not touch its writes."""
    (tmp_path / "config.yaml").write_text("name: x\n")
    nested = tmp_path / "auto" / "sys"
    (nested / "search").mkdir(parents=True)
    (nested / LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "host": "h"}))
    live = nested / "search" / ".rungs.json.k2j4.tmp"
    live.write_text("being written")
    orphan = tmp_path / "records" / ".a.json.x1y2.tmp"
    orphan.parent.mkdir()
    orphan.write_text("half")
    with study_lock(tmp_path):
        assert live.exists() and not orphan.exists()


def test_a_folder_with_other_files_is_refused_and_left_untouched(tmp_path: Path) -> None:
    (tmp_path / "report.md").write_text("my own notes")
    with (
        pytest.raises(ConfigError, match=r"holds no potstill study \(report.md\).*--out"),
        study_lock(tmp_path),
    ):
        pass
    assert (tmp_path / "report.md").read_text() == "my own notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]


def test_an_earlier_study_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("name: x\n")
    (tmp_path / "report.md").write_text("old report")
    with study_lock(tmp_path):
        pass


def test_a_file_or_an_impossible_folder_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "a.txt"
    file.write_text("x")
    with pytest.raises(ConfigError, match="is a file"), study_lock(file):
        pass
    impossible = file / "inside"  # its parent is a file
    with pytest.raises(ConfigError, match="Cannot create the study folder"), study_lock(impossible):
        pass


def test_a_second_run_is_refused_with_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / LOCK_FILE).write_text(
            json.dumps({"pid": holder.pid, "host": socket.gethostname()})
        )
        (tmp_path / "config.yaml").write_text("name: x\n")
        live_temp = tmp_path / ".results.csv.k2j4.tmp"  # the live run is writing it
        live_temp.write_text("half")
        with (
            pytest.raises(ConfigError, match=rf"pid {holder.pid} on host .* is writing"),
            study_lock(tmp_path),
        ):
            pass
        assert live_temp.exists()  # the refused run touched nothing
    finally:
        holder.kill()
        holder.wait()
    with study_lock(tmp_path):  # its process is gone: the stale lock is taken over
        assert not live_temp.exists()  # and its temp is an orphan now


def test_the_cli_refuses_a_non_study_folder_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("a,b\n1,2\n")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("systems: [{name: bc, dataset: {builtin: breast_cancer}}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "potstill.cli", "study", str(fleet), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2, done.stderr
    assert "holds no potstill study" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "results.csv").read_text() == "a,b\n1,2\n"
