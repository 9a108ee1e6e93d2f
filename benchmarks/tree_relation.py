"""Does relational KD on a tree teacher's leaf embedding help a student, against KD alone?

A tree ensemble exposes its leaf-membership embedding (potstill.models.tree_embedding:
Breiman proximity as geometry, projected to 256 dimensions), so relation methods apply to
it. This script measures what that buys: on built-in tabular systems with the fleet's
XGBoost teacher recipe, the same student (sized as for any black box) is trained from
scratch, with KD, with KD + RKD (distance + angle on the leaf embedding) and with KD + PKT,
three seeds each. A seed changes the split, the teacher, the student's init and the batch order; the
methods of one (system, seed) share all of them, so differences are paired.

Writes ``benchmarks/results/tree_relation.json``; the last stdout line is a JSON summary.
Usage: ``python benchmarks/tree_relation.py`` (about 3-5 minutes on 2 cores). Teachers go
to ``$POTSTILL_CACHE`` when set, else to a temporary folder.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import potstill
from potstill._io import atomic_write_json
from potstill.data import load_builtin
from potstill.evaluate import get_metric, metric_value
from potstill.methods import MethodSpec, build_objective
from potstill.models.predict import predict_scores
from potstill.models.students import student_for_blackbox
from potstill.models.teacher import Teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.config import TrainConfig
from potstill.train.distill import train
from potstill.types import Task
from potstill.zoo import TeacherSpec, get_teacher

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/tree_relation.json"
SYSTEMS = ("credit_scoring", "heart_disease", "loan_default")
SEEDS = (0, 1, 2)
MAX_ROWS = 3000
TEACHER = TeacherSpec(arch="xgboost", n_estimators=200, max_depth=4)
TRAIN = TrainConfig(epochs=30, patience=6, batch_size=64, threads=1)
TARGET_PARAMS = 5000  # the quick fleet's loan_default student budget
METHODS: dict[str, list[MethodSpec]] = {
    "scratch": [],
    "kd": [MethodSpec(name="kd")],
    "kd+rkd": [MethodSpec(name="kd"), MethodSpec(name="rkd")],
    "kd+pkt": [MethodSpec(name="kd"), MethodSpec(name="pkt")],
}
RELATION = ("kd+rkd", "kd+pkt")  # each compared with "kd", paired by seed


def _fit(task: Task, teacher: Teacher, specs: list[MethodSpec], seed: int) -> float:
    torch.manual_seed(seed)  # every method of a (system, seed) starts from the same weights
    student = student_for_blackbox(
        int(np.prod(task.input_shape)), task.n_outputs, target_params=TARGET_PARAMS
    )
    objective = build_objective(specs, label_weight=TRAIN.label_weight, problem=task.problem)
    train(
        student, task, objective=objective, config=TRAIN, seed=seed,
        teacher=teacher if specs else None, cache=TeacherOutputCache(),
    )  # fmt: skip
    scores = predict_scores(student, task.test.X, problem=task.problem)
    return float(metric_value(task.metric, task.test.y, scores))


def run(system: str, seed: int, cache_root: Path) -> dict[str, Any]:
    """Teacher and every method on one (system, seed)."""
    task = load_builtin(system, seed=seed, max_rows=MAX_ROWS)
    teacher, _ = get_teacher(
        system, task, TEACHER, seed=seed, train_cfg=TRAIN, cache_dir=cache_root
    )
    assert "embedding" in teacher.capabilities, "the tree teacher must expose its leaves"
    row: dict[str, Any] = {"system": system, "seed": seed, "metric": task.metric}
    row["teacher"] = float(
        metric_value(task.metric, task.test.y, teacher.predict_scores(task.test.X))
    )
    for name, specs in METHODS.items():
        t0 = time.perf_counter()
        row[name] = _fit(task, teacher, specs, seed)
        row[f"{name}_s"] = time.perf_counter() - t0
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))
    return row


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}


def _wtl(diffs: list[float], tie: float = 1e-12) -> list[int]:
    wins, ties = sum(d > tie for d in diffs), sum(abs(d) <= tie for d in diffs)
    return [wins, ties, len(diffs) - wins - ties]


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per system: mean ± sd of each method, and the paired difference of each relation
    cell minus KD (oriented so > 0 means the relation term helped)."""
    per_system: dict[str, Any] = {}
    pooled: dict[str, list[float]] = {name: [] for name in RELATION}
    for system in SYSTEMS:
        mine = [r for r in rows if r["system"] == system]
        sign = 1 if get_metric(mine[0]["metric"]).higher_is_better else -1
        entry: dict[str, Any] = {"metric": mine[0]["metric"]}
        entry["teacher"] = _stats([r["teacher"] for r in mine])
        entry |= {name: _stats([r[name] for r in mine]) for name in METHODS}
        for name in RELATION:
            diffs = [(r[name] - r["kd"]) * sign for r in mine]
            entry[f"{name}_minus_kd"] = _stats(diffs) | {"per_seed": diffs, "wtl": _wtl(diffs)}
            pooled[name] += diffs
        per_system[system] = entry
    return {
        "per_system": per_system,
        "pooled_minus_kd": {n: _stats(d) | {"wtl": _wtl(d)} for n, d in pooled.items()},
    }


def main() -> None:
    torch.set_num_threads(TRAIN.threads)
    env_cache = os.environ.get("POTSTILL_CACHE")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        cache_root = Path(env_cache) if env_cache else Path(tmp)
        rows = [run(system, seed, cache_root) for system in SYSTEMS for seed in SEEDS]
    summary = summarise(rows)
    result = {
        "what": "KD vs KD + RKD and KD + PKT on the XGBoost teacher's leaf embedding (test "
        "metric; differences oriented so > 0 means the relation term helped)",
        "potstill": potstill.__version__,
        "teacher": TEACHER.model_dump(mode="json", exclude={"path"}),
        "train": TRAIN.model_dump(mode="json"),
        "student_target_params": TARGET_PARAMS,
        "max_rows": MAX_ROWS,
        "seconds": time.perf_counter() - t0,
        "runs": rows,
        **summary,
    }
    atomic_write_json(RESULTS, result)
    headline = {
        system: {name: round(s[name]["mean"], 4) for name in ("teacher", *METHODS)}
        for system, s in summary["per_system"].items()
    }
    pooled = {
        name: {"diff": round(d["mean"], 4), "wtl": d["wtl"]}
        for name, d in summary["pooled_minus_kd"].items()
    }
    final = {"tree_relation": headline, "pooled_minus_kd": pooled}
    print(json.dumps(final | {"seconds": round(result["seconds"], 1)}))


if __name__ == "__main__":
    main()
