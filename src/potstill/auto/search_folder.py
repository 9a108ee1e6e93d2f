"""A search folder is resumed only by the search that made it.

Every measurement a search stores (Optuna's trials, ``rungs.json``) carries its verdict
against the gates and the SLO in force when it was taken, at the epochs of that rung. A
rerun that reused them under other settings would choose by verdicts nobody asked for
(a candidate judged without a retention floor, read back as passing one). So the folder
holds the key of what shapes those measurements:

- the system's settings hash (:func:`~potstill.study.resume.system_hashes`: its data,
  teacher, gates — select's retention floor applied —, train, bench and evaluate sections,
  and the content of the files it reads);
- the fleet-wide ``seed`` and ``prices`` (the SLO, the target rate and the price);
- the search settings except its budget (``trials``, ``timeout``: a rerun with more
  trials extends the search it finds).

A folder made under another key, or before keys were stored, is moved to
``superseded/<UTC time>/search/<system>/`` (never deleted) and the search starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

from potstill._io import atomic_write_json
from potstill.auto.config import SelectConfig
from potstill.config import FleetConfig
from potstill.study.resume import system_hashes

__all__ = ["KEY_FILE", "claim_search_folder", "search_keys"]

#: Where a search folder keeps its key.
KEY_FILE = "search.json"
#: Search settings that bound its budget, not what a measurement means.
_BUDGET = {"trials", "timeout"}


def search_keys(fleet: FleetConfig, config: SelectConfig) -> dict[str, str]:
    """``{system: key}`` of every system's search under ``fleet`` and ``config`` (see the
    module); the systems' settings hashes, which read their files, are computed once."""
    data = fleet.model_dump(mode="json")
    shared = {"seed": data["seed"], "prices": data["prices"],
              "search": config.model_dump(mode="json", exclude=_BUDGET)}  # fmt: skip
    return {
        name: hashlib.sha256(
            json.dumps({**shared, "system": digest}, sort_keys=True).encode()
        ).hexdigest()[:16]
        for name, digest in system_hashes(data).items()
    }


def _stored_key(folder: Path) -> str | None:
    try:
        stored = json.loads((folder / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stored.get("key") if isinstance(stored, dict) else None


def claim_search_folder(out: Path, system: str, key: str) -> tuple[Path, Path | None]:
    """``out/search/<system>``, kept when it was made under ``key`` and otherwise moved
    aside first; returns it and where an earlier folder went (None: nothing moved)."""
    folder = out / "search" / system
    if _stored_key(folder) == key:
        return folder, None
    moved = None
    if folder.exists():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        moved = out / "superseded" / stamp / "search" / system
        moved.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(moved))
    atomic_write_json(folder / KEY_FILE, {"key": key})
    return folder, moved
