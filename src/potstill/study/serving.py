"""What a student needs to be served and watched, written beside it when the study ends.

For every trained student of a system, ``students/<system>/<label>/serving/`` holds:

- ``schema.json``: the raw inputs the teacher takes (names, dtypes, the categories of
  low-cardinality integer inputs), the class names, and the ONNX file to serve — a
  byte-identical copy of the artefact the study timed (``student.onnx``, its sha256 and
  the measured file it came from);
- ``reference.json``: the reference profile the drift monitor compares live traffic with —
  per input, quantile bins, shares and a seeded sample over every row of the study's
  splits; the student's outputs (predicted-class shares, score bins) on the held-out
  validation and test rows; its accuracy there and its agreement with the teacher on the
  test split with the study's confidence interval.

v1 serves students of raw-feature tabular classifiers only (a teacher given as a file, or
``dataset.encode: false``): their inputs are the file's own numeric columns, which the MLP
student standardises itself. A built-in system's encoder (imputation, scaling, one-hot) is
not persisted, so its students get a ``schema.json`` with ``servable: false`` and the
reason, which ``potstill serve`` prints.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill._io import atomic_write_json, file_sha256
from potstill.config import SystemSpec
from potstill.errors import PotstillError
from potstill.evaluate.drift import (
    MAX_CATEGORIES,
    categorical_reference,
    numeric_reference,
    wilson_interval,
)
from potstill.models.teacher import Teacher
from potstill.study.tasks import raw_features
from potstill.types import RunRecord, Task, to_jsonable

__all__ = [
    "REFERENCE_FORMAT",
    "SCHEMA_FORMAT",
    "SERVING_DIR",
    "feature_schema",
    "prediction_references",
    "write_serving_bundles",
]

log = logging.getLogger(__name__)

SERVING_DIR = "serving"
SCHEMA_FORMAT = "potstill-serving-schema"
REFERENCE_FORMAT = "potstill-reference-profile"
_VERSION = 1


def _not_servable_reason(spec: SystemSpec, task: Task) -> str | None:
    if task.kind != "tabular":
        return f"system '{task.name}' is a {task.kind} system; v1 serves tabular systems only"
    if task.problem != "classification":
        return f"system '{task.name}' is a {task.problem} system; v1 serves classifiers only"
    if not raw_features(spec):
        return (
            f"system '{task.name}' feeds its models encoded features (imputed, scaled, "
            "one-hot), and v1 does not persist that encoder; serve a system whose teacher "
            "is a file (raw numeric features) or set dataset.encode: false"
        )
    return None


def feature_schema(task: Task) -> list[dict[str, Any]]:
    """Name, dtype and (for integer inputs with few values) categories of every input."""
    X = np.concatenate([task.train.X, task.val.X, task.test.X]).astype(np.float64)
    out = []
    for j, name in enumerate(task.feature_names):
        col = X[:, j]
        integral = bool(np.all(np.mod(col, 1) == 0))
        entry: dict[str, Any] = {"name": name, "dtype": "integer" if integral else "float"}
        values = np.unique(col)
        if integral and len(values) <= MAX_CATEGORIES:
            entry["categories"] = [float(v) for v in values]
        out.append(entry)
    return out


def prediction_references(probs: np.ndarray, seed: int) -> dict[str, Any]:
    """References of a classifier's outputs: the predicted class and its score (the
    probability of class 1 for two classes, the top probability otherwise)."""
    score = probs[:, 1] if probs.shape[1] == 2 else probs.max(axis=1)
    return {
        "prediction:class": categorical_reference(
            "prediction:class", probs.argmax(axis=1), seed=seed
        ).to_dict(),
        "prediction:score": numeric_reference("prediction:score", score, seed=seed).to_dict(),
    }


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _onnx_probs(path: Path, X: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    logits = np.asarray(session.run(None, {name: X.astype(np.float32)})[0])
    return _softmax(logits.astype(np.float64))


def _artefact(record: RunRecord, runtime: str) -> Path | None:
    for p in record.profiles:
        if p.model.startswith("student:") and p.runtime == runtime:
            path = p.extra.get("artefact")
            if isinstance(path, str) and Path(path).is_file():
                return Path(path)
    return None


def _reference(
    task: Task, probs: np.ndarray, teacher_probs: np.ndarray, record: RunRecord
) -> dict[str, Any]:
    X = np.concatenate([task.train.X, task.val.X, task.test.X]).astype(np.float64)
    inputs: dict[str, Any] = {}
    for j, entry in enumerate(feature_schema(task)):
        name, col = entry["name"], X[:, j]
        ref = categorical_reference if "categories" in entry else numeric_reference
        inputs[name] = ref(name, col, seed=j).to_dict()
    y = np.concatenate([task.val.y, task.test.y])
    correct = int(np.sum(probs.argmax(axis=1) == y))
    low, high = wilson_interval(correct, len(y))
    fidelity = record.quality.fidelity if record.quality is not None else {}
    return {
        "format": REFERENCE_FORMAT, "version": _VERSION,
        "inputs": inputs,
        "outputs": prediction_references(probs, seed=len(inputs)),
        "outputs_rows": "validation + test splits",
        "teacher_class_shares": np.bincount(
            teacher_probs.argmax(axis=1), minlength=probs.shape[1]
        ).tolist(),
        "student_accuracy": {"value": correct / len(y), "low": low, "high": high, "n": len(y)},
        "teacher_agreement": to_jsonable(fidelity.get("agreement")),
    }  # fmt: skip


def _write_bundle(
    folder: Path, task: Task, teacher: Teacher, record: RunRecord, target: str | None
) -> None:
    onnx = _artefact(record, "onnx")
    if onnx is None:
        raise FileNotFoundError("the study kept no ONNX export of this student")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx, folder / "student.onnx")
    held_out = np.concatenate([task.val.X, task.test.X])
    probs = _onnx_probs(folder / "student.onnx", held_out)
    teacher_probs = np.asarray(teacher.predict_scores(held_out))
    atomic_write_json(folder / "reference.json", _reference(task, probs, teacher_probs, record))
    schema = {
        "format": SCHEMA_FORMAT, "version": _VERSION, "servable": True, "reason": "",
        "system": record.system, "method": record.method, "problem": task.problem,
        "target": target, "features": feature_schema(task), "classes": list(task.class_names),
        "onnx": {"file": "student.onnx", "sha256": file_sha256(folder / "student.onnx"),
                 "measured_artefact": str(onnx)},
    }  # fmt: skip
    atomic_write_json(folder / "schema.json", schema)


def write_serving_bundles(
    spec: SystemSpec, out: Path, task: Task, teacher: Teacher, records: Sequence[RunRecord]
) -> None:
    """Write ``serving/`` beside every trained student of ``records`` (see module doc). A
    student that cannot be served gets ``servable: false`` and the reason; the study goes on."""
    reason = _not_servable_reason(spec, task)
    for record in records:
        if record.status != "ok":
            continue
        folder = Path(out) / "students" / spec.name / record.method / SERVING_DIR
        why = reason
        if why is None:
            try:
                _write_bundle(folder, task, teacher, record, spec.dataset.target)
            except (PotstillError, OSError) as exc:
                why = f"the serving bundle could not be written: {exc}"
        if why is not None:  # expected for encoded systems: info, and schema.json says why
            log.info("%s/%s cannot be served: %s", spec.name, record.method, why)
            atomic_write_json(
                folder / "schema.json",
                {"format": SCHEMA_FORMAT, "version": _VERSION, "servable": False,
                 "reason": why, "system": record.system, "method": record.method},
            )  # fmt: skip
