"""MLflow tracking: every record of a study also logged as one MLflow run (``[mlflow]``).

A run holds the system's settings as parameters (its spec with the fleet defaults it
inherits, and its grid cell), retention, cost reduction, latencies and phase times as
metrics, and the record JSON and the saved student as artifacts. The study folder stays
the source of truth: the runner logs a system's records after they are written, and a
tracking failure only costs the tracking. Runs are matched by the digest of the record's
bytes (tag ``potstill.record_digest``), so a rerun logs what is missing and nothing twice.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from potstill.config import SystemPlan, TrackingSpec
from potstill.errors import missing_dependency

__all__ = ["MlflowTracker", "record_metrics", "record_params", "require_mlflow"]

#: Characters MLflow accepts in a metric or parameter key; others become '_'.
_KEY = re.compile(r"[^A-Za-z0-9_\-. /]")
#: MLflow's limits: parameters per batch and characters per parameter value.
_BATCH, _VALUE = 100, 6000


def require_mlflow() -> Any:
    """The ``mlflow`` module, or the error that names the extra to install."""
    try:
        import mlflow
    except ImportError:
        raise missing_dependency("mlflow", extra="mlflow", purpose="tracking.mlflow") from None
    return mlflow


def _flat(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _flat(f"{prefix}.{k}" if prefix else str(k), v)
    elif value is not None:
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        yield _KEY.sub("_", prefix), text[:_VALUE]


def record_params(plan: SystemPlan, label: str) -> dict[str, str]:
    """The settings behind one record: the system's spec, the fleet defaults it uses, its
    grid cell and the seed, as dotted MLflow parameters."""
    cell = next((g for g in plan.grid if g.label == label), None)
    settings = {
        **plan.spec.model_dump(
            mode="json", exclude={"grid", "train", "bench", "evaluate", "gates"}
        ),
        "seed": plan.seed,
        "cell": cell.model_dump(mode="json") if cell is not None else {"label": label},
        **{
            k: getattr(plan, k).model_dump(mode="json")
            for k in ("train", "bench", "evaluate", "gates")
        },
    }
    return dict(_flat("", settings))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _dig(record: Mapping[str, Any], *path: str) -> Any:
    value: Any = record
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def record_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """Retention, quality, cost reduction, latencies and phase times of one record."""
    picks = {
        "retention": ("quality", "retention", "value"),
        "retention_low": ("quality", "retention", "low"),
        "retention_high": ("quality", "retention", "high"),
        "student_metric": ("quality", "student", "value"),
        "teacher_metric": ("quality", "teacher", "value"),
        "cost_reduction": ("costs", "reduction"),
        "latency_reduction": ("costs", "latency_reduction"),
        "memory_reduction": ("costs", "memory_reduction"),
        "usd_per_million": ("costs", "usd_per_million"),
        "teacher_usd_per_million": ("costs", "teacher_usd_per_million"),
    }
    metrics = {name: _dig(record, *path) for name, path in picks.items()}
    for p in record.get("profiles") or []:
        at = f"latency_ms/{p.get('model')}/{p.get('runtime')}/batch{p.get('batch_size')}"
        for q in ("p50", "p99"):
            metrics[f"{at}/{q}"] = _dig(p, "latency", f"{q}_ms")
    for phase, seconds in (record.get("timings") or {}).items():
        metrics[f"seconds/{phase}"] = seconds
    return {_KEY.sub("_", k): v for k, raw in metrics.items() if (v := _number(raw)) is not None}


class MlflowTracker:
    """One study's MLflow experiment, through a client of its own (no global state)."""

    def __init__(self, spec: TrackingSpec, study: str) -> None:
        require_mlflow()
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=spec.mlflow)
        name = spec.experiment or study
        found = self.client.get_experiment_by_name(name)
        self.experiment = (
            found.experiment_id
            if found is not None
            else self.client.create_experiment(name, artifact_location=spec.artifact_location)
        )

    def logged(self, digest: str) -> bool:
        runs = self.client.search_runs(
            [self.experiment], f"tags.`potstill.record_digest` = '{digest}'", max_results=1
        )
        return bool(runs)

    def _drop_unfinished(self, digest: str) -> None:
        """Runs of this record cut short by an earlier failure are deleted (kept as
        deleted runs by MLflow), so the experiment holds one run per record."""
        query = f"tags.`potstill.record_pending` = '{digest}'"
        for run in self.client.search_runs([self.experiment], query):
            if "potstill.record_digest" not in run.data.tags:
                self.client.delete_run(run.info.run_id)

    def log(self, record_path: Path, params: Mapping[str, str], student: Path | None) -> bool:
        """Log one record (its file) as a run unless a run of the same bytes exists;
        whether a run was made."""
        from mlflow.entities import Metric, Param, RunTag

        data = record_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()[:16]
        if self.logged(digest):
            return False
        self._drop_unfinished(digest)
        record = json.loads(data)
        tags = {"potstill.record_pending": digest, "potstill.record": record_path.stem,
                **{f"potstill.{k}": str(record.get(k)) for k in
                   ("system", "method", "family", "status", "config_hash", "system_hash")}}  # fmt: skip
        run = self.client.create_run(
            self.experiment, run_name=f"{record.get('system')}/{record.get('method')}", tags=tags
        )
        run_id, items = run.info.run_id, list(params.items())
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(run_id, params=[Param(k, v) for k, v in items[i : i + _BATCH]])
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in record_metrics(record).items()]
        self.client.log_batch(run_id, metrics=metrics)
        self.client.log_artifact(run_id, str(record_path), artifact_path="record")
        if student is not None and student.is_dir():
            self.client.log_artifacts(run_id, str(student), artifact_path="student")
        # Marked logged last: a run cut short is never taken for a complete one.
        self.client.log_batch(run_id, tags=[RunTag("potstill.record_digest", digest)])
        status = "FAILED" if record.get("status") == "failed" else "FINISHED"
        self.client.set_terminated(run_id, status=status)
        return True
