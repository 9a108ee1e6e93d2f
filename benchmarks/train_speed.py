"""potstill's training loop against a hand-written PyTorch KD loop doing the same work.

The hand-written loop is what an engineer would write for offline KD: the teacher's logits
computed once over the training split, then plain mini-batch steps (cross-entropy plus
Hinton's KL at T = 4), AdamW, gradient clipping, one validation pass per epoch, early
stopping with the same patience and the best weights kept. Both loops get the same data
split, the same teacher, the same initial student weights (one deep copy each), the same
batch order (the same seeded generator), epochs, batch size, optimiser and one thread, and
each round checks that both reach the same test accuracy and ran the same epochs.

potstill runs ``train`` with the ``kd`` method and a fresh teacher-output cache, so both
loops pay for one teacher pass per round. Rounds are interleaved (hand, potstill, then
potstill, hand) so a neighbour's load hits both alike; the ratio is of the medians.
Goal: potstill / hand <= 1.15 (ratio of the wall-time medians) on ``credit_scoring`` and
``predictive_maintenance``. CPU-time medians and the median of per-round ratios are written
beside it: on shared cores they move less with other jobs' load (``load_average``).
Writes ``benchmarks/results/train_speed.json``; the last stdout line is that JSON.

    python benchmarks/train_speed.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import potstill
from potstill._io import atomic_write_json
from potstill.evaluate import get_metric
from potstill.methods import MethodSpec, build_objective
from potstill.models.predict import predict_scores
from potstill.models.sizing import sized_student
from potstill.models.teacher import Teacher
from potstill.runner import builtin_fleet
from potstill.study.teacher_check import open_task_and_teacher
from potstill.train import TeacherOutputCache, TrainConfig, train
from potstill.types import Task

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results/train_speed.json"
SYSTEMS = ("credit_scoring", "predictive_maintenance")
TEMPERATURE = 4.0  # kd's default
GOAL = 1.15


def hand_written(student: nn.Module, teacher: nn.Module, task: Task, cfg: TrainConfig) -> int:
    """Offline KD as written by hand; returns the number of epochs run."""
    torch.manual_seed(0)
    X, y = torch.from_numpy(task.train.X), torch.from_numpy(task.train.y).long()
    X_val = torch.from_numpy(task.val.X)
    teacher.eval()
    with torch.no_grad():  # the teacher's logits, once
        t_logits = torch.cat([teacher(X[i : i + 512]) for i in range(0, len(X), 512)])
    params = list(student.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    metric = get_metric(task.metric)
    sign = 1.0 if metric.higher_is_better else -1.0
    gen = torch.Generator().manual_seed(0)
    best, bad, best_state, epochs = -np.inf, 0, copy.deepcopy(student.state_dict()), 0
    for _ in range(cfg.epochs):
        if bad >= cfg.patience:
            break
        student.train()
        for idx in torch.randperm(len(X), generator=gen).split(cfg.batch_size):
            if len(idx) < 2:
                continue
            logits = student(X[idx])
            log_s = F.log_softmax(logits / TEMPERATURE, dim=1)
            log_t = F.log_softmax(t_logits[idx] / TEMPERATURE, dim=1)
            kd = F.kl_div(log_s, log_t, reduction="none", log_target=True).sum(1).mean()
            loss = F.cross_entropy(logits, y[idx]) + kd * TEMPERATURE**2  # label_weight 1
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
        epochs += 1
        student.eval()
        with torch.inference_mode():
            probs = torch.softmax(student(X_val), dim=1).double().numpy()
        val = float(metric.fn(task.val.y, probs))
        if not np.isfinite(best) or sign * val > sign * best:
            best, bad, best_state = val, 0, copy.deepcopy(student.state_dict())
        else:
            bad += 1
    student.load_state_dict(best_state)
    student.eval()
    return epochs


def with_potstill(student: nn.Module, teacher: Teacher, task: Task, cfg: TrainConfig) -> int:
    """The same work through potstill: ``train`` with the kd method, teacher cache on."""
    objective = build_objective(
        [MethodSpec(name="kd")], label_weight=cfg.label_weight, problem=task.problem
    )
    result = train(student, task, objective=objective, config=cfg, teacher=teacher,
                   seed=0, cache=TeacherOutputCache())  # fmt: skip
    return result.epochs_run


def _test_accuracy(student: nn.Module, task: Task) -> float:
    scores = predict_scores(student, task.test.X, problem=task.problem)
    return float(np.mean(scores.argmax(axis=1) == task.test.y))


def _timed(
    fn: Any, student: nn.Module, teacher: Any, task: Task, cfg: TrainConfig
) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    epochs = fn(student, teacher, task, cfg)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    accuracy = _test_accuracy(student, task)
    return {"seconds": seconds, "cpu_seconds": cpu, "epochs": epochs, "test_accuracy": accuracy}


def one_round(system: dict[str, Any], cfg: TrainConfig, potstill_first: bool) -> dict[str, Any]:
    task, teacher, init = system["task"], system["teacher"], system["init"]
    runs = [("hand", hand_written, teacher.module), ("potstill", with_potstill, teacher)]
    out = {}
    for name, fn, model in runs[::-1] if potstill_first else runs:
        out[name] = _timed(fn, copy.deepcopy(init), model, task, cfg)
    same = {k: out["hand"][k] == out["potstill"][k] for k in ("epochs", "test_accuracy")}
    if not all(same.values()):
        raise SystemExit(f"{task.name}: the two loops disagree: {out}")
    return out


def prepare(name: str) -> dict[str, Any]:
    fleet = builtin_fleet()
    spec = next(s for s in fleet.systems if s.name == name)
    task, teacher, _ = open_task_and_teacher(
        spec, seed=fleet.seed, train_cfg=fleet.train, cache_dir=None, timings={}
    )
    torch.manual_seed(fleet.seed)
    init, _ = sized_student(
        teacher, spec.student, input_shape=task.input_shape, n_outputs=task.n_outputs
    )
    return {"task": task, "teacher": teacher, "init": init}


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of wall time (the goal) and of CPU time (less moved by other jobs on shared
    cores), their ratios, and the median of each round's own potstill/hand ratio."""
    out: dict[str, Any] = {}
    for clock, suffix in (("seconds", "s"), ("cpu_seconds", "cpu_s")):
        hand = [r["hand"][clock] for r in rounds]
        ours = [r["potstill"][clock] for r in rounds]
        prefix = "" if clock == "seconds" else "cpu_"
        out |= {
            f"hand_median_{suffix}": round(statistics.median(hand), 3),
            f"potstill_median_{suffix}": round(statistics.median(ours), 3),
            f"{prefix}ratio": round(statistics.median(ours) / statistics.median(hand), 3),
            f"{prefix}paired_ratio_median": round(
                statistics.median(o / h for o, h in zip(ours, hand, strict=True)), 3
            ),
            f"hand_{suffix}": [round(s, 3) for s in hand],
            f"potstill_{suffix}": [round(s, 3) for s in ours],
        }
    out |= {
        "epochs": rounds[0]["hand"]["epochs"],
        "test_accuracy": rounds[0]["hand"]["test_accuracy"],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    cfg = builtin_fleet().train  # the demo's settings: epochs, batch, lr, patience, clip
    if cfg.label_weight != 1.0:
        raise SystemExit("the hand-written loss assumes label_weight 1 (the built-in fleet's)")
    torch.set_num_threads(1)
    systems = {name: prepare(name) for name in SYSTEMS}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in SYSTEMS}
    for i in range(args.rounds):
        for name, system in systems.items():
            rounds[name].append(one_round(system, cfg, potstill_first=i % 2 == 1))
            print(name, i, {k: round(v["seconds"], 3) for k, v in rounds[name][-1].items()},
                  flush=True)  # fmt: skip
    per_system = {name: summarise(r) for name, r in rounds.items()}
    result = {
        "benchmark": "train_speed",
        "command": "python benchmarks/train_speed.py",
        "potstill": potstill.__version__,
        "torch": torch.__version__,
        "rounds": args.rounds,
        "train": cfg.model_dump(),
        "goal_ratio": GOAL,
        "systems": per_system,
        "passed": all(s["ratio"] <= GOAL for s in per_system.values()),
        "cpu": platform.processor() or platform.machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }
    atomic_write_json(RESULTS, result)
    print(json.dumps({k: v for k, v in result.items() if k != "train"}))


if __name__ == "__main__":
    main()
