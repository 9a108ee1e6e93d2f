"""The typed values the boxes of the pipeline hand to each other.

data → models → methods → train → costs → evaluate → study → report. Each box takes and
returns the values below and nothing else, so a box can be replaced without reading the
others. They are frozen dataclasses: plain, picklable (for process pools and Ray), and
JSON-serialisable through :func:`to_jsonable` (the result store's format).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "GATE_STATUSES",
    "SCHEMA_VERSION",
    "Batch",
    "CostProfile",
    "Costs",
    "DatasetInfo",
    "Estimate",
    "GateResult",
    "Kind",
    "LatencyStats",
    "Outputs",
    "Problem",
    "Quality",
    "RunRecord",
    "Sector",
    "Split",
    "Task",
    "record_key",
    "to_jsonable",
]

#: Bump when a RunRecord field changes meaning; the store refuses records it cannot read.
SCHEMA_VERSION = 1

Kind = Literal["tabular", "text", "image"]
#: "embedding": a sentence encoder whose outputs are vectors, judged by what it retrieves.
Problem = Literal["classification", "regression", "embedding"]
#: The paper's three sectors; "benchmark" for public benchmarks that belong to none;
#: "other" for a user's own system that names no sector.
Sector = Literal["financial", "healthcare", "manufacturing", "benchmark", "other"]


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class DatasetInfo:
    """Where a dataset comes from, so the report can cite it honestly."""

    name: str
    source: str  # package / URL / file the rows were read from
    licence: str
    citation: str = ""
    note: str = ""  # e.g. "AI4I 2020 is itself synthetic, modelled on real machines"
    n_rows: int = 0
    n_features: int = 0
    n_classes: int = 0  # classes of a classification task (0: regression, embedding, unknown)
    #: How the rows were split and what each split holds: ``how`` ("fractions" |
    #: "test_file" | "column"), ``description``, ``rows`` and ``imputed_cells`` per split.
    split: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, eq=False)
class Split:
    """One split of a task. ``X`` is float32 (n, d) for tabular, (n, C, H, W) for images,
    an object array of str for text. ``y`` is int64 class ids or float32 targets.
    ``sensitive`` holds the raw (unencoded) sensitive attribute per row, if declared."""

    X: np.ndarray
    y: np.ndarray
    sensitive: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True, eq=False)
class Task:
    """A prediction problem with fixed, seeded train/val/test splits."""

    name: str
    sector: Sector
    kind: Kind
    problem: Problem
    train: Split
    val: Split
    test: Split
    metric: str  # primary metric name understood by potstill.evaluate (e.g. "accuracy", "rmse")
    n_classes: int  # 0 for regression
    feature_names: tuple[str, ...] = ()
    class_names: tuple[str, ...] = ()
    sensitive_name: str | None = None
    info: DatasetInfo = field(default_factory=lambda: DatasetInfo("unknown", "unknown", "unknown"))

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example (without the batch dimension)."""
        return tuple(self.train.X.shape[1:])

    @property
    def n_outputs(self) -> int:
        """Width of the model's output layer: classes, 1 for regression, 0 for embeddings
        (an encoder's width is its own)."""
        if self.problem == "embedding":
            return 0
        return self.n_classes if self.problem == "classification" else 1


# --------------------------------------------------------------------------- models ↔ methods


@dataclass(frozen=True, eq=False)
class Outputs:
    """What one forward pass exposes to a distillation loss.

    ``logits``: (N, C) class scores, or (N, 1) predictions for regression. For black-box
    classifiers that only give probabilities, ``logits`` are log-probabilities.
    ``hidden``: intermediate features by layer, in depth order ((N, D), (N, C, H, W) or (N, T, D)).
    ``attentions``: per layer (N, heads, T, T) attention probabilities (transformers).
    ``embedding``: (N, D) penultimate representation used by relation-based methods.
    ``values``: per layer (N, heads, T, d_head) value vectors (MiniLM), when exposed.
    """

    logits: Any  # torch.Tensor; typed Any so this module does not import torch
    hidden: Sequence[Any] | None = None
    attentions: Sequence[Any] | None = None
    embedding: Any | None = None
    values: Sequence[Any] | None = None

    def available(self) -> frozenset[str]:
        """Names of the fields that are present (what a method may require)."""
        names = {"logits"}
        for name in ("hidden", "attentions", "embedding", "values"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, Sequence) or len(value) > 0):
                names.add(name)
        return frozenset(names)


@dataclass(frozen=True, eq=False)
class Batch:
    """A mini-batch as the distiller hands it to a method: inputs, labels and the dataset
    row indices (CRD's memory buffer is indexed by them)."""

    x: Any  # torch.Tensor (or list[str] for text before tokenisation)
    y: Any  # torch.Tensor
    index: Any  # torch.LongTensor of row indices into the training split
    # torch.BoolTensor, True where ``y`` is a true label (a transfer set's rows carry the
    # teacher's hard labels); None: every row is labelled
    mask: Any = None


# --------------------------------------------------------------------------- evaluate


@dataclass(frozen=True)
class Estimate:
    """A measured value with its paired-bootstrap confidence interval and sample size."""

    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None
    level: float | None = None  # e.g. 0.95


#: A gate's outcome: measured and met, measured and missed, or not measurable for this run.
GATE_STATUSES = ("pass", "fail", "not measured")


@dataclass(frozen=True)
class GateResult:
    """One deployment gate evaluated on one student.

    ``status`` is ``"pass"``, ``"fail"`` or ``"not measured"`` (the quantity could not be
    measured for this run: it did not pass, and it fails only under ``gates.strict``);
    left empty, it follows ``passed``. ``passed`` is True only for ``"pass"``.
    """

    name: str  # e.g. "min_retention"
    threshold: float
    value: float | None
    passed: bool
    reason: str
    status: str = ""

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "pass" if self.passed else "fail")
        if self.status not in GATE_STATUSES:
            raise ValueError(
                f"GateResult.status must be one of {GATE_STATUSES}; got {self.status!r}"
            )
        if self.passed != (self.status == "pass"):
            raise ValueError(f"GateResult.passed={self.passed} contradicts status {self.status!r}")


@dataclass(frozen=True)
class Quality:
    """What the student kept and lost against the teacher, on the same test split.

    Layout of the free-form parts (JSON in the record; the report reads these keys):

    - ``secondary``: ``{"roc_auc": {"teacher": .., "student": ..}, "f1": {...}, "r2": {...}}``
    - ``fidelity``: classification ``agreement``, ``kl``, ``js``; regression ``pearson``, ``mad``.
    - ``calibration``: ``{"n_bins": 15, "teacher_ece": .., "student_ece": ..,
      "teacher_bins": {"confidence": [..], "accuracy": [..], "count": [..]},
      "student_bins": {...}, "temperature": T or None, "student_ece_scaled": .. or None}``
    - ``fairness``: ``{"attribute": "sex", "metric": "accuracy",
      "groups": {"Female": {"n": .., "teacher": .., "student": ..}, ...},
      "teacher_dp_diff": .., "student_dp_diff": .., "teacher_eo_diff": .., "student_eo_diff": ..,
      "gap_increase": .. (student gap - teacher gap, the larger of dp/eo),
      "teacher_metric_gap": .., "student_metric_gap": .., "gap_basis": "dp/eo" | "metric"}``
      (multiclass/regression: dp/eo are None and the gap is the metric's max-min spread).
    - ``robustness``: ``{"perturbations": {"gaussian_noise": {"severity": [..],
      "teacher": [..], "student": [..]}, ...}, "metric": .., "robust_retention": ..}`` (student metric /
      teacher metric averaged over every perturbed point).
    - ``versus_scratch`` (a distilled student; ``None`` for the from-scratch one): the paired
      bootstrap of distilled − scratch on the same test rows, in the metric's better
      direction (:mod:`potstill.evaluate.verdict`): ``{"metric", "higher_is_better",
      "value", "low", "high", "level", "share_above_zero", "p_helped", "p_hurt",
      "n_resamples", "n_seeds", "n_test", "verdict"}``.
    """

    metric: str
    higher_is_better: bool
    teacher: Estimate
    student: Estimate
    retention: Estimate  # student / teacher (teacher / student for lower-is-better)
    difference: Estimate  # student - teacher
    n_test: int
    secondary: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    fidelity: Mapping[str, Estimate] = field(default_factory=dict)
    calibration: Mapping[str, Any] | None = None
    fairness: Mapping[str, Any] | None = None
    robustness: Mapping[str, Any] | None = None
    versus_scratch: Mapping[str, Any] | None = None


# --------------------------------------------------------------------------- costs


@dataclass(frozen=True)
class LatencyStats:
    """Per-call latency of one model × runtime × batch size, in milliseconds."""

    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    cv: float  # coefficient of variation (std / mean)
    n: int  # timed calls
    unreliable: tuple[str, ...] = ()  # percentiles with too few samples, e.g. ("p99",)
    flags: tuple[str, ...] = ()  # e.g. ("cv>10%",)


@dataclass(frozen=True)
class CostProfile:
    """Measured inference cost of one model on one runtime, with how it was measured."""

    model: str  # "teacher" | "student:<method>" | a path
    runtime: str  # "eager" | "compile" | "onnx" | "onnx-int8" | "sklearn"
    batch_size: int  # batch size of ``latency``
    latency: LatencyStats
    throughput: float  # predictions per second at ``throughput_batch``
    throughput_batch: int
    peak_memory_mb: float | None
    params: int
    bytes_on_disk: int | None
    flops_per_sample: float | None
    environment: Mapping[str, Any] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)  # cold start, energy, server QPS…


@dataclass(frozen=True)
class Costs:
    """Money and capacity derived from a CostProfile and one price-catalog entry."""

    instance: Mapping[
        str, Any
    ]  # the catalog entry: provider, instance, region, usd_per_hour, source, date
    usd_per_million: float
    teacher_usd_per_million: float
    reduction: float  # 1 - student / teacher, as a fraction
    latency_reduction: float  # 1 - student p50 / teacher p50
    memory_reduction: float | None
    extra: Mapping[str, Any] = field(
        default_factory=dict
    )  # instances at QPS, monthly cost, waterfall
    #: 1 - student/teacher $ per 1M with its bootstrap interval over interleaved blocks
    #: (value, low, high, level, tie), the latency's beside it, and the contention seen
    cost_reduction: Mapping[str, Any] | None = None
    #: What one cost is for: a prediction (a request), or an output token (an LLM student
    #: against its LLM teacher). Fleet statistics pool only per-prediction costs.
    unit: Literal["prediction", "output token"] = "prediction"


# --------------------------------------------------------------------------- study


@dataclass(frozen=True)
class RunRecord:
    """One (system, method) outcome: the unit the result store keeps and the report reads."""

    system: str
    sector: Sector
    kind: Kind
    problem: Problem
    method: str  # "scratch" for the label-only baseline, else a registry name or "a+b"
    family: str  # "baseline" | "response" | "feature" | "relation" | "combined"
    status: Literal["ok", "not_applicable", "failed"]
    seed: int
    config_hash: str
    dataset: DatasetInfo
    reason: str = ""  # why not_applicable / failed
    #: a failed run: {"type", "message", "traceback"} (the traceback's last frames, as text)
    error: Mapping[str, Any] | None = None
    #: hash of this system's settings (its spec merged with the fleet defaults it uses):
    #: a rerun keeps the records whose hash matches and sets the others aside
    system_hash: str = ""
    #: an expanded fleet's run (seeds, student.sizes): {"system", "size", "seed"}; else None
    variant: Mapping[str, Any] | None = None
    teacher: Mapping[str, Any] = field(default_factory=dict)  # name, arch, params, backend
    student: Mapping[str, Any] = field(default_factory=dict)  # name, arch, params, spec
    quality: Quality | None = None
    profiles: Sequence[CostProfile] = ()  # teacher and this student, every runtime measured
    costs: Costs | None = None  # headline: student eager vs teacher eager
    gates: Sequence[GateResult] = ()
    references: Sequence[str] = ()  # citation of each method's paper, for the report
    #: Figures to doubt, each ``{"code": .., "message": .., ...}`` (e.g. "retention_suspect").
    warnings: Sequence[Mapping[str, Any]] = ()
    timings: Mapping[str, float] = field(default_factory=dict)  # seconds: train, evaluate, bench
    environment: Mapping[str, Any] = field(default_factory=dict)
    git_revision: str | None = None
    created_at: str = ""
    schema_version: int = SCHEMA_VERSION

    @property
    def key(self) -> str:
        """File-name-safe identity of the record in the store (:func:`record_key`)."""
        return record_key(self.system, self.method)


def record_key(system: str, method: str) -> str:
    """The store key of a (system, grid label) record: file-name safe."""
    return f"{system}__{method}".replace("/", "_").replace("+", "-")


def to_jsonable(value: Any) -> Any:
    """Convert dataclasses, numpy scalars/arrays, tuples and non-finite floats to JSON.

    NaN and ±inf become ``None`` (JSON has no such numbers), so a record always parses.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
