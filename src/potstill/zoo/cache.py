"""Where built-in teachers are cached, and the one way a cached model is built.

A cached model lives in a folder named by a content hash of everything that made it; the
folder holds ``teacher.json`` once complete. :func:`cached_build` builds into a temp folder
beside it and renames it into place, so a crash or a concurrent run never leaves (or
reads) half a teacher, and an existing folder is never overwritten.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from platformdirs import user_cache_dir

from potstill._io import atomic_folder
from potstill.errors import ModelError

__all__ = ["MARKER", "cached_build", "default_cache_dir", "is_built"]

#: The file a complete cached folder holds (written last by the build).
MARKER = "teacher.json"


def default_cache_dir() -> Path:
    """``$POTSTILL_CACHE`` or the platform's user cache directory."""
    env = os.environ.get("POTSTILL_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(user_cache_dir("potstill"))


def is_built(folder: Path) -> bool:
    """Whether ``folder`` holds a complete cached build."""
    return (folder / MARKER).is_file()


def cached_build(folder: Path, build: Callable[[Path], None]) -> bool:
    """Build ``folder`` with ``build(tmp)`` unless it is complete already; ``build`` must
    write :data:`MARKER` into ``tmp``. Returns whether it was built now."""
    if is_built(folder):
        return False

    def fill(tmp: Path) -> None:
        build(tmp)
        if not is_built(tmp):
            raise ModelError(f"The build of '{folder}' wrote no {MARKER}.")

    atomic_folder(folder, fill)
    return True
