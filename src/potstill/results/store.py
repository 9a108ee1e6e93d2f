"""The result store: one JSON file per (system, method) under ``DIR/records/``.

Records are written atomically, so an interrupted study never leaves a torn record, and
``exists`` lets a rerun skip what is finished. Readers get plain dicts (the JSON as
written): the report is a pure function of these files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from potstill._io import atomic_write_json
from potstill.errors import StoreError
from potstill.types import SCHEMA_VERSION, RunRecord, to_jsonable

__all__ = ["ResultStore"]


class ResultStore:
    """Records of one study directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def records_dir(self) -> Path:
        return self.root / "records"

    def path_for(self, key: str) -> Path:
        return self.records_dir / f"{key}.json"

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def write(self, record: RunRecord) -> Path:
        path = self.path_for(record.key)
        try:
            atomic_write_json(path, to_jsonable(record))
        except OSError as exc:
            raise StoreError(f"Cannot write record {path}: {exc.strerror}.") from exc
        return path

    def read(self, key: str) -> dict[str, Any]:
        return self._load(self.path_for(key))

    def load_all(self) -> list[dict[str, Any]]:
        """Every record in the store, sorted by (system, method)."""
        if not self.records_dir.is_dir():
            raise StoreError(
                f"No records found: '{self.records_dir}' does not exist. "
                "Run 'potstill study FLEET.yaml --out DIR' or 'potstill demo' first."
            )
        records = [self._load(p) for p in sorted(self.records_dir.glob("*.json"))]
        return sorted(records, key=lambda r: (r["system"], r["method"]))

    @staticmethod
    def _load(path: Path) -> dict[str, Any]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise StoreError(f"Record not found: {path}.") from exc
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"Record {path} is not valid JSON (line {exc.lineno}): {exc.msg}. "
                "Delete it and rerun the study to recompute it."
            ) from exc
        version = data.get("schema_version") if isinstance(data, dict) else None
        needed = ("system", "method", "status")
        if version is None and (not isinstance(data, dict) or any(k not in data for k in needed)):
            what = type(data).__name__ if not isinstance(data, dict) else f"keys {sorted(data)}"
            raise StoreError(
                f"Record {path} is not a potstill run record: it lacks the fields "
                f"{list(needed)} (found {what}). Something else wrote it; move it out of "
                "records/ and rerun the study to recompute that cell."
            )
        if version != SCHEMA_VERSION:
            raise StoreError(
                f"Record {path} has schema_version {version!r}; this potstill reads "
                f"version {SCHEMA_VERSION}. Rerun the study with this version."
            )
        return data
