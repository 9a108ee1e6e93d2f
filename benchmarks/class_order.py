"""A teacher whose outputs are ordered [good, bad] on a CSV whose labels sort [bad, good].

Reproduces the wrong answer of issue 10 and what potstill does now. A seeded table (300
rows, 2 features, target "good"/"bad", a text sensitive column) and two ONNX teachers with
the same weights (column 0 = "good"): one with ``classes`` metadata, one without. Runs
``potstill distill --quick`` three ways:

- ``teacher_says``: the teacher with metadata → its order is used;
- ``refused``: the bare teacher → refused before training, with the figures;
- ``forced``: the bare teacher with ``--allow-weak-teacher`` (the old behaviour: sorted
  classes) → the teacher's accuracy and each record's retention and warnings.

Writes benchmarks/results/class_order.json and prints it as the final line.

    python benchmarks/class_order.py
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pandas as pd
from onnx import TensorProto, helper, numpy_helper

from potstill import api
from potstill.errors import PotstillError

HERE = Path(__file__).resolve().parent


def write_inputs(root: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    x1, x2 = rng.normal(size=n).round(3), rng.normal(size=n).round(3)
    risk = np.where(x1 + 0.3 * rng.normal(size=n) > 0, "good", "bad")
    sex = np.where(np.arange(n) % 2, "f", "m")
    frame = pd.DataFrame({"x1": x1, "x2": x2, "sex": sex, "risk": risk})
    frame.iloc[:240].to_csv(root / "data.csv", index=False)
    frame.iloc[240:].to_csv(root / "test.csv", index=False)
    W = np.array([[4.0, -4.0], [0.0, 0.0]], np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]),
         helper.make_node("Add", ["xw", "b"], ["logits"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, 2])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(np.zeros(2, np.float32), "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(root / "bare.onnx"))
    helper.set_model_props(model, {"classes": "good,bad"})
    onnx.save(model, str(root / "teacher.onnx"))


def distill(root: Path, teacher: str, out: str, **options: object) -> dict[str, object]:
    try:
        api.distill(teacher=root / teacher, data=root / "data.csv", target="risk",
                    out=root / out, sensitive="sex", test_data=root / "test.csv", quick=True,
                    **options)  # type: ignore[arg-type]  # fmt: skip
    except PotstillError as exc:
        return {"refused": str(exc)}
    records = [json.loads(p.read_text()) for p in sorted((root / out / "records").glob("*.json"))]
    return {
        "class_order": records[0]["teacher"]["classes"],
        "teacher_check": records[0]["teacher"]["check"],
        "records": {
            r["method"]: {
                "teacher_accuracy": r["quality"]["teacher"]["value"],
                "student_accuracy": r["quality"]["student"]["value"],
                "retention": r["quality"]["retention"]["value"],
                "warnings": [w["code"] for w in r["warnings"]],
            }
            for r in records
        },
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_inputs(root)
        result = {
            "teacher_says": distill(root, "teacher.onnx", "a"),
            "refused": distill(root, "bare.onnx", "b"),
            "forced": distill(root, "bare.onnx", "c", allow_weak_teacher=True),
        }
    path = HERE / "results" / "class_order.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
