"""How a study runs, apart from what it computes: where its systems run and where its
records are also tracked. Neither changes a figure, so neither is part of a record's
``config_hash`` or a system's settings hash.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["ExecutorSpec", "TrackingSpec"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExecutorSpec(_Model):
    """Where systems run. Every executor runs a whole system (teacher, students, benchmark,
    evaluation) in one place, so cost ratios compare models timed on the same machine."""

    kind: Literal["local", "process", "ray"] = Field(
        "local",
        description="local: one system after another in this process (the default); "
        "process: a pool of 'workers' processes on this machine; ray: one Ray task per "
        "system on a Ray cluster (the 'ray' extra), at most one benchmark per node at a time.",
    )
    address: str | None = Field(
        None,
        description="Ray only: the cluster to join, 'auto' (the cluster this machine is part "
        "of), 'ray://host:10001' (Ray Client) or 'host:6379'. Unset: a Ray instance started "
        "on this machine for the study.",
    )
    cpus_per_system: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Ray only: CPUs each system's task reserves; torch, ONNX Runtime and "
        "BLAS threads in the task are capped at it. Unset: the most threads any system's "
        "train or bench settings ask for.",
    )
    workers: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Systems run at once. process: the pool size (unset: 1); ray: at most "
        "this many tasks in flight, and the size of a Ray instance started here (unset: "
        "as many as the cluster's CPUs fit).",
    )
    max_retries: int = Field(
        2,
        ge=0,
        le=100,
        description="Ray only: how often a system is rerun when its worker process or node "
        "dies; the rerun resumes from the students and checkpoints already saved.",
    )

    @model_validator(mode="after")
    def _ray_fields(self) -> ExecutorSpec:
        if self.kind != "ray":
            for name in ("address", "cpus_per_system"):
                if getattr(self, name) is not None:
                    raise ValueError(
                        f"executor.{name} applies to kind 'ray' only; got kind {self.kind!r}. "
                        f"Remove {name} or set kind: ray."
                    )
        return self


class TrackingSpec(_Model):
    """Experiment tracking: every record also logged as one MLflow run (the 'mlflow' extra).

    The records in the study folder stay the source of truth: a tracking failure is logged
    and the study goes on; a rerun logs what is missing (runs are matched by content)."""

    mlflow: str | None = Field(
        None,
        description="MLflow tracking URI, e.g. 'sqlite:///mlflow.db', 'http://host:5000' or "
        "'databricks'. Unset: no tracking.",
    )
    experiment: str | None = Field(
        None, description="MLflow experiment name. Unset: the study's name."
    )
    artifact_location: str | None = Field(
        None,
        description="Where a new experiment keeps its artifacts (a folder or URI). Unset: "
        "the tracking server's default.",
    )
