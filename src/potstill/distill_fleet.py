"""The one-system fleet ``potstill distill`` runs, built from its options.

``distill`` is a study like any other: its options (one :class:`DistillOptions` value)
become the ``dataset``, ``teacher``, ``student`` and ``transfer`` sections of one system,
with ``scratch`` and the chosen methods as the grid, validated by the same models (and
refused in the same style) as a fleet YAML file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from potstill.config import FleetConfig, format_validation_error
from potstill.costs import PRESETS
from potstill.errors import ConfigError
from potstill.evaluate import EvalConfig
from potstill.train.ddp import check_distributed

__all__ = ["DistillOptions", "distill_config", "options_fleet", "own_system"]


@dataclass(frozen=True, kw_only=True)
class DistillOptions:
    """What ``potstill distill`` (and :func:`potstill.api.distill`) was asked to do; the
    fields named like a fleet field set that field, checked when the fleet is built."""

    teacher: Path
    """The teacher file (``teacher.path``)."""
    data: Path
    """CSV/Parquet file, an .npz of images ``X`` and labels ``y``, or a folder with one
    sub-folder of images per class."""
    out: Path
    """The study's output directory (its name is the fleet's)."""
    target: str | None = None
    """Column to predict (CSV/Parquet); for an .npz, its label array."""
    methods: Sequence[str] = ("kd",)
    """The distillation methods; ``scratch`` always runs beside them."""
    text_column: str | None = None
    """Free-text column (text task)."""
    sensitive: str | None = None
    """Sensitive-attribute column for fairness."""
    width: float | None = 0.25
    """Student width as a fraction of the teacher's (``student.width``; None: its default)."""
    trust_pickle: bool = False
    """Allow a pickled teacher (executes code on load)."""
    quick: bool = False
    """Short training and the harnesses' quick presets (cost figures indicative only)."""
    input_shape: Sequence[int] | None = None
    """The shape of one input the teacher takes, e.g. ``(1, 28, 28)``."""
    max_length: int | None = None
    """The tokens a text teacher reads (default: the length recorded with it)."""
    drop: Sequence[str] = ()
    """``dataset.drop``: columns that are not features."""
    positive_label: str | None = None
    """``dataset.positive_label``."""
    classes: Sequence[str] | None = None
    """``dataset.classes``: the teacher's labels in output order."""
    test_data: Path | None = None
    """``dataset.split.test``: a separate test file."""
    split_column: str | None = None
    """``dataset.split.column``: the column naming each row's part."""
    sensitive_is_feature: bool = False
    """``dataset.sensitive_is_feature``."""
    allow_weak_teacher: bool = False
    """``teacher.allow_weak``."""
    teacher_architecture: Path | None = None
    """``teacher.architecture``."""
    allow_larger: bool = False
    """``student.allow_larger``."""
    problem: str | None = None
    """``dataset.problem``."""
    transfer: Mapping[str, Any] | None = None
    """The system's ``transfer`` section (None: the training data)."""
    labelled_fraction: float | None = None
    """``dataset.labelled_fraction``."""
    nproc: int = 1
    """``train.nproc``."""


def distill_config(options: DistillOptions) -> FleetConfig:
    """The validated one-system fleet of ``options``."""
    o = options
    return _distill_fleet({"name": Path(o.out).name or "distill", "systems": [own_system(o)],
                           "grid": ["scratch", *o.methods], **_run_settings(o.quick, o.nproc)})  # fmt: skip


def own_system(options: DistillOptions) -> dict[str, Any]:
    """The one system ``options`` describe (its ``dataset``, ``teacher``, ``student`` and
    ``transfer`` sections, as a fleet YAML would hold them): what ``distill`` studies and
    ``select --teacher`` searches. ``methods``, ``quick`` and ``nproc`` are not part of it."""
    o = options
    teacher_spec = {"path": o.teacher, "trust_pickle": o.trust_pickle,
                    "allow_weak": o.allow_weak_teacher, "input_shape": o.input_shape,
                    "architecture": o.teacher_architecture, "max_length": o.max_length}  # fmt: skip
    return {"name": "system", "dataset": {**_distill_dataset(o), **_dataset_options(o)},
            "teacher": {k: _plain(v) for k, v in teacher_spec.items() if v is not None},
            "student": {"allow_larger": o.allow_larger,
                        **({} if o.width is None else {"width": o.width})},
            **({"transfer": dict(o.transfer)} if o.transfer else {})}  # fmt: skip


def _distill_dataset(options: DistillOptions) -> dict[str, Any]:
    """The dataset entry of ``distill``: a folder is images per class, any file a path."""
    data = Path(options.data)
    if not data.exists():
        raise ConfigError(f"--data: no file or folder '{options.data}'. Check the path.")
    source = "images" if data.is_dir() else "path"
    return {source: str(options.data), "target": options.target,
            "text_column": options.text_column, "sensitive": options.sensitive}  # fmt: skip


def _dataset_options(o: DistillOptions) -> dict[str, Any]:
    """The ``dataset`` fields ``distill``'s options set (absent ones keep their defaults)."""
    out: dict[str, Any] = {"drop": list(o.drop), "sensitive_is_feature": o.sensitive_is_feature}
    optional = {"problem": o.problem, "positive_label": o.positive_label, "labelled_fraction":
                o.labelled_fraction, "classes": None if o.classes is None else list(o.classes)}  # fmt: skip
    out.update({k: v for k, v in optional.items() if v is not None})
    split = {"test": None if o.test_data is None else str(o.test_data), "column": o.split_column}
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
