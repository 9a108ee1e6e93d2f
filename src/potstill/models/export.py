"""Save and reload potstill models as data only: a JSON spec plus safetensors weights.

A student (or a built-in teacher) must survive the process that trained it: the study
reloads it for evaluation, the bench for timing, the monitor for serving. Pickling the
module would make every later load execute code from disk, so a model directory holds
``model.json`` (the architecture from ``module.spec()``, a SHA-256 of the weights and
free-form ``extra``) and ``model.safetensors``. Loading rebuilds the architecture from
the registry and loads the weights with ``strict=True``. Both files are written
atomically; ``model.json`` is written last, so a directory with it is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from potstill._io import atomic_write_bytes, atomic_write_json
from potstill.errors import ModelError
from potstill.models.predict import count_params
from potstill.models.students import build_from_spec
from potstill.types import to_jsonable

__all__ = [
    "FORMAT",
    "MODEL_JSON",
    "WEIGHTS_FILE",
    "load_model",
    "load_model_info",
    "load_state_strict",
    "save_model",
]

FORMAT = "potstill-model"
FORMAT_VERSION = 1
MODEL_JSON = "model.json"
WEIGHTS_FILE = "model.safetensors"


def load_state_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str) -> None:
    """``module.load_state_dict(state, strict=True)`` with a ModelError naming ``source``."""
    try:
        module.load_state_dict(dict(state), strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"The weights in '{source}' do not fit the {type(module).__name__} architecture "
            f"given for them: {exc}. Check that the architecture spec is the one the weights "
            "were saved with."
        ) from exc


def save_model(module: nn.Module, directory: Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``module`` to ``directory`` (created if needed); return the directory.

    ``module`` must have a ``spec()`` method (every potstill architecture does); ``extra``
    is any JSON-serialisable metadata stored beside it (e.g. the method that trained it).
    """
    directory = Path(directory)
    spec_fn = getattr(module, "spec", None)
    if not callable(spec_fn):
        raise ModelError(
            f"save_model needs a module with a spec() method (MLP, DeepEnsemble, MobileNetV2, "
            f"ImageClassifier). Got {type(module).__name__}, which has none; export it to ONNX "
            "instead."
        )
    spec = spec_fn()
    try:
        json.dumps(spec, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"The spec() of {type(module).__name__} is not JSON: {exc}.") from exc
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    try:
        data = save_safetensors(state, metadata={"format": "pt"})
    except (RuntimeError, ValueError) as exc:  # e.g. tied (shared) tensors
        raise ModelError(f"The weights of {type(module).__name__} cannot be saved: {exc}") from exc
    atomic_write_bytes(directory / WEIGHTS_FILE, data)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "spec": spec,
        "params": count_params(module),
        "weights": WEIGHTS_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "torch_version": torch.__version__,
        "extra": to_jsonable(extra or {}),
    }
    atomic_write_json(directory / MODEL_JSON, meta)
    return directory


def load_model_info(directory: Path) -> dict[str, Any]:
    """The parsed ``model.json`` of a model directory (spec, params, sha256, extra)."""
    path = Path(directory) / MODEL_JSON
    if not path.is_file():
        raise ModelError(
            f"'{directory}' is not a potstill model directory: it has no {MODEL_JSON}. "
            "Save models with potstill.models.save_model."
        )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"'{path}' cannot be read as JSON: {exc}.") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(
            f'\'{path}\' is not a potstill model file: expected "format": "{FORMAT}". '
            f"Got {meta.get('format') if isinstance(meta, dict) else type(meta).__name__!r}."
        )
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"'{path}' has format_version {meta['format_version']}, newer than this potstill "
            f"reads ({FORMAT_VERSION}). Upgrade potstill."
        )
    return meta


def load_model(directory: Path) -> nn.Module:
    """Rebuild the saved module, load its weights (strict) and return it in eval mode."""
    directory = Path(directory)
    meta = load_model_info(directory)
    module = build_from_spec(meta.get("spec", {}))
    weights = directory / str(meta.get("weights", WEIGHTS_FILE))
    try:
        data = weights.read_bytes()
    except OSError as exc:
        raise ModelError(f"The weights file '{weights}' cannot be read: {exc}.") from exc
    expected = meta.get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise ModelError(
            f"The weights file '{weights}' does not match the SHA-256 recorded in {MODEL_JSON} "
            "(corrupted or replaced). Save the model again."
        )
    load_state_strict(module, load_safetensors(data), str(weights))
    return module.eval()
