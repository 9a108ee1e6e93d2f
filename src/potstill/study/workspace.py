"""The study folder as a workspace: refuse folders that are not studies, and lock it.

A study writes ``report.md``, ``results.csv`` and ``environment.json`` into its folder.
Pointed at a user's own folder by mistake, it would overwrite their files, so a non-empty
folder that holds no potstill study is refused. Two runs into the same folder would both
do all the work and time each other's benchmarks, so a run holds a lock file naming its
process and host for as long as it writes; a second run is refused with who holds it.
A lock left by a process that no longer exists on this host is taken over.

Holding the lock, a run deletes the temp files that atomic writes of a killed run left in
the folder (a kill between a temp file and its rename leaves one): no other process
writes there, so every such temp is an orphan.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from potstill._io import remove_orphan_temps
from potstill.errors import ConfigError

__all__ = ["LOCK_FILE", "STUDY_MARKERS", "study_lock"]

log = logging.getLogger(__name__)

LOCK_FILE = ".potstill.lock"
#: Files whose presence says a folder holds a potstill study.
STUDY_MARKERS = ("config.yaml", "records")


def _check_folder(out: Path) -> None:
    """Refuse a path that is a file, is not writable, or holds something else than a study."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"The output path '{out}' is a file. Give a folder for the study.")
    if not out.exists():
        try:
            out.mkdir(parents=True)
        except OSError as exc:
            raise ConfigError(
                f"Cannot create the study folder '{out}': {exc.strerror}. Give a folder you "
                "can write to."
            ) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ConfigError(
            f"The study folder '{out}' is not writable. Give a folder you can write to."
        )
    entries = [p.name for p in out.iterdir() if p.name != LOCK_FILE]
    if entries and not any((out / m).exists() for m in STUDY_MARKERS):
        shown = ", ".join(sorted(entries)[:5]) + (" …" if len(entries) > 5 else "")
        raise ConfigError(
            f"The folder '{out}' is not empty and holds no potstill study ({shown}); writing "
            "the study there would overwrite files such as report.md. Give a new folder "
            "name with --out."
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder(lock: Path) -> dict[str, object] | None:
    """The live holder of ``lock``, or None when the lock is free or stale."""
    try:
        holder = json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # unreadable or half-written: a crashed writer's leftover
    if not isinstance(holder, dict):
        return None
    pid, host = holder.get("pid"), holder.get("host")
    if host == socket.gethostname() and isinstance(pid, int) and not _alive(pid):
        return None
    return holder


def _acquire(lock: Path) -> None:
    me = json.dumps({"pid": os.getpid(), "host": socket.gethostname()})
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _holder(lock)
            if holder is not None:
                raise ConfigError(
                    f"Another potstill run (pid {holder.get('pid')} on host "
                    f"{holder.get('host')!r}) is writing to '{lock.parent}'. Wait for it to "
                    f"finish or use another --out folder. If that run is gone, delete '{lock}'."
                ) from None
            lock.unlink(missing_ok=True)  # stale: its process no longer exists
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(me)
        return
    raise ConfigError(f"Could not take the lock '{lock}' (another run took it meanwhile).")


@contextmanager
def study_lock(out: Path) -> Iterator[Path]:
    """Check ``out`` can hold a study, then hold its lock for the duration of the block
    (having deleted the temp files a killed run left there)."""
    out = Path(out)
    _check_folder(out)
    lock = out / LOCK_FILE
    _acquire(lock)
    try:
        orphans = remove_orphan_temps(out, lock_name=LOCK_FILE)
        if orphans:
            log.info("deleted %d temp file(s) an interrupted run left in %s", len(orphans), out)
        yield out
    finally:
        lock.unlink(missing_ok=True)
