"""LLM teachers: SmolLM2-135M-Instruct against smaller-LLM students and a MiniLM classifier.

Reads ``benchmarks/llm-config.yaml`` and measures, on the drug reviews potstill ships:

- **LLM → classifier** (``kind: llm-classifier``): the teacher answers the sentiment
  question (label-word probabilities, every review scored once and cached); a MiniLM
  student (the built-in text student: all-MiniLM-L6-v2 layer-dropped, 3 of 6 layers) is
  distilled on those probabilities (KD + labels). Reported: the teacher's and the
  student's accuracy against the labels, their agreement, and the cost of one request
  each (teacher: one prompt through the LLM; student: one encoded review), interleaved,
  as $ per million requests.
- **LLM → smaller LLM** (``kind: llm-students``): layer-dropped and narrower students
  built from the teacher (untrained here: the token-level training loop is
  ``potstill.train.llm``), saved with ``save_pretrained``; per-token costs (prefill and
  decode throughput, TTFT, ITL p50/p99, KV cache, peak memory) of teacher and students
  in one interleaved session, $ per million output tokens, and each student's agreement
  with the teacher on the sentiment question.

Writes benchmarks/results/llm.json (``--quick``: llm_quick.json) and prints it last.

    python benchmarks/llm.py                 # the full run (tens of minutes on 2 cores)
    python benchmarks/llm.py --quick         # a handful of prompts, short generations
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from copy import deepcopy as copy_module
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from potstill._io import atomic_write_json
from potstill.costs import PriceCatalog
from potstill.costs.llm_tokens import measure_tokens, priced, time_requests
from potstill.costs.stats import StopRule
from potstill.data import encode_task, load_builtin
from potstill.methods import MethodSpec, build_objective
from potstill.models import StudentSpec, build_student, count_params, text_predictor
from potstill.models.llm import causal_lm_info
from potstill.models.llm_label import PromptTemplate, label_probabilities, render_prompt
from potstill.models.llm_students import drop_layers, narrower
from potstill.train import LLMDistillConfig, TokenBatch, distill_causal_lm
from potstill.train.config import TrainConfig
from potstill.train.distill import train
from potstill.zoo import load_minilm
from potstill.zoo.llm import bind_task, llm_label_teacher, open_llm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _portable(info: dict[str, Any]) -> dict[str, Any]:
    """The teacher's file and cache folder by name only (no machine paths in results)."""
    return {k: Path(v).name if k in ("source", "cache_dir") else v for k, v in info.items()}


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


def _accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float((p.argmax(1) == y).mean())


def llm_classifier(
    system: dict[str, Any], llm: Any, q: dict[str, Any], args: Any
) -> dict[str, Any]:
    """Teacher scores → KD into a MiniLM student; quality, agreement, $ per M requests."""
    model, tok = llm
    template = PromptTemplate(**system["prompt"])
    raw = load_builtin(system["dataset"], seed=0, max_rows=q["max_rows"])
    teacher = llm_label_teacher(model, tok, template, name=system["name"], cache_dir=args.cache_dir)
    start = time.perf_counter()
    p_test = teacher.predict_scores(raw.test.X)
    for split in (raw.train, raw.val):
        teacher.predict_scores(split.X)
    scoring_s = time.perf_counter() - start
    minilm = load_minilm(
        num_labels=raw.n_classes, problem="classification", max_length=q["max_length"]
    )
    torch.manual_seed(0)
    student = build_student(minilm, StudentSpec(width=1.0, layers=system["student"]["layers"]))
    task = encode_task(raw, minilm.tokenizer, q["max_length"])
    bind_task(teacher, raw, task)
    objective = build_objective([MethodSpec(name="kd")], label_weight=0.5, problem="classification")
    config = TrainConfig(epochs=q["epochs"], batch_size=16, lr=1e-4, weight_decay=0.01,
                         patience=2, grad_clip=1.0, threads=q["threads"])  # fmt: skip
    result = train(student, task, objective=objective, config=config, teacher=teacher)
    predict = text_predictor(student.eval(), minilm.tokenizer, q["max_length"], "classification")
    s_test = predict(raw.test.X)
    rule = StopRule(q["min_requests"], q["min_seconds"])
    timed = time_requests(
        [("teacher", teacher.predict_fn(), raw.test.X[:1]), ("student", predict, raw.test.X[:1])],
        rule,
        block_calls=2,
    )
    costs = {n: priced(t["requests_per_s"], args.entries, "requests") for n, t in timed.items()}
    return {
        "kind": "llm-classifier", "dataset": system["dataset"], "n_test": len(raw.test),
        "n_train": len(raw.train), "prompt": template.model_dump(),
        "teacher": {"accuracy": _accuracy(p_test, raw.test.y), "scoring_s": scoring_s,
                    "texts_scored_now": teacher.engine.calls, "params": count_params(model),  # type: ignore[attr-defined]
                    "predicted_class_counts": np.bincount(p_test.argmax(1), minlength=raw.n_classes).tolist()},
        "student": {"arch": f"all-MiniLM-L6-v2, {system['student']['layers']} of 6 layers",
                    "method": "kd + labels (0.5)", "accuracy": _accuracy(s_test, raw.test.y),
                    "agreement_with_teacher": _agreement(s_test, p_test),
                    "params": count_params(student), "train_s": result.seconds,
                    "epochs_run": result.epochs_run},
        "requests": timed, "usd_per_million_requests": costs,
        "student_cost_fraction": {i: costs["student"][i] / costs["teacher"][i] for i in costs["teacher"]},
    }  # fmt: skip


def _students(
    model: Any, specs: list[dict[str, Any]], out: Path
) -> list[tuple[str, Any, dict[str, Any]]]:
    built = []
    for spec in specs:
        keep = spec.get("keep_every")
        student = drop_layers(model, keep) if keep else narrower(model, spec["width"])
        student.save_pretrained(out / spec["name"])
        size = sum(f.stat().st_size for f in (out / spec["name"]).iterdir())
        built.append(
            (spec["name"], student, {**spec, **causal_lm_info(student), "bytes_on_disk": size})
        )
    return built


def _trained(
    teacher: Any, student: Any, method: dict[str, Any], batch: TokenBatch, q: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """A copy of ``student`` distilled from the teacher with ``method`` on ``batch``."""
    copy = copy_module(student)
    config = LLMDistillConfig(**{k: v for k, v in method.items() if k != "name"},
                              steps=q["llm_steps"], batch_size=q["llm_batch"],
                              max_new_tokens=q["llm_new_tokens"], threads=q["threads"])  # fmt: skip
    data = {"corpus": batch} if config.mode == "token" else {"prompts": batch}
    start = time.perf_counter()
    result = distill_causal_lm(teacher, copy, config, **data)
    info = {"method": method, "steps": len(result.losses), "train_s": time.perf_counter() - start,
            "loss_first": result.losses[0], "loss_last": result.losses[-1]}  # fmt: skip
    return copy.eval(), info


def llm_students(system: dict[str, Any], llm: Any, q: dict[str, Any], args: Any) -> dict[str, Any]:
    """Per-token costs of the teacher and its smaller students, and their agreement."""
    model, tok = llm
    template = PromptTemplate(**system["prompt"])
    raw = load_builtin(system["dataset"], seed=0, max_rows=q["max_rows"])
    texts = [str(t) for t in raw.test.X[: q["agreement_texts"]]]
    prompts = [render_prompt(template, tok, t) for t in texts]
    ids = [int(tok(w, add_special_tokens=False)["input_ids"][0]) for w in template.label_words]
    with tempfile.TemporaryDirectory(prefix="potstill-llm-") as tmp:
        students = _students(model, system["students"], Path(tmp))
    p_teacher = label_probabilities(model, tok, prompts, ids)
    rows: dict[str, Any] = {"teacher": {**causal_lm_info(model), "sentiment_accuracy":
                                        _accuracy(p_teacher, raw.test.y[: len(texts)])}}  # fmt: skip
    tok.padding_side = "left"
    train_prompts = [render_prompt(template, tok, str(t)) for t in raw.train.X[: q["llm_texts"]]]
    enc = tok(train_prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    batch = TokenBatch(enc["input_ids"], enc["attention_mask"])
    for name, student, info in students:
        p = label_probabilities(student, tok, prompts, ids)
        rows[name] = {**info, "agreement_with_teacher": _agreement(p, p_teacher), "trained": {}}
        for method in system.get("methods", []):
            trained, how = _trained(model, student, method, batch, q)
            p = label_probabilities(trained, tok, prompts, ids)
            rows[name]["trained"][method["name"]] = {
                **how,
                "agreement_with_teacher": _agreement(p, p_teacher),
            }
    summary = PromptTemplate(template=system["summary"], label_words=template.label_words)
    gen = [tok(render_prompt(summary, tok, t), return_tensors="pt", add_special_tokens=False)["input_ids"]
           for t in texts[: q["prompts"]]]  # fmt: skip
    rule = StopRule(q["min_generations"], q["min_seconds"])
    timed = measure_tokens([("teacher", model), *[(n, s) for n, s, _ in students]], gen,
                           new_tokens=q["new_tokens"], rule=rule)  # fmt: skip
    teacher_decode = timed[0]["decode_tokens_per_s"]
    for row in timed:
        row["usd_per_million_tokens"] = priced(row["output_tokens_per_s"], args.entries, "tokens")
        row["decode_cost_vs_teacher"] = teacher_decode / row["decode_tokens_per_s"]
        rows[row["name"]]["tokens"] = row
    return {"kind": "llm-students", "dataset": system["dataset"], "agreement_texts": len(texts),
            "models": rows}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet", type=Path, default=ROOT / "benchmarks" / "llm-config.yaml")
    parser.add_argument("--quick", action="store_true", help="the fleet's 'quick' settings")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    fleet = yaml.safe_load(args.fleet.read_text(encoding="utf-8"))
    q = fleet["quick" if args.quick else "full"]
    torch.set_num_threads(q["threads"])
    args.entries = [PriceCatalog.load().get(i) for i in fleet["instances"]]
    start = time.perf_counter()
    model, tok, info = open_llm(fleet["teacher"].get("path"), cache_dir=args.cache_dir)
    out: dict[str, Any] = {"fleet": str(args.fleet.relative_to(ROOT)), "settings": q,
                           "teacher": {**_portable(info), **causal_lm_info(model)},
                           "machine": {"cpu": platform.processor() or platform.machine(),
                                       "threads": q["threads"], "torch": torch.__version__,
                                       "load_average_1m_start": os.getloadavg()[0]},
                           "systems": {}}  # fmt: skip
    kinds = {"llm-classifier": llm_classifier, "llm-students": llm_students}
    for system in fleet["systems"]:
        out["systems"][system["name"]] = kinds[system["kind"]](system, (model, tok), q, args)
    tokens = next(s for s in out["systems"].values() if s["kind"] == "llm-students")["models"]
    out["usd_per_million_tokens"] = {
        n: r["tokens"]["usd_per_million_tokens"] for n, r in tokens.items()
    }
    out["wall_s"] = time.perf_counter() - start
    out["machine"]["load_average_1m_end"] = os.getloadavg()[0]
    path = HERE / "results" / ("llm_quick.json" if args.quick else "llm.json")
    atomic_write_json(path, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
