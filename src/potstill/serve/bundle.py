"""A studied student, ready to serve: its feature schema, reference profile and ONNX file.

The study writes ``students/<system>/<label>/serving/`` (:mod:`potstill.study.serving`);
this module reads it back, checks the ONNX file is the one the study measured (sha256),
and refuses a folder that is not a student, or a student v1 cannot serve, with the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from potstill.errors import ConfigError, ModelError
from potstill.evaluate.drift import Reference, reference_from_dict

__all__ = ["Bundle", "load_bundle", "softmax"]

_SERVING = "serving"


@dataclass(frozen=True)
class Bundle:
    """Everything the server and the monitor know about the student."""

    folder: Path
    schema: dict[str, Any]
    reference: dict[str, Any]
    onnx_path: Path

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.schema["classes"]]

    @property
    def sha256(self) -> str:
        return str(self.schema["onnx"]["sha256"])

    def describe(self) -> dict[str, Any]:
        return {
            "system": self.schema.get("system"),
            "method": self.schema.get("method"),
            "sha256": self.sha256,
        }


def references(reference: dict[str, Any]) -> list[Reference]:
    """Every input's and output's reference, inputs first (schema order)."""
    items = {**reference.get("inputs", {}), **reference.get("outputs", {})}
    return [reference_from_dict(name, data) for name, data in items.items()]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"Cannot read {path}: {exc}. Rerun the study to rewrite it.") from exc
    if not isinstance(data, dict):
        raise ModelError(f"{path} does not hold a JSON object. Rerun the study to rewrite it.")
    return data


def _serving_dir(folder: Path) -> Path:
    if not folder.exists():
        raise ConfigError(f"The student folder '{folder}' does not exist. Check the path.")
    serving = folder if folder.name == _SERVING else folder / _SERVING
    if not (serving / "schema.json").is_file():
        raise ConfigError(
            f"'{folder}' is not a servable student folder: it has no {_SERVING}/schema.json. "
            "Give a folder students/<system>/<label> of a study run with this potstill "
            "version (the study writes the schema and the reference profile there)."
        )
    return serving


def load_bundle(folder: Path) -> Bundle:
    """Read and check a student's serving bundle (``folder``: the student or its serving/)."""
    serving = _serving_dir(Path(folder))
    schema = _read_json(serving / "schema.json")
    if not schema.get("servable", False):
        raise ModelError(
            f"The student in '{folder}' cannot be served: {schema.get('reason', 'no reason')}."
        )
    if schema.get("version") != 1:
        raise ModelError(
            f"{serving / 'schema.json'} has version {schema.get('version')!r}; this potstill "
            "reads version 1. Rerun the study with this version."
        )
    onnx = serving / str(schema["onnx"]["file"])
    if not onnx.is_file():
        raise ModelError(f"The student's ONNX file '{onnx}' is missing. Rerun the study.")
    digest = hashlib.sha256(onnx.read_bytes()).hexdigest()
    if digest != schema["onnx"]["sha256"]:
        raise ModelError(
            f"'{onnx}' is not the file the study measured: its sha256 is {digest}, the schema "
            f"records {schema['onnx']['sha256']}. Restore the file or rerun the study."
        )
    reference = _read_json(serving / "reference.json")
    return Bundle(folder=serving.parent, schema=schema, reference=reference, onnx_path=onnx)
