"""Exported ONNX files reused across benchmarks, keyed by what determines their bytes.

Exporting a module to ONNX (``torch.onnx.export``) and quantising the export to INT8
(``quantize_dynamic``) are deterministic conversions, not measurements: the same module
weights and code, traced on inputs of the same shape by the same library versions with
the same settings, give the same graph. So a second benchmark of an unchanged model
copies them from the cache instead of converting again. Everything that is measured —
the validation against eager (it runs on every build), the ONNX Runtime sessions, every
timed call, the fresh-process memory probe — runs again each time.

The key of an FP32 export is a sha256 over:

- the cache format version, and the torch, onnx, onnxscript and onnxruntime versions;
- the module: its class, ``repr`` (layer structure), TorchScript code if scripted, and
  every state-dict tensor (name, dtype, shape, bytes);
- the rows that trace the graph (shape, dtype and values) and the export settings.

An INT8 file's key is its FP32 key plus the quantisation settings; a saved ``.onnx``
file's INT8 key hashes that file's bytes. Each entry is one folder ``<root>/<key>-<kind>``
holding the file and ``manifest.json`` (every file's size and sha256), published by an
atomic rename. A fetch re-hashes the files: an entry whose manifest is unreadable or
whose bytes do not match is removed and built again. Graphs written with external data
(over about 1.8 GB of weights) are not stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._io import atomic_folder, file_sha256

__all__ = ["EXPORT_CACHE_VERSION", "ExportCache", "file_key", "int8_key", "module_key"]

log = logging.getLogger(__name__)

#: Part of every key: bump it when the exporter's settings or the file layout change.
EXPORT_CACHE_VERSION = 1
MANIFEST = "manifest.json"
_LIBRARIES = ("torch", "onnx", "onnxscript", "onnxruntime")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def _hasher(*parts: str) -> Any:
    h = hashlib.sha256()
    for part in (str(EXPORT_CACHE_VERSION), *(f"{n}={_version(n)}" for n in _LIBRARIES), *parts):
        h.update(part.encode())
        h.update(b"\x1e")
    return h


def _tensor_bytes(t: torch.Tensor) -> bytes:
    """The tensor's raw memory, through a byte view (every dtype, bfloat16 included)."""
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def module_key(module: nn.Module, rows: np.ndarray, settings: Mapping[str, Any]) -> str:
    """The key of ``module``'s FP32 export traced on ``rows`` with ``settings``."""
    code = getattr(module, "code", "") if isinstance(module, torch.jit.ScriptModule) else ""
    h = _hasher(
        "fp32",
        f"{type(module).__module__}.{type(module).__qualname__}",
        repr(module),
        str(code),
        json.dumps(dict(settings), sort_keys=True, default=str),
    )
    for name, tensor in sorted(module.state_dict().items()):
        h.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        h.update(_tensor_bytes(tensor))
    trace = np.ascontiguousarray(rows)
    h.update(f"rows|{trace.dtype}|{trace.shape}".encode())
    h.update(trace.tobytes())
    return str(h.hexdigest())


def file_key(path: Path) -> str:
    """The key of a saved ONNX file: its bytes (and its external-data file, if any)."""
    h = _hasher("file")
    for part in (path, path.with_name(path.name + ".data")):
        if part.is_file():
            h.update(file_sha256(part).encode())
    return str(h.hexdigest())


def int8_key(fp32_key: str, settings: Mapping[str, Any]) -> str:
    """The key of the INT8 quantisation of the FP32 file keyed ``fp32_key``."""
    return str(_hasher("int8", fp32_key, json.dumps(dict(settings), sort_keys=True)).hexdigest())


class ExportCache:
    """Exported files under ``root``, one checked folder per key and kind."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _folder(self, key: str, kind: str) -> Path:
        return self.root / f"{key[:32]}-{kind}"

    def fetch(self, key: str, kind: str, dest: Path) -> str:
        """Copy the file stored under ``key`` to ``dest``. Returns "hit", "miss" (nothing
        stored) or "corrupt" (an entry that failed its check: removed, to be rebuilt)."""
        folder = self._folder(key, kind)
        if not folder.exists():
            return "miss"
        problem = self._problem(folder, key)
        if problem is not None:
            log.warning("Export cache entry '%s' is %s; removing it and exporting again.",
                        folder, problem)  # fmt: skip
            shutil.rmtree(folder, ignore_errors=True)
            return "corrupt"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / "model.onnx", dest)
        return "hit"

    def store(self, key: str, kind: str, src: Path) -> bool:
        """Keep ``src`` under ``key`` (atomically: a folder rename); False when it cannot
        be kept (external data) or is kept already."""
        folder = self._folder(key, kind)
        if src.with_name(src.name + ".data").exists() or (folder / MANIFEST).is_file():
            return False

        def fill(tmp: Path) -> None:
            shutil.copyfile(src, tmp / "model.onnx")
            manifest = {
                "key": key,
                "kind": kind,
                "files": {"model.onnx": {"bytes": src.stat().st_size,
                                         "sha256": file_sha256(tmp / "model.onnx")}},
                "versions": {n: _version(n) for n in _LIBRARIES},
            }  # fmt: skip
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

        try:
            atomic_folder(folder, fill)
        except OSError as exc:  # a full or read-only cache costs the next run an export
            log.warning("Could not keep '%s' in the export cache '%s': %s", src, self.root, exc)
            return False
        return True

    @staticmethod
    def _problem(folder: Path, key: str) -> str | None:
        """Why the entry in ``folder`` cannot be used (None when it can)."""
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            files = manifest["files"]
            if manifest["key"] != key:
                return "stored under another key"
            if "model.onnx" not in files:
                return "without its model file"
            for name, expected in files.items():
                path = folder / name
                if not path.is_file() or path.stat().st_size != expected["bytes"]:
                    return f"missing or truncated ({name})"
                if file_sha256(path) != expected["sha256"]:
                    return f"corrupt ({name}: sha256 mismatch)"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"unreadable ({type(exc).__name__}: {exc})"
        return None
