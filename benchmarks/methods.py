"""Does distillation help a tabular student, which method, and what does the teacher cache save?

The "Distillation methods" issue asks for evidence: every registered method against a student
trained from scratch (same loop and init, no teacher) and against KD, on built-in systems ×
seeds with the spread, and the training time saved by the teacher-output cache.

Each seed changes the data split, the teacher (an MLP ensemble trained on that split) and the
student's init and batch order; all methods of a (system, seed) start from the same student
weights. A method the models cannot feed is recorded with the library's reason, never dropped.
Writes ``benchmarks/results/methods.json``, then ``docs/methods.md`` rendered from it.

Usage: ``python benchmarks/methods.py``; the last stdout line holds the headline figures.
About 10 minutes on 2 shared cores, kept there by batches of 64 rows (RKD's angle term costs
O(B³) per batch) and at most 1,500 rows per system (CRD contrasts each row with every other
training row). Teachers go to ``$POTSTILL_CACHE`` when set, else to a temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch

import potstill
from potstill import methods as pm
from potstill._io import atomic_write_json, atomic_write_text
from potstill.costs.environment import environment
from potstill.costs.timing import cpu_timer
from potstill.data import load_builtin
from potstill.errors import MethodError
from potstill.evaluate import get_metric, metric_value, retention
from potstill.models.predict import count_params, predict_scores
from potstill.models.students import StudentSpec, build_student
from potstill.models.teacher import Teacher
from potstill.train.cache import TeacherOutputCache
from potstill.train.config import TrainConfig
from potstill.train.distill import TrainResult, train
from potstill.types import Task
from potstill.zoo import TeacherSpec, get_teacher

__all__ = ["aggregate", "cache_timing", "headline", "main", "render", "run_system"]

ROOT = Path(__file__).resolve().parents[1]
RESULTS, DOC = ROOT / "benchmarks/results/methods.json", ROOT / "docs/methods.md"
SYSTEMS = ("breast_cancer", "heart_disease", "credit_scoring", "mortgage_denial",
           "concrete_strength")  # fmt: skip
SEEDS = (0, 1, 2)
MAX_ROWS = 1500
TEACHER = TeacherSpec(arch="ensemble", members=5, hidden=[512, 512, 256])
STUDENT = StudentSpec(width=0.25, depth=0.67)
TRAIN = TrainConfig(epochs=30, patience=6, batch_size=64, threads=1)
WEIGHTS = {"fitnet": 100.0, "pkt": 30000.0, "cc": 0.02}  # RepDistiller's β; all others 1
STUDENT_CAPS = frozenset({"logits", "hidden", "embedding"})
TIMING_SYSTEM, TIMING_METHODS = "credit_scoring", ("kd", "fitnet", "rkd")
TIMING_EPOCHS, TIMING_REPEATS, FORWARD_CALLS = 5, 2, 200
TIE = 1e-12  # paired differences within this are ties (same test rows, same predictions)
NAMES = ["scratch", *pm.list_methods()]
IRRELEVANT = {"trust_pickle", "n_estimators", "max_depth", "pretrained", "input_size", "init"}
KEPT = ("epochs_run", "best_epoch", "seconds", "seconds_per_epoch", "teacher_cache")


def _teacher(system: str, seed: int, root: Path) -> tuple[Task, Teacher]:
    task = load_builtin(system, seed=seed, max_rows=MAX_ROWS)
    teacher, _ = get_teacher(system, task, TEACHER, seed=seed, train_cfg=TRAIN, cache_dir=root)
    return task, teacher


def _student(teacher: Teacher, task: Task, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)  # every method of a seed starts from the same weights
    shape, n_out = task.input_shape, task.n_outputs
    return build_student(teacher.module, STUDENT, input_shape=shape, n_outputs=n_out)


def _fit(
    name: str, task: Task, teacher: Teacher, seed: int, cfg: TrainConfig, cache: TeacherOutputCache
) -> tuple[torch.nn.Module, TrainResult]:
    specs = [pm.MethodSpec(name=name, weight=WEIGHTS.get(name, 1.0))] if name != "scratch" else []
    student = _student(teacher, task, seed)
    objective = pm.build_objective(specs, label_weight=cfg.label_weight, problem=task.problem)
    kw: dict[str, Any] = {"teacher": teacher if specs else None, "cache": cache}
    result = train(student, task, objective=objective, config=cfg, seed=seed, **kw)
    return student, result


def run_system(system: str, seed: int, cache_root: Path) -> list[dict[str, Any]]:
    """Scratch and every registered method on one (system, seed): one record each."""
    task, teacher = _teacher(system, seed, cache_root)
    higher = get_metric(task.metric).higher_is_better
    t_value = metric_value(task.metric, task.test.y, teacher.predict_scores(task.test.X))
    outputs = TeacherOutputCache()  # the teacher runs once per (system, seed), for all methods
    records = []
    for name in NAMES:
        family = "baseline" if name == "scratch" else pm.method_info(name).family
        rec: dict[str, Any] = {"system": system, "seed": seed, "method": name, "family": family}
        rec |= {"metric": task.metric, "teacher_value": t_value, "status": "ok"}
        specs = [] if name == "scratch" else [name]
        try:
            reason = pm.applicability_reason(specs, teacher_capabilities=teacher.capabilities,
                                             student_capabilities=STUDENT_CAPS, problem=task.problem)  # fmt: skip
            if reason:
                raise MethodError(reason)
            student, res = _fit(name, task, teacher, seed, TRAIN, outputs)
        except MethodError as exc:  # from applicability, or from binding before any step
            records.append({**rec, "status": "not_applicable", "reason": str(exc)})
            continue
        scores = predict_scores(student, task.test.X, problem=task.problem)
        value = metric_value(task.metric, task.test.y, scores)
        ret = float(retention(t_value, value, higher_is_better=higher))
        rec |= {"value": value, "retention": ret}
        records.append(rec | {k: getattr(res, k) for k in KEPT})
        print(f"{system} {seed} {name}: {value:.4f} (teacher {t_value:.4f})", flush=True)
    return records


def _ms(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    sd = float(arr.std(ddof=1)) if len(arr) > 1 else 0.0
    return {"mean": float(arr.mean()), "sd": sd, "n": len(arr)}


def _paired(runs: dict[tuple[str, int], Any], method: str, base: str, higher: bool) -> Any:
    """Per-seed difference method − base (metric units and retention points), with W/T/L."""
    seeds = [s for s in SEEDS if {(method, s), (base, s)} <= runs.keys()]
    pairs = [(runs[method, s], runs[base, s]) for s in seeds]
    if method == base or not pairs:
        return None
    better = [(m["value"] - b["value"]) * (1 if higher else -1) for m, b in pairs]
    wtl = [sum(d > TIE for d in better), sum(abs(d) <= TIE for d in better)]
    return {
        "baseline": base,
        "delta": _ms([m["value"] - b["value"] for m, b in pairs]),
        "delta_retention_pp": _ms([100 * (m["retention"] - b["retention"]) for m, b in pairs]),
        "wtl": [*wtl, len(better) - sum(wtl)],
    }


def _system(recs: list[dict[str, Any]]) -> dict[str, Any]:
    spec = get_metric(recs[0]["metric"])
    kd = "kd" if spec.problem == "classification" else "kd_regression"
    runs = {(r["method"], r["seed"]): r for r in recs if r["status"] == "ok"}
    rows: dict[str, Any] = {}
    for name in NAMES:
        ok = [r for r in recs if r["method"] == name and r["status"] == "ok"]
        if not ok:
            reason = next(r["reason"] for r in recs if r["method"] == name)
            rows[name] = {"status": "not_applicable", "reason": reason}
            continue
        rows[name] = {"status": "ok", "family": ok[0]["family"]}
        rows[name] |= {k: _ms([r[k] for r in ok]) for k in ("value", "retention", "seconds")}
        rows[name]["vs_scratch"] = _paired(runs, name, "scratch", spec.higher_is_better)
        rows[name]["vs_kd"] = _paired(runs, name, kd, spec.higher_is_better)
    teacher = _ms([r["teacher_value"] for r in recs if r["method"] == "scratch"])
    meta = {"metric": spec.name, "higher_is_better": spec.higher_is_better, "kd": kd}
    return {**meta, "teacher": teacher, "methods": rows}


def aggregate(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Per system × method: mean ± sd and paired differences; per method: over systems."""
    per_system = {s: _system([r for r in records if r["system"] == s]) for s in SYSTEMS}
    summary: dict[str, Any] = {}
    for name in NAMES:
        ok = [r for s in per_system.values() if (r := s["methods"][name])["status"] == "ok"]
        summary[name] = {"systems": len(ok)}
        if not ok:
            continue
        summary[name]["family"] = ok[0]["family"]
        summary[name]["mean_retention"] = float(np.mean([r["retention"]["mean"] for r in ok]))
        for key in ("vs_scratch", "vs_kd"):
            cmp = [r[key] for r in ok if r[key] is not None]
            summary[name][key] = None
            if cmp:  # pooled over systems: mean of the per-system means, W/T/L summed
                pp = float(np.mean([c["delta_retention_pp"]["mean"] for c in cmp]))
                wtl = np.sum([c["wtl"] for c in cmp], axis=0).tolist()
                summary[name][key] = {"mean_delta_retention_pp": pp, "wtl": wtl}
    return {"per_system": per_system, "summary": summary}


def _forward_ms(module: torch.nn.Module, x: np.ndarray) -> float:
    """Median ms of an eval-mode forward pass on ``x`` (potstill's timing loop), after warm-up."""
    module.eval()
    with torch.no_grad():
        ns = cpu_timer(lambda a: module(torch.from_numpy(a)), x, FORWARD_CALLS + 20)
    return float(np.median(ns[20:])) / 1e6


def cache_timing(cache_root: Path) -> dict[str, Any]:
    """Teacher vs student forward cost; s/epoch of the same methods with the cache on and off."""
    task, teacher = _teacher(TIMING_SYSTEM, 0, cache_root)
    assert teacher.module is not None
    torch.set_num_threads(TRAIN.threads)
    x, student = task.train.X[: TRAIN.batch_size], _student(teacher, task, 0)
    rounds = [(_forward_ms(teacher.module, x), _forward_ms(student, x)) for _ in range(3)]
    t_ms, s_ms = min(t for t, _ in rounds), min(s for _, s in rounds)  # least disturbed
    forward = {"batch": len(x), "teacher_ms": t_ms, "student_ms": s_ms, "ratio": t_ms / s_ms}
    forward |= {"teacher_params": count_params(teacher.module), "student_params": count_params(student)}  # fmt: skip
    rows = []
    for name in TIMING_METHODS:
        runs: dict[str, list[list[float]]] = {"cached": [], "uncached": []}
        for _ in range(TIMING_REPEATS):  # interleaved, so a neighbour's load hits both alike
            for on in (True, False):
                update = {"epochs": TIMING_EPOCHS, "patience": TIMING_EPOCHS, "teacher_cache": on}
                cfg, start = TRAIN.model_copy(update=update), time.perf_counter()
                _, res = _fit(name, task, teacher, 0, cfg, TeacherOutputCache())
                wall = time.perf_counter() - start  # includes filling the cache when on
                runs["cached" if on else "uncached"].append([res.seconds_per_epoch, wall])
        c, u = min(runs["cached"]), min(runs["uncached"])  # least disturbed run of each
        row = {"method": name, "cached_s_per_epoch": c[0], "uncached_s_per_epoch": u[0]}
        row |= {"cached_wall_s": c[1], "uncached_wall_s": u[1], "speedup_per_epoch": u[0] / c[0]}
        rows.append(row | {"speedup_wall": u[1] / c[1], "goal_met": u[0] / c[0] >= 2, "runs": runs})
    return {
        "system": TIMING_SYSTEM, "seed": 0, "epochs": TIMING_EPOCHS, "repeats": TIMING_REPEATS,
        "forward": forward, "teacher_ge_10x_student": forward["ratio"] >= 10, "methods": rows,
    }  # fmt: skip


WHEN = {  # hand-written guidance from the papers and the method contracts (no run numbers)
    "kd": "First choice for a classifier: outputs only, so any teacher and student. It transfers "
    "the probabilities of the wrong classes: most useful with many; on binary tasks it softens.",
    "dkd": "Logits only, for confident teachers on many-class problems: target and non-target terms "
    "are weighted apart. With two classes the non-target term is empty and DKD is α × KD.",
    "dist": "For a teacher much stronger than the student: it matches only the correlation of the "
    "predictions across classes and across the batch. Logits only; designed for many classes.",
    "kd_regression": "The response method of regression teachers: the student fits the teacher's "
    "predictions beside the labels; useful when the teacher smooths label noise.",
    "fitnet": "When the student should reproduce the teacher's intermediate representation (a "
    "thin deep student of a wide teacher); a learned regressor bridges widths. Often with KD.",
    "at": "Convolutional pairs only: it matches spatial attention maps of (N, C, H, W) features. "
    "Use it for CNN students of CNN teachers.",
    "hidden_mse": "Layer-to-layer feature matching (TinyBERT) through learned projections: a "
    "default feature method for white-box transformers and MLPs whose layers correspond.",
    "hidden_cosine": "Like hidden_mse but aligns only directions (DistilBERT), so feature scales "
    "may differ; natural when the student starts from teacher layers.",
    "attention_mse": "Transformer students of transformer teachers with the same heads and "
    "sequence length: attention matrices matched layer by layer (TinyBERT).",
    "rkd": "When the geometry of an embedding matters more than its coordinates (retrieval, metric "
    "learning); embedding widths may differ. The angle term costs the cube of the batch size.",
    "rkd_distance": "The distance half of RKD: far cheaper than the full loss; the usual partner "
    "of KD when the relative spacing of samples should transfer.",
    "rkd_angle": "The angle half of RKD: scale-free triplet structure, for embeddings whose norms "
    "are not comparable. Costly on large batches.",
    "sp": "Keeps which samples the teacher finds similar (batch Gram matrices), not the features, "
    "so it suits very different architectures; needs reasonably large batches.",
    "pkt": "Matches the distribution of pairwise cosine similarities of the embeddings; transfers "
    "across embedding sizes, and without labels.",
    "cc": "Transfers the correlation between samples on top of instance-level KD; for "
    "fine-grained classes where inter-sample structure matters.",
    "crd": "Contrastive, with a memory bank of negatives: strong on many-class image benchmarks; "
    "keeps one vector per training row and needs enough rows for useful negatives.",
    "minilm": "Task-agnostic compression of transformers from last-layer attention and value "
    "relations; hidden sizes may differ. Needs attentions and values from both models.",
}


def _f(s: dict[str, float], sign: str = "") -> str:
    return f"{s['mean']:{sign}.4f} ± {s['sd']:.4f}"


def _cmp(c: dict[str, Any] | None, key: str) -> list[str]:
    if c is None:
        return ["—", "—"]
    delta = _f(c[key], "+") if key == "delta" else f"{c[key]:+.2f}"
    return [delta, "/".join(map(str, c["wtl"]))]


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def render(result: dict[str, Any]) -> str:
    """The text of docs/methods.md: every number is read from ``result``."""
    agg, timing = result["aggregates"], result["cache_timing"]
    fw, setup, env, load = timing["forward"], result["setup"], result["env"], result["load_average"]
    out = [
        "# Distillation methods: benchmark and when to use each\n\n<!-- Generated by "
        "benchmarks/methods.py from benchmarks/results/methods.json; do not edit. -->",
        f"Every registered method against a from-scratch student and against KD, on "
        f"{len(setup['systems'])} built-in systems × {len(setup['seeds'])} seeds. Formulas, "
        "parameters and how to combine methods: [methods reference](methods-reference.md).",
        f"**Setup.** Systems {', '.join(setup['systems'])} (at most {setup['max_rows']} rows "
        f"each); seeds {', '.join(map(str, setup['seeds']))}. Teacher `{setup['teacher']}`; "
        f"student `{setup['student']}` built from it; training `{setup['train']}` for every "
        f"method, scratch and the teachers. Each seed changes the {setup['seed_changes']}; all "
        "methods of a seed start from the same student weights. Methods keep their default "
        f"hyper-parameters and weight 1, except {', '.join(f'{k} {v:g}' for k, v in setup['weights'].items())} "
        "(RepDistiller's benchmark weights for these unscaled losses, see the reference).",
        "**Reading the tables.** Metric: the system's test metric, mean ± sd over seeds. "
        "Retention: student / teacher (teacher / student for lower-is-better metrics). Δ: per-seed "
        "paired difference method − baseline in metric units (mean ± sd; ↑/↓ says which sign is "
        "better). W/T/L: seeds where the method's test metric was better / equal / worse than the "
        "baseline's. On regression systems KD is `kd_regression`.",
        f"Run: `{result['command']}`, {result['wall_s'] / 60:.1f} min on {env['cpu']} "
        f"({env['logical_cpus']} logical CPUs shared with other jobs; load average "
        f"{load['start']:.2f} at start, {load['end']:.2f} at end), torch {env['torch']}, "
        f"{env['threads']} training thread(s).",
        "## Summary over systems\n\nMean over systems of each system's mean; Δ retention in "
        "percentage points (positive = better than the baseline); W/T/L summed over systems × seeds.",
    ]
    order, summ = ("baseline", "response", "feature", "relation"), agg["summary"]
    ok = sorted(
        (n for n in summ if summ[n]["systems"]), key=lambda n: order.index(summ[n]["family"])
    )
    rows = [[f"`{n}`", summ[n]["family"], str(summ[n]["systems"]),
             f"{100 * summ[n]['mean_retention']:.2f} %",
             *_cmp(summ[n]["vs_scratch"], "mean_delta_retention_pp"),
             *_cmp(summ[n]["vs_kd"], "mean_delta_retention_pp")] for n in ok]  # fmt: skip
    out.append(_table(["method", "family", "systems", "mean retention", "Δ ret. vs scratch (pp)",
                       "W/T/L vs scratch", "Δ ret. vs KD (pp)", "W/T/L vs KD"], rows))  # fmt: skip
    for system, s in agg["per_system"].items():
        arrow = "↑" if s["higher_is_better"] else "↓"
        out.append(f"## {system}\n\nMetric: {s['metric']} ({arrow} better). Teacher: "
                   f"{_f(s['teacher'])}. KD baseline: `{s['kd']}`.")  # fmt: skip
        rows = [[f"`{n}`", r["family"], _f(r["value"]), _f(r["retention"]),
                 *_cmp(r["vs_scratch"], "delta"), *_cmp(r["vs_kd"], "delta"),
                 f"{r['seconds']['mean']:.1f}"]
                for n, r in s["methods"].items() if r["status"] == "ok"]  # fmt: skip
        out.append(_table(["method", "family", f"{s['metric']} {arrow}", "retention",
                           "Δ vs scratch", "W/T/L", "Δ vs KD", "W/T/L", "train s"], rows))  # fmt: skip
        na = [f"- `{n}`: {r['reason']}" for n, r in s["methods"].items() if r["status"] != "ok"]
        out += ["Not applicable here:\n\n" + "\n".join(na)] if na else []
    out += [
        f"## Teacher-output cache\n\nSystem {timing['system']} (seed {timing['seed']}), "
        f"{timing['epochs']} epochs without early stopping, best of {timing['repeats']} "
        f"interleaved runs each. One forward pass on {fw['batch']} rows (a training batch): "
        f"teacher {fw['teacher_ms']:.3f} ms ({fw['teacher_params']:,} parameters), student "
        f"{fw['student_ms']:.3f} ms ({fw['student_params']:,}): the teacher costs "
        f"**{fw['ratio']:.1f}×** the student. Cached, the teacher runs once over the training "
        "split before the first epoch (in the wall time, not in s/epoch); uncached, it runs on "
        "every batch. Goal: cached ≥ 2× faster per epoch when the teacher costs ≥ 10× the student. "
        "The speed-up per epoch is (student step + teacher forward) / student step: costly losses shrink it.",
    ]
    rows = [[f"`{r['method']}`", f"{r['cached_s_per_epoch']:.3f}", f"{r['uncached_s_per_epoch']:.3f}",
             f"{r['speedup_per_epoch']:.2f}×", "met" if r["goal_met"] else "not met",
             f"{r['cached_wall_s']:.2f}", f"{r['uncached_wall_s']:.2f}", f"{r['speedup_wall']:.2f}×"]
            for r in timing["methods"]]  # fmt: skip
    out.append(_table(["method", "s/epoch cached", "s/epoch uncached", "speed-up per epoch",
                       "goal", "wall s cached", "wall s uncached", "speed-up wall"], rows))  # fmt: skip
    out.append("## The methods: reference and when to use each")
    for name in pm.list_methods():
        info = pm.method_info(name)
        out.append(f"### `{name}` ({info.family})\n\n{info.summary}\n\nReference: {info.paper}. "
                   f"<{info.url}>\n\nWhen to use it: {WHEN[name]}")  # fmt: skip
    return "\n\n".join(out) + "\n"


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The figures for the closing note: per method [mean retention, Δ pp vs scratch, W/T/L]."""
    summary, timing = result["aggregates"]["summary"], result["cache_timing"]
    return {
        "benchmark": "methods", "systems": len(SYSTEMS), "seeds": len(SEEDS),
        "mean_retention": {n: round(s["mean_retention"], 4) for n, s in summary.items() if s["systems"]},
        "dpp_vs_scratch": {n: round(s["vs_scratch"]["mean_delta_retention_pp"], 2)
                           for n, s in summary.items() if s.get("vs_scratch")},
        "wtl_vs_scratch": {n: s["vs_scratch"]["wtl"] for n, s in summary.items() if s.get("vs_scratch")},
        "not_applicable": [n for n, s in summary.items() if not s["systems"]],
        "teacher_over_student_forward": round(timing["forward"]["ratio"], 1),
        "cache_speedup_per_epoch": {r["method"]: round(r["speedup_per_epoch"], 2)
                                    for r in timing["methods"]},
        "wall_s": round(result["wall_s"], 1), "load_average": result["load_average"],
    }  # fmt: skip


def main() -> None:
    if missing := sorted(set(pm.list_methods()) - set(WHEN)):
        raise SystemExit(f"WHEN has no 'when to use' paragraph for: {', '.join(missing)}")
    load_start, t0 = os.getloadavg()[0], time.perf_counter()
    git = ["git", "describe", "--always", "--dirty"]  # the code this run used ("-dirty": edited)
    revision = subprocess.run(git, cwd=ROOT, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        cache_root = Path(os.environ.get("POTSTILL_CACHE") or tmp).expanduser()
        records = [r for s in SYSTEMS for seed in SEEDS for r in run_system(s, seed, cache_root)]
        timing = cache_timing(cache_root)
    setup: dict[str, Any] = {"systems": list(SYSTEMS), "seeds": list(SEEDS), "max_rows": MAX_ROWS}
    for key, cfg in (("teacher", TEACHER), ("student", STUDENT), ("train", TRAIN)):
        setup[key] = cfg.model_dump_json(exclude_none=True, exclude=IRRELEVANT)
    setup["weights"] = WEIGHTS
    setup |= {"student_capabilities": sorted(STUDENT_CAPS), "tie_tolerance": TIE, "seed_changes":
              "data split, the teacher (trained on it), the student init and batch order"}  # fmt: skip
    env = environment("cpu", TRAIN.threads) | {"git_revision": revision or None}
    env |= {"potstill": potstill.__version__, "scikit_learn": sklearn.__version__}
    result: dict[str, Any] = {"benchmark": "methods", "command": "python benchmarks/methods.py"}
    result |= {"setup": setup, "wall_s": time.perf_counter() - t0, "env": env}
    result["load_average"] = {"start": load_start, "end": os.getloadavg()[0]}
    result |= {"runs": records, "aggregates": aggregate(records), "cache_timing": timing}
    atomic_write_json(RESULTS, result)
    atomic_write_text(DOC, render(result))
    print(json.dumps(headline(result)))


if __name__ == "__main__":
    main()
