"""Teacher files in their libraries' own formats, and unpickling that fails with a message.

- GBM files (XGBoost ``.json``/``.ubj``, LightGBM ``.txt``, CatBoost ``.cbm``) are read by
  their libraries' loaders: trees and parameters, never code (:mod:`potstill.models.gbm`).
- ``.skops`` (scikit-learn through skops) is loaded without pickle; the types skops does not
  trust by default are listed and loaded only when the user trusts the file
  (``trust_pickle`` / ``--trust-pickle``, as for a pickle).
- A pickle (joblib, ``torch.load``) whose library is not installed fails while unpickling
  with ``ModuleNotFoundError``; :func:`unpickle` turns that into the package to install.
- torch files: TorchScript archives, and weights that need the model's spec
  (``architecture``, or a JSON file of it: :func:`read_architecture`).
"""

from __future__ import annotations

import json
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from potstill.errors import ConfigError, MissingDependencyError, ModelError, UnsafeModelError
from potstill.models.backends import TeacherBackend
from potstill.models.export import load_state_strict
from potstill.models.gbm import LightGBMBackend, XGBoostBackend, import_optional
from potstill.models.gbm_catboost import CatBoostBackend
from potstill.models.students import build_from_spec
from potstill.models.tree_embedding import DEFAULT_WIDTH
from potstill.types import Problem

__all__ = [
    "GBM_SUFFIXES",
    "check_torch_file",
    "is_torchscript",
    "load_gbm",
    "load_skops",
    "load_torchscript",
    "module_from_weights",
    "pip_name",
    "read_architecture",
    "refuse_pickle",
    "unpickle",
]

#: Suffix → the GBM library that reads it.
GBM_SUFFIXES: dict[str, Callable[[Path, Problem, int], TeacherBackend]] = {
    ".json": XGBoostBackend,
    ".ubj": XGBoostBackend,
    ".txt": LightGBMBackend,
    ".cbm": CatBoostBackend,
}

#: Module → pip package, where the names differ.
_PIP_NAMES = {"sklearn": "scikit-learn"}
#: Packages a saved model commonly needs, and the potstill extra that installs them.
_EXTRAS = {
    "xgboost": "formats",
    "lightgbm": "formats",
    "catboost": "formats",
    "skops": "formats",
    "transformers": "text",
    "scikit-learn": None,
    "torch": None,
}

T = TypeVar("T")


def load_gbm(path: Path, problem: Problem, *, leaf_width: int = DEFAULT_WIDTH) -> TeacherBackend:
    """The backend of a GBM file, chosen by its suffix (``leaf_width``: its leaf embedding's
    width, 0 for logits only)."""
    return GBM_SUFFIXES[Path(path).suffix.lower()](Path(path), problem, leaf_width)


def pip_name(module: str) -> str:
    """The pip package that provides ``module`` (its top-level name when unknown)."""
    root = module.split(".")[0]
    return _PIP_NAMES.get(root, root)


def _missing(path: Path, exc: ModuleNotFoundError) -> MissingDependencyError:
    module = exc.name or str(exc)
    package = pip_name(module)
    if package not in _EXTRAS:
        return MissingDependencyError(
            f"The teacher file '{path}' needs the Python module '{module}', which cannot be "
            f"imported here. Install the package that provides it (often: pip install "
            f"{package}) or put the code that defines the model on PYTHONPATH; better, export "
            "the model to ONNX, which needs no code to load."
        )
    extra = _EXTRAS[package]
    how = (
        f"pip install 'potstill[{extra}]' (or pip install {package})"
        if extra
        else f"pip install {package}"
    )
    return MissingDependencyError(
        f"The teacher file '{path}' was saved from the package '{package}' (module '{module}'), "
        f"which is not installed here, so it cannot be loaded. Install it with: {how}, "
        "ideally at the version the file was saved with."
    )


def unpickle(path: Path, load: Callable[[], T]) -> T:
    """Run ``load`` (an unpickling call); a missing module becomes the package to install."""
    try:
        return load()
    except ModuleNotFoundError as exc:
        raise _missing(path, exc) from exc
    except AttributeError as exc:  # pickle: "Can't get attribute 'X' on <module 'y'>"
        if "Can't get attribute" not in str(exc):
            raise
        raise MissingDependencyError(
            f"The teacher file '{path}' needs a class or function the installed code does not "
            f"define ({exc}). It was saved with another version of its library or of your "
            "own code: install that version, or export the model to ONNX."
        ) from exc


def refuse_pickle(path: Path, what: str) -> UnsafeModelError:
    """The refusal of a pickle the user has not trusted."""
    return UnsafeModelError(
        f"Refusing to load '{path}': {what} Unpickling executes arbitrary code stored in the "
        "file. If you trust this file, pass trust_pickle=True (CLI: --trust-pickle); better, "
        "export the model to ONNX or safetensors."
    )


def check_torch_file(path: Path) -> None:
    """Refuse a .pt/.pth file that is neither a zip archive (torch.save, torch.jit.save)
    nor a legacy pickle (first byte 0x80): random or truncated bytes, another format."""
    with path.open("rb") as fh:
        head = fh.read(1)
    if not zipfile.is_zipfile(path) and head != b"\x80":
        raise ModelError(
            f"'{path}' is not a PyTorch file: neither a TorchScript/torch.save archive nor a "
            "legacy pickle. It may be truncated or in another format; save it again with "
            "torch.save or torch.jit.save, or export it to ONNX."
        )


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip with code), not a torch.save file."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in n or n.endswith("constants.pkl") for n in archive.namelist())


def load_torchscript(path: Path) -> nn.Module:
    """A TorchScript module, on CPU, in eval mode."""
    with warnings.catch_warnings():
        # The file is TorchScript; torch deprecating that format is not the user's to fix.
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.load.*", category=DeprecationWarning
        )
        module = torch.jit.load(str(path), map_location="cpu")
    return module.eval()


def module_from_weights(
    architecture: Mapping[str, Any] | None, state: Any, path: Path
) -> nn.Module:
    """The model ``architecture`` (a ``spec()`` dict) describes, with the weights ``state``."""
    if architecture is None:
        raise ModelError(
            f"'{path}' holds weights only (a state dict), so potstill needs the model they "
            "belong to: a spec dict such as MLP(...).spec(), given as architecture=<dict> "
            "(Python API), 'teacher.architecture: spec.json' (fleet YAML) or "
            "--teacher-architecture spec.json (potstill distill)."
        )
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping):
        raise ModelError(f"'{path}' does not hold a state dict. Got {type(state).__name__}.")
    module = build_from_spec(architecture)
    load_state_strict(module, state, str(path))
    return module


def read_architecture(path: Path) -> dict[str, Any]:
    """The spec dict in a JSON file (e.g. ``json.dump(MLP(...).spec(), f)``)."""
    try:
        spec = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"The teacher architecture file '{path}' cannot be read as JSON: {exc}. Give a "
            "JSON file holding a model spec, e.g. the output of MLP(...).spec()."
        ) from exc
    if not isinstance(spec, dict) or "type" not in spec:
        raise ConfigError(
            f"The teacher architecture file '{path}' must hold a JSON object with a 'type' "
            f"key (a model spec such as MLP(...).spec()). Got {type(spec).__name__} instead."
        )
    return spec


def load_skops(path: Path, *, trust_pickle: bool) -> Any:
    """A scikit-learn model from a ``.skops`` file, with skops' trusted-types check."""
    sio = import_optional("skops.io", "scikit-learn teachers saved with skops (.skops)")
    try:
        untrusted = list(sio.get_untrusted_types(file=str(path)))
    except Exception as exc:  # skops raises zipfile/json/key errors for a broken file
        raise ModelError(f"'{path}' is not a readable skops file: {exc}") from exc
    if untrusted and not trust_pickle:
        raise UnsafeModelError(
            f"Refusing to load '{path}': it holds types that skops does not trust by default: "
            f"{', '.join(untrusted)}. Loading them runs their code. If you trust this file and "
            "these types, pass trust_pickle=True (CLI: --trust-pickle); otherwise export the "
            "model to ONNX."
        )
    return unpickle(path, lambda: sio.load(str(path), trusted=untrusted))
