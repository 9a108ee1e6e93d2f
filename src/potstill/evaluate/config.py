"""What the evaluate box measures (``EvalConfig``) and what a student must meet (``GatesConfig``).

Both are frozen pydantic models with ``extra="forbid"``: a misspelt key in a YAML file is
an error, not a silently ignored option, and every field's ``description`` is the help
text the CLI and the docs show. Out-of-range values raise :class:`~potstill.errors.ConfigError`
with the scikit-learn style message of :func:`potstill._validation.check_scalar`.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from potstill._validation import check_scalar
from potstill.errors import ConfigError

__all__ = ["DEFAULT_RUNTIME_RETENTION", "EvalConfig", "GatesConfig"]


class EvalConfig(BaseModel):
    """How teacher and student are compared on the test split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n_resamples: int = Field(
        default=1000,
        description="Paired bootstrap resamples behind every confidence interval "
        "(0 gives point estimates without intervals).",
    )
    level: float = Field(default=0.95, description="Confidence level of the intervals, in (0, 1).")
    seed: int = Field(default=0, description="Seed of the bootstrap and of every perturbation.")
    ece_bins: int = Field(default=15, description="Equal-width confidence bins of the ECE (>= 2).")
    temperature_scaling: bool = Field(
        default=True,
        description="Fit a temperature for the student on the validation split and report "
        "its ECE after scaling (classification only).",
    )
    fairness: bool = Field(
        default=True,
        description="Measure per-group metrics and fairness gaps when the task declares "
        "a sensitive attribute.",
    )
    robustness: bool = Field(
        default=True, description="Measure the metric under perturbations of growing severity."
    )
    severities: tuple[float, ...] = Field(
        default=(0.1, 0.25, 0.5, 1.0),
        description="Perturbation severities, increasing, each in (0, 1]: noise std in "
        "units of the feature std, fraction of missing values or dropped tokens, ...",
    )
    perturbations: tuple[str, ...] | None = Field(
        default=None,
        description="Names of the perturbations to apply (default: every one registered "
        "for the task's kind).",
    )

    @field_validator("n_resamples")
    @classmethod
    def _check_resamples(cls, value: int) -> int:
        return check_scalar(value, "n_resamples", owner="EvalConfig", ge=0, integer=True)

    @field_validator("level")
    @classmethod
    def _check_level(cls, value: float) -> float:
        return check_scalar(value, "level", owner="EvalConfig", gt=0, lt=1)

    @field_validator("ece_bins")
    @classmethod
    def _check_bins(cls, value: int) -> int:
        return check_scalar(value, "ece_bins", owner="EvalConfig", ge=2, integer=True)

    @field_validator("severities")
    @classmethod
    def _check_severities(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value:
            raise ConfigError(
                "The 'severities' parameter of EvalConfig must list at least one severity. "
                "Got () instead."
            )
        for severity in value:
            check_scalar(severity, "severities", owner="EvalConfig", gt=0, le=1)
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise ConfigError(
                "The 'severities' parameter of EvalConfig must be strictly increasing. "
                f"Got {value!r} instead."
            )
        return value

    @classmethod
    def quick(cls, seed: int = 0) -> EvalConfig:
        """A cheap preset for tests and ``demo --quick``: 200 resamples, two severities."""
        return cls(n_resamples=200, severities=(0.25, 1.0), seed=seed)


#: ``min_runtime_retention`` when a study leaves it unset.
DEFAULT_RUNTIME_RETENTION = 0.98


class GatesConfig(BaseModel):
    """Deployment thresholds; ``None`` (the default) leaves a gate out. The student's gates
    are :data:`~potstill.evaluate.gates.GATE_NAMES`; ``min_runtime_retention`` judges its
    exported runtimes (and the teacher's) before a cost saving may count."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_retention: float | None = Field(
        default=None,
        description="Smallest acceptable retention of the primary metric (student / teacher, "
        "inverted for lower-is-better metrics), e.g. 0.97.",
    )
    max_fairness_gap_increase: float | None = Field(
        default=None,
        description="Largest acceptable widening of the teacher's fairness gap by the "
        "student (absolute, e.g. 0.02).",
    )
    max_ece: float | None = Field(
        default=None,
        description="Largest acceptable expected calibration error of the student, e.g. 0.05.",
    )
    min_robust_retention: float | None = Field(
        default=None,
        description="Smallest acceptable retention averaged over every perturbed point, e.g. 0.95.",
    )
    strict: bool = Field(
        default=False,
        description="Fail a gate whose quantity could not be measured for a student (no "
        "sensitive attribute, no calibration for a regression, robustness off); otherwise "
        "such a gate is reported as 'not measured' and neither passes nor fails.",
    )

    min_runtime_retention: float | None = Field(
        default=None,
        description="Smallest retention an exported runtime (ONNX, INT8) must keep, re-scored "
        "on the test rows against the same model on its own runtime (teacher or student); "
        "default (unset): 0.98. With min_retention set, a student's runtime must also meet "
        "that against the teacher. A runtime below either is shown as failed, with its "
        "metric, and never counted as a saving.",
    )

    @field_validator("min_retention", "min_robust_retention", "min_runtime_retention")
    @classmethod
    def _check_positive(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is None:
            return None
        return check_scalar(value, str(info.field_name), owner="GatesConfig", gt=0)

    @field_validator("max_fairness_gap_increase")
    @classmethod
    def _check_gap(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_scalar(value, "max_fairness_gap_increase", owner="GatesConfig", ge=0)

    @field_validator("max_ece")
    @classmethod
    def _check_ece(cls, value: float | None) -> float | None:
        if value is None:
            return None
        return check_scalar(value, "max_ece", owner="GatesConfig", ge=0, le=1)

    def merged(self, overrides: GatesConfig | None) -> GatesConfig:
        """These gates with every field ``overrides`` sets (not None) taking precedence."""
        if overrides is None:
            return self
        return self.model_copy(update=overrides.model_dump(exclude_none=True, exclude_unset=True))

    def thresholds(self) -> dict[str, float]:
        """The gates that have a threshold, by name."""
        return self.model_dump(exclude_none=True, exclude={"strict"})

    def is_empty(self) -> bool:
        """True when no gate has a threshold."""
        return not self.thresholds()
