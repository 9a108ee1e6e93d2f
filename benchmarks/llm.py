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
  built from the teacher, saved with ``save_pretrained``, each trained by the methods of
  ``potstill.train.llm``; each model's agreement with the teacher on the sentiment
  question (same answer) and on a one-sentence summary of each review (greedy, a fixed
  maximum of new tokens; ROUGE-L F and token agreement against the teacher's summary).
  The student trained by ``int8_from`` and its dynamic-INT8 copy
  (``potstill.costs.llm_int8``) are timed per token with the teacher in one interleaved
  session (prefill and decode throughput, TTFT, ITL p50/p99, KV cache, peak memory), with
  $ per million output tokens; ``waterfalls`` lays out teacher → student → student INT8
  per student (a student that does not quantise is a step with the reason).

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
from potstill.costs.llm_int8 import quantize_llm_int8, token_waterfall
from potstill.costs.llm_tokens import measure_tokens, priced, time_requests
from potstill.costs.stats import StopRule
from potstill.data import encode_task, load_builtin
from potstill.evaluate.generation import generation_agreement
from potstill.methods import MethodSpec, build_objective
from potstill.models import StudentSpec, build_student, count_params, text_predictor
from potstill.models.llm import causal_lm_info
from potstill.models.llm_label import PromptTemplate, label_probabilities, render_prompt
from potstill.models.llm_students import drop_layers, narrower
from potstill.train import LLMDistillConfig, TokenBatch, distill_causal_lm
from potstill.train.config import TrainConfig
from potstill.train.distill import train
from potstill.train.llm_generate import encode_prompts, greedy_completions
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


def _summaries(model: Any, tok: Any, prompts: TokenBatch, q: dict[str, Any]) -> dict[str, Any]:
    """Greedy one-sentence summaries (texts and tokens, cut at end of sequence), batched."""
    texts, tokens = greedy_completions(model, tok, prompts, q["summary_new_tokens"],
                                       q["summary_batch"])  # fmt: skip
    return {"texts": texts, "tokens": tokens}


class _Judge:
    """A model's agreement with the teacher: the sentiment question and the summaries."""

    def __init__(self, model: Any, tok: Any, system: dict[str, Any], raw: Any, q: dict[str, Any]):
        template = PromptTemplate(**system["prompt"])
        texts = [str(t) for t in raw.test.X[: q["agreement_texts"]]]
        self.tok, self.q = tok, q
        self.prompts = [render_prompt(template, tok, t) for t in texts]
        self.ids = [
            int(tok(w, add_special_tokens=False)["input_ids"][0]) for w in template.label_words
        ]
        self.p_teacher = label_probabilities(model, tok, self.prompts, self.ids)
        summary = PromptTemplate(template=system["summary"], label_words=template.label_words)
        chosen = texts[: q["summary_texts"]]
        self.summary_prompts = encode_prompts(tok, [render_prompt(summary, tok, t) for t in chosen])
        self.teacher_summaries = _summaries(model, tok, self.summary_prompts, q)
        self.accuracy = _accuracy(self.p_teacher, raw.test.y[: len(texts)])
        self.n = len(texts)

    def __call__(self, model: Any) -> dict[str, Any]:
        p = label_probabilities(model, self.tok, self.prompts, self.ids)
        own = _summaries(model, self.tok, self.summary_prompts, self.q)
        ref = self.teacher_summaries
        summary = generation_agreement(ref["texts"], own["texts"], ref["tokens"], own["tokens"])
        return {"agreement_with_teacher": _agreement(p, self.p_teacher),
                "summary_vs_teacher": summary}  # fmt: skip


def _int8_row(name: str, method: str, source: Any, judge: _Judge) -> tuple[dict[str, Any], Any]:
    """The waterfall's last step: the trained student's dynamic-INT8 copy and its quality."""
    step = quantize_llm_int8(source)
    row: dict[str, Any] = {"int8_of": name, "trained_by": method, "quantization": step.info}
    if step.ok:
        row.update(judge(step.model))
    return row, step


def llm_students(system: dict[str, Any], llm: Any, q: dict[str, Any], args: Any) -> dict[str, Any]:
    """Per-token costs of the teacher, its smaller students (trained, then INT8) and their
    agreement with it (sentiment answers, one-sentence summaries)."""
    model, tok = llm
    raw = load_builtin(system["dataset"], seed=0, max_rows=q["max_rows"])
    judge = _Judge(model, tok, system, raw, q)
    with tempfile.TemporaryDirectory(prefix="potstill-llm-") as tmp:
        students = _students(model, system["students"], Path(tmp))
    rows: dict[str, Any] = {"teacher": {**causal_lm_info(model), "sentiment_accuracy": judge.accuracy,
                                        "summaries": judge.teacher_summaries["texts"]}}  # fmt: skip
    template = PromptTemplate(**system["prompt"])
    train_prompts = [render_prompt(template, tok, str(t)) for t in raw.train.X[: q["llm_texts"]]]
    enc = tok(train_prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    batch = TokenBatch(enc["input_ids"], enc["attention_mask"])
    methods = system.get("methods", [])
    int8_from = system.get("int8_from") or (methods[0]["name"] if methods else None)
    if methods and int8_from not in {m["name"] for m in methods}:
        raise SystemExit(
            f"{system['name']}: int8_from must name one of its methods. Got {int8_from!r}."
        )
    lanes, steps = [("teacher", model)], {}
    for name, student, info in students:
        rows[name] = {**info, **judge(student), "trained": {}}
        timed_model = student
        for method in methods:
            trained, how = _trained(model, student, method, batch, q)
            rows[name]["trained"][method["name"]] = {**how, **judge(trained)}
            timed_model = trained if method["name"] == int8_from else timed_model
        rows[f"{name}-int8"], steps[name] = _int8_row(
            name, int8_from or "untrained", timed_model, judge
        )
        lanes.append((name, timed_model))
        if steps[name].ok:
            lanes.append((f"{name}-int8", steps[name].model))
    timed = _timed(lanes, judge, q, args)
    for row in timed:
        rows[row["name"]]["tokens"] = row
    return {"kind": "llm-students", "dataset": system["dataset"], "agreement_texts": judge.n,
            "summary_texts": len(judge.summary_prompts), "int8_from": int8_from, "models": rows,
            "waterfalls": _waterfalls(rows, steps, int8_from)}  # fmt: skip


def _timed(
    lanes: list[tuple[str, Any]], judge: _Judge, q: dict[str, Any], args: Any
) -> list[dict[str, Any]]:
    """One interleaved measure_tokens session over the lanes, priced per million tokens."""
    batch = judge.summary_prompts
    gen = [
        batch.input_ids[i : i + 1, batch.attention_mask[i].bool()]
        for i in range(min(q["prompts"], len(batch)))
    ]
    rule = StopRule(q["min_generations"], q["min_seconds"])
    timed = measure_tokens(lanes, gen, new_tokens=q["new_tokens"], rule=rule)
    teacher_decode = timed[0]["decode_tokens_per_s"]
    for row in timed:
        row["usd_per_million_tokens"] = priced(row["output_tokens_per_s"], args.entries, "tokens")
        row["decode_cost_vs_teacher"] = teacher_decode / row["decode_tokens_per_s"]
    return timed


def _waterfalls(rows: dict[str, Any], steps: dict[str, Any], method: str | None) -> dict[str, Any]:
    """Teacher → trained student → its INT8 copy, per student, with each step's agreement."""
    out = {}
    for name, step in steps.items():
        trained = rows[name]["trained"].get(method, rows[name]) if method else rows[name]
        quality = {name: {k: trained[k] for k in ("agreement_with_teacher", "summary_vs_teacher")},
                   f"{name}-int8": {k: v for k, v in rows[f"{name}-int8"].items()
                                    if k in ("agreement_with_teacher", "summary_vs_teacher")}}  # fmt: skip
        int8 = rows[f"{name}-int8"].get("tokens")
        out[name] = token_waterfall(
            rows["teacher"]["tokens"], rows[name]["tokens"], step, int8, quality
        )
    return out


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
        n: r["tokens"]["usd_per_million_tokens"] for n, r in tokens.items() if "tokens" in r
    }
    out["wall_s"] = time.perf_counter() - start
    out["machine"]["load_average_1m_end"] = os.getloadavg()[0]
    path = HERE / "results" / ("llm_quick.json" if args.quick else "llm.json")
    atomic_write_json(path, out)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
