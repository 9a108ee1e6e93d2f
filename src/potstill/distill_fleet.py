"""The one-system fleet ``potstill distill`` runs, built from its options.

``distill`` is a study like any other: its options become the ``dataset``, ``teacher``,
``student`` and ``transfer`` sections of one system, with ``scratch`` and the chosen
methods as the grid, validated by the same models (and refused in the same style) as a
fleet YAML file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from potstill.config import FleetConfig, format_validation_error
from potstill.costs import PRESETS
from potstill.errors import ConfigError
from potstill.evaluate import EvalConfig
from potstill.train.ddp import check_distributed

__all__ = ["distill_config", "options_fleet"]


def distill_config(
    *,
    teacher: Path,
    data: Path,
    target: str | None,
    out: Path,
    methods: Sequence[str],
    text_column: str | None,
    sensitive: str | None,
    width: float,
    trust_pickle: bool,
    quick: bool,
    input_shape: Sequence[int] | None,
    max_length: int | None,
    drop: Sequence[str],
    positive_label: str | None,
    classes: Sequence[str] | None,
    test_data: Path | None,
    split_column: str | None,
    sensitive_is_feature: bool,
    allow_weak_teacher: bool,
    teacher_architecture: Path | None,
    allow_larger: bool,
    problem: str | None,
    transfer: Mapping[str, Any] | None,
    labelled_fraction: float | None,
    nproc: int,
) -> FleetConfig:
    """The validated fleet of ``potstill.api.distill`` (its docstring names the options)."""
    dataset = {**_distill_dataset(data, target, text_column, sensitive),
               **_dataset_options(drop, positive_label, classes, test_data, split_column,
                                  sensitive_is_feature, problem, labelled_fraction)}  # fmt: skip
    teacher_spec = {"path": teacher, "trust_pickle": trust_pickle,
                    "allow_weak": allow_weak_teacher, "input_shape": input_shape,
                    "architecture": teacher_architecture, "max_length": max_length}  # fmt: skip
    system = {"name": "system", "dataset": dataset,
              "teacher": {k: _plain(v) for k, v in teacher_spec.items() if v is not None},
              "student": {"width": width, "allow_larger": allow_larger},
              **({"transfer": dict(transfer)} if transfer else {})}  # fmt: skip
    config = _distill_fleet({"name": Path(out).name or "distill", "systems": [system],
                             "grid": ["scratch", *methods], **_run_settings(quick, nproc)})  # fmt: skip
    return config


def _distill_dataset(
    data: Path, target: str | None, text_column: str | None, sensitive: str | None
) -> dict[str, Any]:
    """The dataset entry of ``distill``: a folder is images per class, any file a path."""
    if not Path(data).exists():
        raise ConfigError(f"--data: no file or folder '{data}'. Check the path.")
    source = "images" if Path(data).is_dir() else "path"
    entry = {source: str(data), "target": target, "text_column": text_column}
    return {**entry, "sensitive": sensitive}


def _dataset_options(
    drop: Sequence[str],
    positive_label: str | None,
    classes: Sequence[str] | None,
    test_data: Path | None,
    split_column: str | None,
    sensitive_is_feature: bool,
    problem: str | None,
    labelled_fraction: float | None = None,
) -> dict[str, Any]:
    """The ``dataset`` fields ``distill``'s options set (absent ones keep their defaults)."""
    out: dict[str, Any] = {"drop": list(drop), "sensitive_is_feature": sensitive_is_feature}
    optional = {"problem": problem, "positive_label": positive_label, "labelled_fraction":
                labelled_fraction, "classes": None if classes is None else list(classes)}  # fmt: skip
    out.update({k: v for k, v in optional.items() if v is not None})
    split = {"test": None if test_data is None else str(test_data), "column": split_column}
    if any(v is not None for v in split.values()):
        out["split"] = {k: v for k, v in split.items() if v is not None}
    return out


def _run_settings(quick: bool, nproc: int) -> dict[str, Any]:
    """The fleet sections ``--quick`` and ``--nproc`` set (none: the defaults)."""
    settings = _quick() if quick else {}
    if nproc != 1:
        settings["train"] = {**settings.get("train", {}), "nproc": nproc}
    return settings


def _distill_fleet(raw: dict[str, Any]) -> FleetConfig:
    """``distill``'s one-system fleet (the grid: scratch and the methods), refused before any
    work without a method or when its training cannot run (``nproc`` with a method that a
    batch split across processes would change)."""
    if len(raw["grid"]) < 2:
        raise ConfigError("Give at least one --method (e.g. --method kd).")
    config = options_fleet(raw)
    specs = [s for e in config.grid for s in [*e.methods, *(e.regression_methods or [])]]
    check_distributed([s.name for s in specs], config.train)
    return config


def options_fleet(raw: dict[str, Any]) -> FleetConfig:
    """A fleet made from command-line options, refused in the same style as a YAML file."""
    try:
        return FleetConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command-line options")) from None


def _plain(value: Any) -> Any:
    """A command-line value as the YAML would hold it (a path as text, a shape as a list)."""
    if isinstance(value, Path):
        return str(value)
    return list(value) if isinstance(value, (tuple, list)) else value


def _quick() -> dict[str, Any]:
    """The settings of a smoke run: short training, the harnesses' quick presets."""
    return {
        "train": {"epochs": 10, "patience": 4},
        "bench": dict(PRESETS["quick"]),
        "evaluate": EvalConfig.quick().model_dump(),
    }
