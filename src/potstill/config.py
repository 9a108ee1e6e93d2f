"""Pydantic models of the fleet YAML file, and its loader.

Unknown keys are errors, every field carries its help text (``potstill config-help``
prints it from this metadata, so the documentation cannot drift from the code), and a
bad file is refused with the file, the field path and the value received. YAML is read
with ``yaml.safe_load``: a config file never executes code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from potstill.config_load import format_validation_error, resolve_paths
from potstill.costs import BenchConfig
from potstill.data.spec import DatasetSpec
from potstill.data.transfer_spec import TransferSpec
from potstill.errors import ConfigError, located_by_field
from potstill.evaluate import EvalConfig, GatesConfig
from potstill.grid import LLM_LOSSES, GridEntry, default_grid
from potstill.models.students import StudentSpec
from potstill.run_config import ExecutorSpec, TrackingSpec
from potstill.search_config import SelectConfig
from potstill.train.config import TrainConfig
from potstill.types import Sector
from potstill.variant import Variant, size_suffix, sized
from potstill.zoo.spec import TeacherSpec

__all__ = [
    "DatasetSpec",
    "ExecutorSpec",
    "FleetConfig",
    "GridEntry",
    "PricesSpec",
    "SystemPlan",
    "SystemSpec",
    "TrackingSpec",
    "TransferSpec",
    "Variant",
    "format_validation_error",
    "load_fleet",
]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    variant: Variant | None = Field(
        None, description="Set when seeds or student.sizes expand the fleet (one system per "
        "size and seed); never written in a fleet file.",
    )  # fmt: skip

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(f"must be lower case letters, digits, '_' or '-' (got {value!r})")
        return value

    @model_validator(mode="after")
    def _llm_student(self) -> SystemSpec:
        llm = self.teacher.llm
        if self.student.llm is None:
            return self
        if llm is None:
            raise ValueError(f"system {self.name!r}: student.llm makes a smaller LLM from an LLM teacher, "
                             "but the teacher is not an LLM. Add teacher.llm (path, prompt, labels) or "
                             "remove student.llm")  # fmt: skip
        if llm.student_base is not None or self.student.sizes:
            raise ValueError(f"system {self.name!r}: teacher.llm.student_base and student.sizes size a "
                             "classifier student; with student.llm the student is made from the LLM. "
                             "Remove them")  # fmt: skip
        return self


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


@dataclass(frozen=True)
class SystemPlan:
    """One system with the fleet's settings merged in once: what the study runs.

    A system's own ``grid``, ``train``, ``bench``, ``evaluate`` and ``gates`` replace the
    fleet's whole section (they are not merged field by field); ``seed`` is the fleet's,
    or the system's own seed when ``seeds`` expanded the fleet (``spec.variant``).
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

    @property
    def variant(self) -> Variant | None:
        """Which size and seed of a fleet system this is (None: not expanded)."""
        return self.spec.variant


class FleetConfig(_Model):
    """A study: the systems of a fleet and how each is distilled, measured and gated."""

    name: str = Field("fleet", description="Study name, shown in the report title.")
    seed: int = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="Seed for splits, initialisation, data order and bootstrap.",
    )
    seeds: list[int] | None = Field(
        None,
        min_length=1,
        description="Run every system once per seed (systems named '<name>#<seed>'); the "
        "report combines each method's paired gain over scratch across them. Replaces seed "
        "(which must then be left at 0).",
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
    executor: ExecutorSpec = Field(
        default_factory=ExecutorSpec, description="Where the systems run (local, process, Ray)."
    )
    tracking: TrackingSpec = Field(
        default_factory=TrackingSpec, description="Experiment tracking (MLflow)."
    )
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
        own = system.variant.seed if system.variant is not None else None
        return SystemPlan(
            spec=system,
            seed=self.seed if own is None else own,
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

    def cpus_per_system(self) -> int:
        """CPUs one system's task reserves: ``executor.cpus_per_system``, or else the most
        threads any system's train or bench settings ask for."""
        if self.executor.cpus_per_system is not None:
            return self.executor.cpus_per_system
        return max(max(p.train.threads, p.bench.threads) for p in self.plans())

    @model_validator(mode="before")
    @classmethod
    def _runner_section(cls, data: Any) -> Any:
        """Fleets (and study folders) written before ``executor`` said ``runner: {backend,
        workers}``; they load as the same executor."""
        if (
            isinstance(data, dict)
            and isinstance(data.get("runner"), dict)
            and "executor" not in data
        ):
            runner = dict(data["runner"])
            data = {k: v for k, v in data.items() if k != "runner"}
            data["executor"] = {"kind": runner.pop("backend", "local"), **runner}
        return data

    @model_validator(mode="after")
    def _threads_fit_cpus(self) -> FleetConfig:
        cpus = self.executor.cpus_per_system
        if cpus is None:
            return self
        for plan in self.plans():
            for where, threads in (("train", plan.train.threads), ("bench", plan.bench.threads)):
                if threads > cpus:
                    raise ValueError(
                        f"system {plan.name!r}: {where}.threads is {threads}, more than "
                        f"executor.cpus_per_system ({cpus}), so the task's threads would share "
                        f"its CPUs. Set {where}.threads <= {cpus} or raise cpus_per_system."
                    )
        return self

    @model_validator(mode="after")
    def _llm_grid(self) -> FleetConfig:
        for plan in self.plans():
            llm = plan.spec.student.llm is not None
            wrong = [g.label for g in plan.grid if (g.llm is None and (g.methods or g.pseudo_label)
                     if llm else g.llm is not None)]  # fmt: skip
            auto = plan.spec.auto if plan.spec.auto is not None else self.auto
            unused = [k for k, on in (("transfer", plan.transfer), ("auto", auto), ("dataset."
                      "labelled_fraction", plan.spec.dataset.labelled_fraction < 1)) if on]  # fmt: skip
            if llm and unused:
                raise ValueError(f"system {plan.name!r}: a student.llm system does not use {unused}"
                                 " (it trains on the LLM's own answers). Remove them for it")  # fmt: skip
            if wrong:
                raise ValueError(
                    f"system {plan.name!r}: grid cells {wrong} do not fit its student. A "
                    f"student.llm system takes scratch and the LLM losses ({', '.join(LLM_LOSSES)}); "
                    "other systems take no LLM loss. Give the system its own grid"
                )
        return self

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

    def expanded(self) -> FleetConfig:
        """One system per student size and seed, named ``<name>@<size>#<seed>`` and carrying
        its ``variant``; the fleet itself when it sets neither ``seeds`` nor any
        ``student.sizes``. The study runs the expanded fleet; ``config.yaml`` keeps this one."""
        if self.seeds is None and all(s.student.sizes is None for s in self.systems):
            return self
        systems = [v for s in self.systems for v in _variants(s, self.seeds)]
        return self.model_copy(update={"systems": systems, "seeds": None})

    @model_validator(mode="after")
    def _seeds(self) -> FleetConfig:
        if self.seeds is not None:
            bad = [s for s in self.seeds if not 0 <= s <= 2**32 - 1]
            if bad:
                raise ValueError(f"seeds must be integers in [0, 2**32 - 1]; got {bad}")
            dupes = sorted({s for s in self.seeds if self.seeds.count(s) > 1})
            if dupes:
                raise ValueError(f"seeds must be unique; repeated: {dupes}")
            if self.seed != 0:  # the default: a config.yaml with seeds reloads
                raise ValueError(
                    f"seed={self.seed} and seeds={self.seeds} are both set; seeds replaces "
                    "seed. Keep one of them."
                )
        expands = self.seeds is not None or any(s.student.sizes for s in self.systems)
        if expands and (self.auto or any(s.auto for s in self.systems)):
            raise ValueError(
                "auto: and seeds or student.sizes are both set; a search runs on one "
                "system as written. Run 'potstill select' on it separately."
            )
        written = [s.name for s in self.systems if s.variant is not None]
        if written:
            raise ValueError(
                f"systems {written} set 'variant', which the study sets when seeds or "
                "student.sizes expand the fleet. Remove it."
            )
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


def _variants(spec: SystemSpec, seeds: list[int] | None) -> Iterator[SystemSpec]:
    sizes: list[float | int | None] = (
        [None] if spec.student.sizes is None else [*spec.student.sizes]
    )
    runs: list[int | None] = [None] if seeds is None else [*seeds]
    if sizes == [None] and runs == [None]:
        yield spec  # neither sized nor seeded: the system as the fleet file has it
        return
    for size in sizes:
        student = spec.student if size is None else sized(spec.student, size)
        for seed in runs:
            name = spec.name + ("" if size is None else size_suffix(size))
            name += "" if seed is None else f"#{seed}"
            variant = Variant(system=spec.name, size=size, seed=seed)
            yield spec.model_copy(update={"name": name, "student": student, "variant": variant})


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
    resolve_paths(raw, path.parent)
    try:
        with located_by_field():  # a validator's own check names its field path too
            return FleetConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(path))) from None
