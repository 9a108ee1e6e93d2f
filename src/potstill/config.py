"""Pydantic models of the fleet YAML file, and its loader.

Unknown keys are errors, every field carries its help text (``potstill config-help``
prints it from this metadata, so the documentation cannot drift from the code), and a
bad file is refused with the file, the field path and the value received. YAML is read
with ``yaml.safe_load``: a config file never executes code.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from potstill.costs import BenchConfig
from potstill.data.split import SplitSpec
from potstill.errors import ConfigError, located_by_field
from potstill.evaluate import EvalConfig, GatesConfig
from potstill.methods import MethodSpec
from potstill.models.students import StudentSpec
from potstill.train.config import TrainConfig
from potstill.types import Sector
from potstill.zoo.spec import TeacherSpec

__all__ = [
    "DatasetSpec",
    "FleetConfig",
    "GridEntry",
    "PricesSpec",
    "RunnerSpec",
    "SystemSpec",
    "format_validation_error",
    "load_fleet",
]

#: Shorthand grid cells whose method is classification-only use this on regression systems.
_REGRESSION_COUNTERPART = {"kd": "kd_regression"}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
#: Grid labels name folders (students/<system>/<label>): letters, digits, '_', '-', '+', '.',
#: starting with a letter or digit, so no label can be a path ('..', '/x') or hidden file.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-]{0,63}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(_Model):
    """Where a system's data comes from: a built-in dataset or the user's own file."""

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


class GridEntry(_Model):
    """One cell of the distillation grid: a label and the weighted methods it combines.

    YAML shorthand: ``scratch`` (labels only, no teacher) or a method name such as ``kd``.
    """

    label: str = Field(description="Name of this grid cell in records and reports.")
    methods: list[MethodSpec] = Field(
        default_factory=list,
        description="Weighted distillation terms; empty = trained from scratch on labels.",
    )
    regression_methods: list[MethodSpec] | None = Field(
        None,
        description="Terms used instead for regression and embedding systems (e.g. kd → "
        "kd_regression).",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            entry: dict[str, Any] = {
                "label": value,
                "methods": [] if value == "scratch" else [{"name": value}],
            }
            if value in _REGRESSION_COUNTERPART:
                entry["regression_methods"] = [{"name": _REGRESSION_COUNTERPART[value]}]
            return entry
        return value

    @field_validator("label")
    @classmethod
    def _safe_label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(
                "must be 1-64 letters, digits, '_', '-', '+' or '.', starting with a letter or "
                f"digit (it names a folder inside the study; got {value!r})"
            )
        return value

    def for_problem(self, problem: str) -> list[MethodSpec]:
        """The terms for ``problem``: an embedding, like a regression output, is a vector
        to match, so both take ``regression_methods`` when given."""
        if problem in ("regression", "embedding") and self.regression_methods is not None:
            return self.regression_methods
        return self.methods


def default_grid() -> list[GridEntry]:
    """From scratch, then one representative method per family (the paper's comparison)."""
    return [
        GridEntry(label="scratch"),
        GridEntry(
            label="kd",
            methods=[MethodSpec(name="kd")],
            regression_methods=[MethodSpec(name="kd_regression")],
        ),
        GridEntry(label="fitnet", methods=[MethodSpec(name="fitnet")]),
        GridEntry(label="rkd", methods=[MethodSpec(name="rkd")]),
    ]


class SystemSpec(_Model):
    """One production system: its data, its teacher, and the student to distil."""

    name: str = Field(description="Unique system name (lower case, digits, '_' or '-').")
    sector: Sector | None = Field(None, description="Sector; built-in datasets carry their own.")
    dataset: DatasetSpec = Field(description="The system's data.")
    teacher: TeacherSpec = Field(default_factory=TeacherSpec, description="The production model.")
    student: StudentSpec = Field(
        default_factory=StudentSpec, description="How the student is sized."
    )
    grid: list[GridEntry] | None = Field(
        None, description="Overrides the fleet's grid for this system."
    )
    train: TrainConfig | None = Field(None, description="Overrides the fleet's training settings.")
    gates: GatesConfig | None = Field(None, description="Overrides the fleet's deployment gates.")
    bench: BenchConfig | None = Field(
        None, description="Overrides the fleet's cost-measurement settings."
    )
    evaluate: EvalConfig | None = Field(
        None, description="Overrides the fleet's quality-measurement settings."
    )

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"must be lower case letters, digits, '_' or '-' (got {value!r})")
        return value


class PricesSpec(_Model):
    """Which price-catalog entry turns throughput into money."""

    instance: str = Field(
        "c6i.large", description="Catalog id of the serving instance ('potstill prices')."
    )
    override: Path | None = Field(
        None, description="YAML file of extra/overriding catalog entries."
    )
    target_qps: float = Field(
        200.0, gt=0, description="Load used for instances needed and monthly cost."
    )
    slo_ms: float = Field(
        50.0, gt=0, description="p99 latency objective at that load, in milliseconds."
    )


class RunnerSpec(_Model):
    """Where systems run: in this process, a process pool, or a Ray cluster."""

    backend: Literal["local", "process", "ray"] = Field("local", description="Execution backend.")
    workers: int = Field(1, ge=1, le=1024, description="Parallel systems (process/ray backends).")


class FleetConfig(_Model):
    """A study: the systems of a fleet and how each is distilled, measured and gated."""

    name: str = Field("fleet", description="Study name, shown in the report title.")
    seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="Seed for splits, initialisation, data order and bootstrap.",
    )
    systems: list[SystemSpec] = Field(
        min_length=1, description="The production systems of the fleet."
    )
    grid: list[GridEntry] = Field(
        default_factory=default_grid, description="Methods tried on every system."
    )
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training settings.")
    bench: BenchConfig = Field(
        default_factory=BenchConfig, description="Cost-measurement settings."
    )
    evaluate: EvalConfig = Field(
        default_factory=EvalConfig, description="Quality-measurement settings."
    )
    gates: GatesConfig = Field(
        default_factory=GatesConfig, description="Deployment gates for every student."
    )
    prices: PricesSpec = Field(default_factory=PricesSpec, description="Cost model settings.")
    runner: RunnerSpec = Field(default_factory=RunnerSpec, description="Execution backend.")

    @model_validator(mode="after")
    def _unique(self) -> FleetConfig:
        for what, names in (
            ("system", [s.name for s in self.systems]),
            ("grid label", [g.label for g in self.grid]),
        ):
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"{what} names must be unique; repeated: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _server_for_capacity(self) -> FleetConfig:
        benches = [("bench", self.bench)] + [
            (f"systems[{s.name}].bench", s.bench) for s in self.systems if s.bench is not None
        ]
        for where, bench in benches:
            if not bench.server:
                raise ValueError(
                    f"{where}.server is false, but prices.target_qps={self.prices.target_qps:g} "
                    f"and prices.slo_ms={self.prices.slo_ms:g} size capacity from the server "
                    "scenario. Set server: true (or leave it out)."
                )
        return self


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: field.path: message (got value)``."""
    lines = [f"{source}: {len(exc.errors())} invalid setting(s):"]
    for err in exc.errors():
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]).replace(
            ".[", "["
        )
        msg = err["msg"].removeprefix("Value error, ")
        got = ""
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see 'potstill config-help')"
        elif (
            err["type"] != "missing"
            and not isinstance(err.get("input"), (dict, list))
            and "Got " not in msg  # a check_scalar message already shows the value
        ):
            got = f" (got {err['input']!r})"
        lines.append(f"  - {loc or '<root>'}: {msg}{got}")
    return "\n".join(lines)


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make dataset/teacher/price paths (and teacher.architecture) relative to the YAML
    file's folder."""
    systems = raw.get("systems")
    for system in systems if isinstance(systems, list) else []:  # the model refuses others
        if not isinstance(system, dict):
            continue
        for section in ("dataset", "teacher"):
            part = system.get(section)
            for key in ("path", "images", "architecture"):
                if isinstance(part, dict) and isinstance(part.get(key), str):
                    part[key] = str((base / part[key]).expanduser())
        dataset = system.get("dataset")
        split = dataset.get("split") if isinstance(dataset, dict) else None
        if isinstance(split, dict) and isinstance(split.get("test"), str):
            split["test"] = str((base / split["test"]).expanduser())
    prices = raw.get("prices")
    if isinstance(prices, dict) and isinstance(prices.get("override"), str):
        prices["override"] = str((base / prices["override"]).expanduser())


def load_fleet(path: Path) -> FleetConfig:
    """Read and validate a fleet YAML file; raise ``ConfigError`` naming file, field and value."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"Fleet file not found: '{path}'. Check the path.") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read fleet file '{path}': {exc}.") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: malformed YAML{where}: {problem}.") from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping with a 'systems' list; got {type(raw).__name__}."
        )
    _resolve_paths(raw, path.parent)
    try:
        with located_by_field():  # a validator's own check names its field path too
            return FleetConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
