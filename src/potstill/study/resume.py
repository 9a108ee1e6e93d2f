"""Per-system resume: a changed system reruns alone, unchanged systems keep their records.

Each system's settings are hashed: its spec with every fleet default it inherits filled in
(grid, train, bench, evaluate, gates), so editing the fleet's ``train`` changes the hash of
exactly the systems that use it. The hash is stored in every record (``system_hash``) and
in ``students/<system>/system.json`` once the system starts training. When a study folder
is reused:

- a system whose stored hash differs from its current one is **set aside**: its records,
  saved students and exported files move to ``superseded/<time>/`` (never deleted), and
  it reruns from scratch while every other system keeps its records;
- a system that is no longer in the fleet is set aside the same way;
- a fleet-wide setting that shapes every system's figures (``seed``: splits, initial
  weights, bootstrap; ``prices``: every dollar figure) sets aside every system, with a
  message naming the setting and its old and new value.

The hash also covers the content of the files a system reads (its data, its test file and
its teacher file), so an edited CSV or a retrained teacher under the same name reruns the
system instead of mixing old students into new-data records.

Records from before hashes were stored are judged by the previous ``config.yaml``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from potstill._io import atomic_write_json, tree_sha256
from potstill.config import FleetConfig
from potstill.errors import StoreError

__all__ = [
    "FLEET_WIDE",
    "SYSTEM_DEFAULTS",
    "prepare_resume",
    "system_hashes",
    "system_settings",
    "write_marker",
]

log = logging.getLogger(__name__)

#: Fleet settings that shape every system's figures: a change sets every system aside.
FLEET_WIDE = ("seed", "prices")
#: Fleet defaults a system inherits unless it sets its own: part of its settings hash.
SYSTEM_DEFAULTS = ("grid", "train", "bench", "evaluate", "gates", "transfer")
#: Where a system's settings hash is kept beside its saved students.
MARKER = "system.json"
#: A system's settings that shape no record of its grid: left out of its hash (the
#: ``auto:`` search keeps its own resume in its own folder).
_NOT_HASHED = ("auto",)
_FOLDERS = ("students", "exports")


def system_settings(system: Mapping[str, Any], fleet: Mapping[str, Any]) -> dict[str, Any]:
    """A system's spec (JSON form) with the fleet defaults it inherits filled in (less the
    settings that shape none of its grid's records)."""
    merged = {k: v for k, v in system.items() if k not in _NOT_HASHED}
    for key in SYSTEM_DEFAULTS:
        if merged.get(key) is None:
            merged[key] = fleet.get(key)
    return merged


def input_files(system: Mapping[str, Any]) -> dict[str, str]:
    """``{field: content digest}`` of the files a system reads (its data, test file, teacher),
    so an edited CSV or a retrained teacher file changes the system's settings hash."""
    dataset, teacher = system.get("dataset") or {}, system.get("teacher") or {}
    transfer = system.get("transfer") or {}
    split = dataset.get("split") or {} if isinstance(dataset, Mapping) else {}
    fields = {
        "dataset.path": dataset.get("path") if isinstance(dataset, Mapping) else None,
        "dataset.split.test": split.get("test") if isinstance(split, Mapping) else None,
        "teacher.path": teacher.get("path") if isinstance(teacher, Mapping) else None,
        "teacher.architecture": teacher.get("architecture")
        if isinstance(teacher, Mapping)
        else None,
        "transfer.path": transfer.get("path") if isinstance(transfer, Mapping) else None,
    }
    return {k: tree_sha256(Path(v))[:16] for k, v in fields.items() if v and Path(v).exists()}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def system_hashes(fleet: Mapping[str, Any]) -> dict[str, str]:
    """``{system name: settings hash}`` of a fleet config in JSON form (``model_dump``)."""
    systems = fleet.get("systems")
    return {
        str(s.get("name")): _digest(
            {**system_settings(s, fleet), "_files": input_files(system_settings(s, fleet))}
        )
        for s in (systems if isinstance(systems, list) else [])
        if isinstance(s, Mapping)
    }


def _previous_config(out: Path) -> Mapping[str, Any]:
    path = out / "config.yaml"
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise StoreError(
            f"The previous study configuration {path} is not valid YAML ({exc}); it says "
            "which settings the stored records come from. Restore it, or use another --out "
            "folder."
        ) from exc
    return data if isinstance(data, Mapping) else {}


def _stored_hashes(out: Path) -> dict[str, set[str]]:
    """Every settings hash stored for each system: in its records and its students' marker."""
    found: dict[str, set[str]] = {}
    for path in sorted((out / "records").glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # the store names an unreadable record when it is read
        if isinstance(record, Mapping) and isinstance(record.get("system"), str):
            found.setdefault(record["system"], set()).add(str(record.get("system_hash") or ""))
    for marker in sorted((out / "students").glob(f"*/{MARKER}")):
        try:
            stored = json.loads(marker.read_text(encoding="utf-8")).get("system_hash", "")
        except (OSError, json.JSONDecodeError, AttributeError):
            stored = "unreadable"
        found.setdefault(marker.parent.name, set()).add(str(stored))
    for folder in (out / "students").glob("*/"):
        found.setdefault(folder.name, set())
    return found


def _changed_fleet_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    if not old:
        return []
    return [
        f"{key}: {json.dumps(old.get(key), sort_keys=True)} → {json.dumps(new.get(key), sort_keys=True)}"
        for key in FLEET_WIDE
        if old.get(key) != new.get(key)
    ]


def _stale(
    stored: Mapping[str, set[str]], old: Mapping[str, str], new: Mapping[str, str]
) -> dict[str, str]:
    """``{system: why}`` for every stored system whose records no longer match."""
    stale = {}
    for system, hashes in stored.items():
        if system not in new:
            stale[system] = "no longer in the fleet"
            continue
        known = (hashes - {""}) or ({old[system]} if system in old else set())
        if known and known != {new[system]}:
            stale[system] = "its settings changed"
    return stale


def _set_aside(out: Path, systems: Iterable[str], stamp: str) -> Path:
    """Move each system's records (with their test scores), students and exports under
    ``superseded/<stamp>/``."""
    target = out / "superseded" / stamp
    names = set(systems)
    for path in sorted((out / "records").glob("*.json")):
        try:
            system = json.loads(path.read_text(encoding="utf-8")).get("system")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue
        if system in names:
            (target / "records").mkdir(parents=True, exist_ok=True)
            shutil.move(str(path), target / "records" / path.name)
            scores = out / "predictions" / f"{path.stem}.npz"  # the record's test scores
            if scores.is_file():
                (target / "predictions").mkdir(parents=True, exist_ok=True)
                shutil.move(str(scores), target / "predictions" / scores.name)
    for folder in _FOLDERS:
        for name in sorted(names):
            source = out / folder / name
            if source.exists():
                (target / folder).mkdir(parents=True, exist_ok=True)
                shutil.move(str(source), target / folder / name)
    return target


def write_marker(out: Path, system: str, system_hash: str) -> None:
    """``students/<system>/system.json``: written as a system starts training students, so
    students saved before an interruption are known to come from these settings."""
    if system_hash:
        atomic_write_json(out / "students" / system / MARKER, {"system_hash": system_hash})


def prepare_resume(
    out: Path, config: FleetConfig, selected: Collection[str] | None = None
) -> dict[str, str]:
    """Set aside what the current config no longer produces; return the systems' hashes.

    ``selected``: the systems this run will run (None: all). Only those are checked one by
    one (and systems no longer in the fleet only when the whole fleet runs); a fleet-wide
    change sets every system aside. Call before the new run writes anything to ``out``.
    """
    new_json = config.model_dump(mode="json")
    hashes = system_hashes(new_json)
    if not out.is_dir():
        return hashes
    old_json = _previous_config(out)
    stored = _stored_hashes(out)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    changed = _changed_fleet_settings(old_json, new_json)
    if changed and stored:
        where = _set_aside(out, stored, stamp)
        log.warning(
            "fleet-wide settings changed (%s): they shape every system's figures, so every "
            "system reruns; the previous records and students were moved to %s",
            "; ".join(changed),
            where,
        )
        return hashes
    stale = _stale(stored, system_hashes(old_json), hashes)
    if selected is not None:
        stale = {name: why for name, why in stale.items() if name in selected}
    if stale:
        where = _set_aside(out, stale, stamp)
        for system, why in sorted(stale.items()):
            log.warning(
                "system %s: %s; its previous records and students were moved to %s%s",
                system,
                why,
                where,
                "" if why.startswith("no longer") else " and it reruns alone",
            )
    return hashes
