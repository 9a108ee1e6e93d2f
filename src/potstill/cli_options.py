"""The options of ``potstill distill`` (and of ``potstill select --teacher``), as annotated
types: each flag's help comes from the config field it sets (one source, no drift), so the
command's signature reads as a list; and the one function that turns them into the
:class:`~potstill.distill_fleet.DistillOptions` value both commands run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from potstill.config import DatasetSpec, TransferSpec
from potstill.data.split import SplitSpec
from potstill.distill_fleet import DistillOptions
from potstill.errors import ConfigError
from potstill.models.students import StudentSpec
from potstill.run_config import ExecutorSpec
from potstill.train.config import TrainConfig
from potstill.zoo.spec import TeacherSpec

__all__ = [
    "Address", "AllowLarger", "AllowWeak", "Architecture", "Classes", "Data", "Drop",
    "Executor", "ExecutorKind", "InputShape",
    "LabelledFraction", "MaxLength", "Method", "MixupAlpha", "MungeP", "MungeS", "NoiseScale",
    "Nproc", "Out", "Positive", "Problem", "Quick", "Sensitive", "SensitiveFeature",
    "SplitColumn", "Target", "Teacher", "TestData", "TextColumn", "TransferKind",
    "TransferPath", "TransferSize", "TrustPickle", "Width", "distill_options", "parse_shape",
    "transfer_section",
]  # fmt: skip


def _help(model: type[BaseModel], name: str) -> str:
    """A flag's help from the config field it sets."""
    return model.model_fields[name].description or ""


Teacher = Annotated[Path, typer.Option(help=_help(TeacherSpec, "path"))]
Data = Annotated[
    Path,
    typer.Option(
        help="CSV or Parquet file; an .npz of images X and labels y; or a folder with one "
        "sub-folder of images per class."
    ),
]
Out = Annotated[Path, typer.Option("--out", "-o", help="Output directory.")]
Target = Annotated[
    str | None,
    typer.Option(help="Column to predict (CSV/Parquet); for an .npz, its label array (y)."),
]
Method = Annotated[list[str] | None, typer.Option(help="Method name (repeatable); default kd.")]
TextColumn = Annotated[str | None, typer.Option(help="Free-text column (text task).")]
Sensitive = Annotated[str | None, typer.Option(help="Sensitive-attribute column for fairness.")]
Width = Annotated[float, typer.Option(help="Student width as a fraction of the teacher's.")]
TrustPickle = Annotated[bool, typer.Option(help="Allow a pickled teacher (executes code on load).")]
Quick = Annotated[bool, typer.Option(help="Short training and timing (a smoke run).")]
Architecture = Annotated[Path | None, typer.Option(help=_help(TeacherSpec, "architecture"))]
Drop = Annotated[list[str] | None, typer.Option(help=_help(DatasetSpec, "drop") + " Repeatable.")]
Positive = Annotated[str | None, typer.Option(help=_help(DatasetSpec, "positive_label"))]
Classes = Annotated[
    str | None,
    typer.Option(help=_help(DatasetSpec, "classes") + " Comma-separated, e.g. good,bad."),
]
TestData = Annotated[Path | None, typer.Option(help=_help(SplitSpec, "test"))]
SplitColumn = Annotated[str | None, typer.Option(help=_help(SplitSpec, "column"))]
SensitiveFeature = Annotated[bool, typer.Option(help=_help(DatasetSpec, "sensitive_is_feature"))]
AllowWeak = Annotated[bool, typer.Option(help=_help(TeacherSpec, "allow_weak"))]
InputShape = Annotated[
    str | None, typer.Option(help=_help(TeacherSpec, "input_shape") + " As 1,28,28.")
]
MaxLength = Annotated[int | None, typer.Option(help=_help(TeacherSpec, "max_length"))]
AllowLarger = Annotated[bool, typer.Option(help=_help(StudentSpec, "allow_larger"))]
Problem = Annotated[str | None, typer.Option(help=_help(DatasetSpec, "problem"))]
Nproc = Annotated[int, typer.Option(help=_help(TrainConfig, "nproc"))]
TransferKind = Annotated[str | None, typer.Option("--transfer", help=_help(TransferSpec, "kind"))]
TransferPath = Annotated[Path | None, typer.Option(help=_help(TransferSpec, "path"))]
TransferSize = Annotated[float | None, typer.Option(help=_help(TransferSpec, "size"))]
MungeP = Annotated[float | None, typer.Option(help=_help(TransferSpec, "p"))]
MungeS = Annotated[float | None, typer.Option(help=_help(TransferSpec, "s"))]
MixupAlpha = Annotated[float | None, typer.Option(help=_help(TransferSpec, "alpha"))]
NoiseScale = Annotated[float | None, typer.Option(help=_help(TransferSpec, "scale"))]
LabelledFraction = Annotated[
    float | None, typer.Option(help=_help(DatasetSpec, "labelled_fraction"))
]


def transfer_section(
    kind: str | None, path: Path | None, size: float | None,
    p: float | None, s: float | None, alpha: float | None, scale: float | None,
) -> dict[str, object] | None:  # fmt: skip
    """The ``transfer`` section the ``--transfer*`` flags describe (checked by the config);
    None without ``--transfer``, whose parameters alone are refused."""
    given = {"path": path, "size": size, "p": p, "s": s, "alpha": alpha, "scale": scale}
    given = {k: v for k, v in given.items() if v is not None}
    if kind is None:
        if given:
            flags = ", ".join(f"--{_FLAGS[k]}" for k in given)
            raise ConfigError(
                f"{flags} describe(s) a transfer set, but --transfer is not given. Add "
                "--transfer file|munge|mixup|noise|augment."
            )
        return None
    return {"kind": kind, **{k: str(v) if isinstance(v, Path) else v for k, v in given.items()}}


def distill_options(options: dict[str, Any]) -> DistillOptions:
    """The value ``api.distill_with`` (or ``api.select``) runs, from a command's options:
    the transfer flags become one section, and the texts of classes and the input shape are
    parsed. Without ``method`` (``select`` searches the method) the methods are ``kd``."""
    o = dict(options)
    transfer = [o.pop(k) for k in ("transfer", "transfer_path", "transfer_size", "munge_p",
                                   "munge_s", "mixup_alpha", "noise_scale")]  # fmt: skip
    o["transfer"] = transfer_section(*transfer)
    o["methods"] = o.pop("method", None) or ["kd"]
    o["drop"] = o["drop"] or ()
    o["classes"] = None if o["classes"] is None else _parse_classes(o["classes"])
    o["input_shape"] = parse_shape(o["input_shape"]) if o["input_shape"] else None
    return DistillOptions(**o)


def parse_shape(text: str) -> tuple[int, ...]:
    """``--input-shape``'s text, e.g. ``1,28,28``, as a shape."""
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--input-shape must be integers separated by commas, e.g. 1,28,28. Got {text!r}."
        ) from None
    if not shape or min(shape) < 1:
        raise ConfigError(f"--input-shape must hold positive integers. Got {text!r}.")
    return shape


def _parse_classes(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",")]
    if len(names) < 2 or not all(names):
        raise ConfigError(
            f"--classes must name at least 2 classes separated by commas, in the order of the "
            f"teacher's outputs, e.g. good,bad. Got {text!r}."
        )
    return names


_FLAGS = {"path": "transfer-path", "size": "transfer-size", "p": "munge-p", "s": "munge-s",
          "alpha": "mixup-alpha", "scale": "noise-scale"}  # fmt: skip


class ExecutorKind(str, Enum):
    """The values of ``executor.kind``."""

    local = "local"
    process = "process"
    ray = "ray"


Executor = Annotated[
    ExecutorKind | None, typer.Option(help=_help(ExecutorSpec, "kind") + " Default: the fleet's.")
]
Address = Annotated[str | None, typer.Option(help=_help(ExecutorSpec, "address"))]
