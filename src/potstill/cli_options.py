"""The options of ``potstill distill``, as annotated types: each flag's help comes from the
config field it sets (one source, no drift), so the command's signature reads as a list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from potstill.config import DatasetSpec
from potstill.data.split import SplitSpec
from potstill.models.students import StudentSpec
from potstill.train.config import TrainConfig
from potstill.zoo.spec import TeacherSpec

__all__ = [
    "AllowLarger", "AllowWeak", "Architecture", "Classes", "Data", "Drop", "InputShape",
    "MaxLength", "Method", "Nproc", "Out", "Positive", "Problem", "Quick", "Sensitive",
    "SensitiveFeature", "SplitColumn", "Target", "Teacher", "TestData", "TextColumn",
    "TrustPickle", "Width",
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
