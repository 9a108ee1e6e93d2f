"""Atomic file writes (a crash leaves the old file or the new one, never half of either),
and the content digests of files and folders that the caches key on."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_folder",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "file_sha256",
    "remove_orphan_temps",
    "tree_sha256",
]

#: Every temp file or folder the atomic writes make is named ``.<target>.<random>.tmp``.
TEMP_SUFFIX = ".tmp"


def atomic_write(path: Path, write: Callable[[IO[bytes]], object]) -> None:
    """Let ``write`` fill a temp file in ``path``'s folder, flush and fsync it, then
    ``os.replace`` it onto ``path``: the one atomic write every other one goes through."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def atomic_folder(folder: Path, fill: Callable[[Path], object]) -> None:
    """Fill a temporary sibling of ``folder`` with ``fill(tmp)``, then rename it into place:
    a reader sees the whole folder or none. When another process published ``folder``
    first, its copy is kept and this one dropped; a failing ``fill`` leaves nothing."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=TEMP_SUFFIX))
    try:
        fill(tmp)
        if folder.exists():  # a concurrent run finished first: keep its folder
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_orphan_temps(root: Path, *, lock_name: str) -> list[Path]:
    """Delete the temp files and folders that atomic writes under ``root`` left behind, and
    return them. A writer killed between its temp and its ``os.replace`` leaves one; only
    call this while no other process writes under ``root`` (a study calls it holding the
    study folder's lock, ``lock_name``), or a live writer's temp would go. A sub-folder
    holding its own ``lock_name`` (a nested study a search runs) is left to its own run."""
    orphans = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        orphans += [here / n for n in [*dirs, *files] if _is_temp(n)]
        dirs[:] = [d for d in dirs if not _is_temp(d) and not (here / d / lock_name).exists()]
    orphans.sort()
    for orphan in orphans:
        if orphan.is_dir() and not orphan.is_symlink():
            shutil.rmtree(orphan, ignore_errors=True)
        else:
            orphan.unlink(missing_ok=True)
    return orphans


def _is_temp(name: str) -> bool:
    """Whether ``name`` is an atomic write's temp: ``.<target>.<random>.tmp``."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX) and name.count(".") >= 3


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_sha256(path: Path) -> str:
    """The sha256 hex digest of a file (its name and bytes) or of every file under a folder
    (each relative path and its bytes, in sorted order)."""
    path = Path(path)
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        h.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()
