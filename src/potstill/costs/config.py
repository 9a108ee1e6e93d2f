"""How a benchmark is run: the one settings object every measurement records.

A cost figure is only as trustworthy as the protocol behind it, so every knob of the
harness lives here, is validated, and is copied verbatim into each ``CostProfile.settings``.
Two presets exist beside the defaults: ``quick`` (tiny counts, for tests and
``potstill demo --quick``) and ``paper`` (long runs whose p99 is always reliable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from potstill.costs.contention import ContentionConfig
from potstill.errors import ConfigError

__all__ = ["PRESETS", "QUICK_COUNTS", "BenchConfig"]

#: The runtimes a config may name; "native" (black-box ``predict``) is implied, never listed.
_CONFIG_RUNTIMES = ("eager", "compile", "onnx", "onnx-int8")


class BenchConfig(BaseModel):
    """Settings of one benchmark run (harness, scenarios, runtimes, validation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    warmup: int = Field(
        20, ge=10, description="Untimed calls per model × runtime before timing starts (≥ 10)."
    )
    min_calls: int = Field(
        200,
        ge=1,
        description="Stopping rule 1: timed batch-1 calls per model × runtime (at least 4 "
        "interleaved blocks, so every cost interval has blocks to resample).",
    )
    min_seconds: float = Field(
        5.0,
        ge=0.0,
        description="Stopping rule 2: seconds of timed batch-1 calls per model × runtime; "
        "timing goes on until both rules are met.",
    )
    max_seconds: float | None = Field(
        120.0,
        gt=0.0,
        description="Safety cap on timed seconds per model × runtime; a run stopped by it is "
        "flagged 'max_seconds' in its latency flags. None disables the cap.",
    )
    threads: int = Field(
        1,
        ge=1,
        description="Intra-op threads given to PyTorch, ONNX Runtime and BLAS/OpenMP pools; "
        "recorded, and the unit the cost model scales by.",
    )
    block_calls: int = Field(
        25,
        ge=1,
        description="Interleaving block: consecutive calls of one model × runtime before the "
        "next one takes its turn, so machine drift hits teacher and student alike.",
    )
    batch_sizes: tuple[int, ...] = Field(
        (1, 8, 32, 128),
        description="Offline scenario sweep; the throughput reported is the best of these. "
        "Every target's example must hold at least the largest.",
    )
    sweep_min_calls: int = Field(
        50, ge=1, description="Stopping rule 1 for each sweep point (at least 4 blocks)."
    )
    sweep_min_seconds: float = Field(
        1.0, ge=0.0, description="Stopping rule 2 (timed seconds) for each sweep point."
    )
    runtimes: tuple[str, ...] = Field(
        ("eager", "onnx", "onnx-int8"),
        description="Runtimes for torch models: 'eager', 'compile' (opt-in), 'onnx', "
        "'onnx-int8'. Black-box predict targets always run on 'native' only.",
    )
    server: bool = Field(
        True,
        description="Compute the server scenario: Poisson arrivals replayed against the measured "
        "batch-1 service times; largest QPS whose p99 stays under slo_ms.",
    )
    slo_ms: float = Field(100.0, gt=0.0, description="p99 latency SLO of the server scenario (ms).")
    target_qps: float | None = Field(
        None, gt=0.0, description="Optional load at which the server scenario also reports p99."
    )
    memory: bool = Field(
        True,
        description="Measure peak RSS and cold start of a fresh process serving each model "
        "(a few seconds per model × runtime).",
    )
    memory_runtimes: tuple[str, ...] = Field(
        ("eager", "onnx", "onnx-int8"),
        description="Runtimes whose fresh-process memory is probed (an eager probe imports torch "
        "in a new process, about 2 s each); the others record why they were not probed.",
    )
    memory_calls: int = Field(
        50, ge=1, description="Batch-1 calls the fresh memory-probe process makes."
    )
    device: Literal["cpu", "cuda"] = Field(
        "cpu", description="'cuda' times with CUDA events and records peak allocated/reserved."
    )
    onnx_atol: float = Field(
        1e-4, ge=0.0, description="ONNX validation: absolute part of the max-abs-diff tolerance."
    )
    onnx_rtol: float = Field(
        1e-3,
        ge=0.0,
        description="ONNX validation: relative part, times the largest |eager output|.",
    )
    onnx_min_agreement: float = Field(
        0.99,
        ge=0.0,
        le=1.0,
        description="ONNX validation: least fraction of example rows whose prediction "
        "(argmax, or value within tolerance for one output) matches eager.",
    )
    on_runtime_failure: Literal["skip", "raise"] = Field(
        "skip",
        description="A runtime that cannot be built or fails ONNX validation is skipped with "
        "its reason recorded in settings['skipped_runtimes'] ('skip') or raises BenchError.",
    )
    export_dir: Path | None = Field(
        None, description="Keep exported ONNX / INT8 files here; None uses a temporary folder."
    )
    cpu_tdp_watts: float = Field(
        200.0,
        gt=0.0,
        description="CPU package TDP used for the energy *estimate* when RAPL counters are not "
        "readable (share of threads / logical CPUs).",
    )
    seed: int = Field(0, ge=0, description="Seed of the server scenario's Poisson arrivals.")
    contention: ContentionConfig = Field(
        default_factory=ContentionConfig,
        description="When a timed block counts as measured under contention (process CPU / "
        "wall too low) and how often it is re-timed; the 1-minute load is recorded per block.",
    )

    @field_validator("batch_sizes")
    @classmethod
    def _check_batch_sizes(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(b < 1 for b in value) or len(set(value)) != len(value):
            raise ValueError(
                "must be a non-empty list of distinct positive integers. "
                f"Got {list(value)!r} instead."
            )
        return tuple(sorted(value))

    @field_validator("runtimes", "memory_runtimes")
    @classmethod
    def _check_runtimes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in value if r not in _CONFIG_RUNTIMES]
        if unknown or not value or len(set(value)) != len(value):
            raise ValueError(
                f"must be distinct names among {', '.join(_CONFIG_RUNTIMES)}. "
                f"Got {list(value)!r} instead."
            )
        return value

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> BenchConfig:
        """The named preset ('default', 'quick', 'paper') with ``overrides`` applied."""
        if name not in PRESETS:
            raise ConfigError(
                f"Unknown benchmark preset {name!r}. Valid presets: {', '.join(PRESETS)}."
            )
        try:
            return cls(**{**PRESETS[name], **overrides})
        except ValidationError as exc:
            problems = "; ".join(
                f"'{'.'.join(str(p) for p in err['loc'])}' {err['msg']} (got {err.get('input')!r})"
                for err in exc.errors()
            )
            raise ConfigError(f"Invalid benchmark setting(s) of BenchConfig: {problems}.") from exc

    @classmethod
    def quick(cls, **overrides: Any) -> BenchConfig:
        """Tiny counts for tests and the quick demo; figures are indicative only."""
        return cls.preset("quick", **overrides)

    @classmethod
    def paper(cls, **overrides: Any) -> BenchConfig:
        """Long runs (≥ 1000 calls, ≥ 30 s per model × runtime): every p99 is reliable."""
        return cls.preset("paper", **overrides)

    def with_quick_counts(self) -> BenchConfig:
        """This config with the quick preset's harness counts (:data:`QUICK_COUNTS`): what a
        search benchmarks each trial with. Batch sizes, runtimes and threads stay this
        config's, so the offline throughput (hence the price) is still read at its largest
        batch, where a smaller student's saving shows rather than per-call overhead."""
        return self.model_copy(update=BenchConfig.quick().model_dump(include=set(QUICK_COUNTS)))


#: The harness counts :meth:`BenchConfig.with_quick_counts` takes from the quick preset.
QUICK_COUNTS = ("warmup", "min_calls", "min_seconds", "max_seconds", "block_calls",
                "sweep_min_calls", "sweep_min_seconds", "memory")  # fmt: skip

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "quick": {
        "warmup": 10,
        "min_calls": 30,
        "min_seconds": 0.05,
        "max_seconds": 10.0,
        "block_calls": 10,
        "batch_sizes": (1, 16),
        "sweep_min_calls": 10,
        "sweep_min_seconds": 0.02,
        "memory": False,
    },
    "paper": {
        "warmup": 100,
        "min_calls": 1000,
        "min_seconds": 30.0,
        "max_seconds": 600.0,
        "block_calls": 50,
        "batch_sizes": (1, 8, 32, 128, 512),
        "sweep_min_calls": 200,
        "sweep_min_seconds": 5.0,
    },
}
