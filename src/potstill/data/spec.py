"""What a system's data is: the ``dataset`` section of a fleet YAML file.

A pydantic model like the rest of the config (:mod:`potstill.config` re-exports it): unknown
keys are errors and every field carries its help text. It lives with the data because it
only says where rows come from and how they are read and split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from potstill.data.split import SplitSpec

__all__ = ["DatasetSpec"]


class DatasetSpec(BaseModel):
    """Where a system's data comes from: a built-in dataset or the user's own file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    builtin: str | None = Field(
        None, description="Name of a built-in dataset (see 'potstill datasets')."
    )
    path: Path | None = Field(
        None,
        description="CSV or Parquet file with one row per example, or an .npz of images: 'X' "
        "(N, C, H, W), (N, H, W, C) or (N, H, W), labels 'y' (ints or strings) and optionally "
        "'classes' (the names of the ids, in the teacher's output order).",
    )
    images: Path | None = Field(
        None,
        description="A folder with one sub-folder of images per class (PNG, JPEG...; class ids "
        "follow the sorted folder names); read as greyscale or RGB, pixels scaled to [0, 1].",
    )
    image_size: list[int] | None = Field(
        None,
        min_length=2,
        max_length=2,
        description="[H, W] the images of 'images' are resized to. Default: the teacher's "
        "input_shape when given, else the size every image shares.",
    )
    target: str | None = Field(
        None,
        description="Column to predict (required with a CSV/Parquet 'path', except for "
        "embedding); with an .npz, the name of its label array (default 'y').",
    )
    problem: Literal["classification", "regression", "embedding"] | None = Field(
        None,
        description="Problem type; inferred from the target column when omitted. 'embedding': "
        "the texts of 'text_column' alone, judged by recall@10 of the teacher's neighbours.",
    )
    sensitive: str | None = Field(
        None,
        description="Column holding a sensitive attribute for fairness checks (text or "
        "numbers); not a feature unless sensitive_is_feature.",
    )
    sensitive_is_feature: bool = Field(
        False,
        description="Also feed the sensitive column to the models as a feature (set it when "
        "the teacher file takes it as an input).",
    )
    text_column: str | None = Field(
        None, description="Column holding free text (makes the task a text task)."
    )
    drop: list[str] = Field(
        default_factory=list, description="Columns to exclude from the features."
    )
    positive_label: str | None = Field(
        None, description="Label of the event class (class 1) for binary problems."
    )
    classes: list[str] | None = Field(
        None,
        description="The teacher's class labels in the order of its outputs; overrides the "
        "order read from the teacher (classes_, ONNX labels, id2label).",
    )
    split: SplitSpec = Field(
        default_factory=SplitSpec,
        description="How rows are split: {test: PATH} (a test file), {column: NAME} (values "
        "train/val/test), or {test_fraction, val_fraction, seed, stratify} (default 0.2/0.2, "
        "the fleet's seed, stratified for classification).",
    )
    max_rows: int | None = Field(
        None, ge=20, description="Subsample to at most this many rows (stratified)."
    )
    labelled_fraction: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Share of the training rows that keep their labels (seeded, stratified for "
        "classification); the rest join the transfer set without labels. The teacher is still "
        "the one trained on every label; the scratch student sees the labelled rows only.",
    )
    encode: bool | None = Field(
        None,
        description="Standardise/one-hot the features (true), or pass numeric features as they are "
        "(false: what a deployed teacher file expects). Default: false when teacher.path is given.",
    )

    @field_validator("image_size")
    @classmethod
    def _sizes(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and not all(1 <= v <= 8192 for v in value):
            raise ValueError(f"must be two sizes in [1, 8192] pixels (got {value})")
        return value

    @property
    def is_images(self) -> bool:
        """Whether the data are images: an 'images' folder or an .npz 'path'."""
        return self.images is not None or (
            self.path is not None and self.path.suffix.lower() == ".npz"
        )

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        given = [k for k in ("builtin", "path", "images") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'builtin', 'path' or 'images' (got "
                f"{', '.join(given) or 'none'})"
            )
        if self.is_images:
            return self._image_source()
        if self.problem == "embedding":
            if self.path is not None and not self.text_column:
                raise ValueError(
                    f"an embedding system needs 'text_column' (path={str(self.path)!r})"
                )
            if self.split.mode != "fractions":
                raise ValueError(
                    "an embedding system's texts are split by fractions only (test_fraction, "
                    "val_fraction, seed); remove split.test / split.column"
                )
            if self.target is not None:
                raise ValueError(
                    f"an embedding system has no target: the teacher's embeddings are the "
                    f"targets (got target={self.target!r}); remove 'target'"
                )
        elif self.path is not None and not self.target:
            raise ValueError(
                f"'target' is required with a CSV/Parquet 'path' (CLI --target); images come "
                f"as an .npz or an 'images' folder (path={str(self.path)!r})"
            )
        if self.image_size is not None:
            raise ValueError("'image_size' applies to an 'images' folder only")
        if self.builtin is not None and (self.classes or self.split != SplitSpec()):
            raise ValueError(
                f"'classes' and 'split' apply to a user's file (path); the built-in dataset "
                f"{self.builtin!r} has its own classes and split. Remove them."
            )
        return self

    def _image_source(self) -> DatasetSpec:
        source = f"images={str(self.images)!r}" if self.images else f"path={str(self.path)!r}"
        unused = ["text_column", "positive_label", "encode"] + (
            ["target", "sensitive"] if self.images else []
        )
        set_ = [k for k in unused if getattr(self, k) is not None] + (["drop"] if self.drop else [])
        set_ += ["sensitive_is_feature"] if self.sensitive_is_feature else []
        set_ += ["split.column"] if self.images and self.split.column else []
        if set_:
            raise ValueError(
                f"{', '.join(repr(k) for k in set_)} do(es) not apply to images ({source}); remove it"
            )
        if self.problem == "embedding" or (self.images and self.problem == "regression"):
            raise ValueError(
                f"images ({source}) support problem: classification or regression (.npz)"
            )
        if self.image_size is not None and self.images is None:
            raise ValueError(f"'image_size' applies to an 'images' folder, not to {source}")
        return self
