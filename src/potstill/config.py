"""Pydantic models of the fleet YAML file, and its loader.

Unknown keys are errors, every field carries its help text (``potstill config-help``
prints it from this metadata, so the documentation cannot drift from the code), and a
bad file is refused with the file, the field path and the value received. YAML is read
with ``yaml.safe_load``: a config file never executes code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from potstill.costs import BenchConfig
from potstill.data.spec import DatasetSpec
from potstill.data.transfer_spec import TransferSpec
from potstill.errors import ConfigError, located_by_field
from potstill.evaluate import EvalConfig, GatesConfig
from potstill.methods import MethodSpec
from potstill.models.students import StudentSpec
from potstill.search_config import SelectConfig
from potstill.train.config import TrainConfig
from potstill.types import Sector
from potstill.zoo.spec import TeacherSpec

__all__ = [
    "DatasetSpec",
    "FleetConfig",
    "GridEntry",
    "PricesSpec",
    "RunnerSpec",
    "SystemPlan",
    "SystemSpec",
    "TransferSpec",
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
    transfer: bool = Field(
        True,
        description="Distil on the system's transfer set too, when it has one (see 'transfer' "
        "and dataset.labelled_fraction); false: on the labelled rows only. A cell without "
        "methods (scratch) never uses it.",
    )
    pseudo_label: bool = Field(
        False,
        description="The pseudo-label baseline: no distillation term; the student learns the "
        "true labels plus the teacher's hard labels of the transfer set (YAML shorthand "
        "'pseudo_label'). Tells soft targets from more rows.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value == "pseudo_label":
                return {"label": value, "pseudo_label": True}
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

    @model_validator(mode="after")
    def _pseudo_label_alone(self) -> GridEntry:
        if self.pseudo_label and (self.methods or self.regression_methods):
            raise ValueError(
                f"grid entry {self.label!r}: pseudo_label trains on hard labels without "
                "distillation terms; remove its methods (or pseudo_label)"
            )
        return self

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
        None, min_length=1, description="Overrides the fleet's grid for this system."
    )
    train: TrainConfig | None = Field(None, description="Overrides the fleet's training settings.")
    gates: GatesConfig | None = Field(None, description="Overrides the fleet's deployment gates.")
    transfer: TransferSpec | None = Field(
        None, description="Overrides the fleet's transfer set for this system."
    )
    bench: BenchConfig | None = Field(
        None, description="Overrides the fleet's cost-measurement settings."
    )
    evaluate: EvalConfig | None = Field(
        None, description="Overrides the fleet's quality-measurement settings."
    )
    auto: SelectConfig | Literal[False] | None = Field(
        None,
        description="Overrides the fleet's 'auto:' search for this system; false: no search.",
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


@dataclass(frozen=True)
class SystemPlan:
    """One system with the fleet's settings merged in once: what the study runs.

    A system's own ``grid``, ``train``, ``bench``, ``evaluate`` and ``gates`` replace the
    fleet's whole section (they are not merged field by field); ``seed`` is the fleet's.
    Made by :meth:`FleetConfig.plan_for`; every step of a system reads its settings here,
    never ``spec.X or fleet.X``.
    """

    spec: SystemSpec
    seed: int
    grid: tuple[GridEntry, ...]
    train: TrainConfig
    bench: BenchConfig
    evaluate: EvalConfig
    gates: GatesConfig
    transfer: TransferSpec | None = None

    @property
    def name(self) -> str:
        return self.spec.name


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
    transfer: TransferSpec | None = Field(
        None,
        description="Unlabelled rows the teacher labels for every distilled student (a file, "
        "or MUNGE / mixup / noise / augment rows made from the training rows); none by default.",
    )
    auto: SelectConfig | None = Field(
        None,
        description="After the study, search each system for the cheapest student that "
        "passes every gate ('potstill select') and write it as the record 'auto'.",
    )

    def plan_for(self, system: SystemSpec | str) -> SystemPlan:
        """``system`` (a spec or its name) with the fleet's defaults merged in."""
        if isinstance(system, str):
            names = [s.name for s in self.systems]
            if system not in names:
                raise ConfigError(
                    f"No system named {system!r} in the fleet. Valid names: {', '.join(names)}."
                )
            system = self.systems[names.index(system)]
        return SystemPlan(
            spec=system,
            seed=self.seed,
            grid=tuple(system.grid if system.grid is not None else self.grid),
            train=system.train if system.train is not None else self.train,
            bench=system.bench if system.bench is not None else self.bench,
            evaluate=system.evaluate if system.evaluate is not None else self.evaluate,
            gates=system.gates if system.gates is not None else self.gates,
            transfer=system.transfer if system.transfer is not None else self.transfer,
        )

    def plans(self) -> list[SystemPlan]:
        """Every system's plan, in the fleet's order."""
        return [self.plan_for(s) for s in self.systems]

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
    for holder in [raw, *(systems if isinstance(systems, list) else [])]:
        transfer = holder.get("transfer") if isinstance(holder, dict) else None
        if isinstance(transfer, dict) and isinstance(transfer.get("path"), str):
            transfer["path"] = str((base / transfer["path"]).expanduser())
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
