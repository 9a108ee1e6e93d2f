"""The one training loop: teacher fine-tuning, from-scratch baselines and distillation.

A from-scratch student is a distillation with no distillation terms, so the comparison
the paper omits (did distillation help at all?) uses the very same loop, data order,
optimiser and early-stopping rule. The loop is seeded and deterministic on CPU, stops
early on the validation metric, keeps the best weights, and checkpoints every epoch
atomically so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill._io import atomic_write
from potstill.errors import ModelError
from potstill.evaluate import get_metric
from potstill.events import Stage
from potstill.methods import BindContext, Objective
from potstill.models.hooks import FeatureTap, paired_layer_names, uniform_layer_map
from potstill.models.predict import predict_scores
from potstill.models.teacher import Teacher
from potstill.train.cache import TeacherOutputCache, content_hash
from potstill.train.config import TrainConfig
from potstill.types import Batch, Outputs, Task

__all__ = ["TrainResult", "layer_pairs", "train"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What happened during training (stored in the run record's timings/student)."""

    epochs_run: int
    best_epoch: int
    best_val: float
    seconds: float
    seconds_per_epoch: float
    teacher_cache: str  # "none" | "hit" | "miss" | "off" | "bypassed (augmentation)"
    resumed_from_epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def layer_pairs(student: nn.Module, teacher: nn.Module | Teacher) -> tuple[list[str], list[str]]:
    """Student and teacher hidden-layer names paired by the uniform layer map.

    A :class:`Teacher` pairs the layers (or ONNX tensors) it exposes; a module, its
    ``hidden_layer_names()``. When either side has none there is nothing to pair
    (response and embedding methods need none).
    """
    s_names = _names(student, "hidden_layer_names")
    t_names = _names(teacher, "hidden_layer_names")
    if not s_names or not t_names:
        return [], []
    pairs = uniform_layer_map(len(t_names), len(s_names))
    return [s_names[i] for i, _ in pairs], [t_names[j] for _, j in pairs]


def _names(module: nn.Module | Teacher, attr: str) -> list[str]:
    fn = getattr(module, attr, None)
    return list(fn()) if callable(fn) else []


def _embedding(module: nn.Module) -> str | None:
    fn = getattr(module, "embedding_layer_name", None)
    return fn() if callable(fn) else None


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    if x.ndim == 4:  # images: random shift of up to 2 px and horizontal flip
        padded = nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
        dx, dy = (int(v) for v in torch.randint(0, 5, (2,), generator=generator))
        x = padded[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]
        if bool(torch.rand((), generator=generator) < 0.5):
            x = x.flip(-1)
        return x
    return x + 0.05 * torch.randn(x.shape, generator=generator)


def _init_regression_head(module: nn.Module, y: np.ndarray) -> None:
    """Start a regression head at the target's scale: bias = mean(y), weights × sd(y).

    Targets such as concrete strength (MPa) sit far from the unit scale a fresh network
    outputs; Adam's step size would need thousands of steps just to reach the mean. Only
    a freshly built potstill model is touched (one with a single-output ``head`` Linear).
    """
    head = getattr(module, "head", None)
    if isinstance(head, nn.Sequential) and len(head) and isinstance(head[-1], nn.Linear):
        head = head[-1]
    if isinstance(head, nn.Linear) and head.out_features == 1 and head.bias is not None:
        with torch.no_grad():
            head.weight.mul_(float(np.std(y)) or 1.0)
            head.bias.fill_(float(np.mean(y)))
    for member in getattr(module, "members", ()):
        _init_regression_head(member, y)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic_write(path, lambda fh: torch.save(state, fh))  # fsync'd, like every result


def _load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint, or a clear refusal naming the file when it cannot be read."""
    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # a truncated zip, random bytes, a foreign pickle: all unreadable
        raise ModelError(
            f"The training checkpoint '{path}' cannot be read ({type(exc).__name__}: "
            f"{str(exc)[:200]}). It is only a resume point: delete it and rerun to train this "
            "cell from the start."
        ) from None
    keys = {"student", "objective", "optimizer", "best_state", "epoch", "generator"}
    if not isinstance(state, dict) or not keys <= state.keys():
        raise ModelError(
            f"The training checkpoint '{path}' is not one potstill wrote (it lacks "
            f"{sorted(keys - set(state) if isinstance(state, dict) else keys)}). Delete it and "
            "rerun to train this cell from the start."
        )
    return state


def train(
    student: nn.Module,
    task: Task,
    *,
    objective: Objective,
    config: TrainConfig,
    teacher: Teacher | None = None,
    seed: int = 0,
    checkpoint: Path | None = None,
    cache: TeacherOutputCache | None = None,
    description: str = "train",
    stage: Stage | None = None,
) -> TrainResult:
    """Train ``student`` in place on ``task.train`` with ``objective``; return the history.

    ``objective`` holds the distillation terms and the label loss; with no terms this is
    plain supervised training (teachers, from-scratch baselines). ``teacher`` is required
    when the objective has distillation terms. Each epoch's loss and validation metric
    are reported to ``stage`` when given.
    """
    torch.manual_seed(seed)
    torch.set_num_threads(config.threads)
    requires = objective.requires
    needs_teacher = bool(objective.methods)
    if needs_teacher and teacher is None:
        raise ValueError("a teacher is required when the objective has distillation terms")
    wants_hidden, wants_emb = "hidden" in requires, "embedding" in requires
    s_layers: list[str] = []
    t_layers: list[str] = []
    if needs_teacher and teacher is not None:
        s_layers, t_layers = layer_pairs(student, teacher)
    # Transformers also expose attention maps and value vectors (TinyBERT, MiniLM).
    wants_attn, wants_val = "attentions" in requires, "values" in requires
    s_attn: list[str] = []
    t_attn: list[str] = []
    s_val: list[str] = []
    t_val: list[str] = []
    if needs_teacher and teacher is not None and teacher.module is not None:
        if wants_attn:
            s_attn, t_attn = paired_layer_names(student, teacher.module, "attention")
        if wants_val:
            s_val, t_val = paired_layer_names(student, teacher.module, "value")
    s_tap = FeatureTap(
        student,
        hidden=s_layers if wants_hidden else [],
        embedding=_embedding(student) if wants_emb else None,
        attentions=s_attn,
        values=s_val,
    )
    t_forward: Callable[[torch.Tensor], Outputs] | None = None
    t_tap: FeatureTap | None = None
    if needs_teacher and teacher is not None:
        if teacher.module is not None:
            # Always capture every mapped layer and the embedding: the cached teacher
            # outputs then serve every method of the system, whatever each one needs.
            teacher.module.eval()
            t_tap = FeatureTap(
                teacher.module,
                hidden=t_layers,
                embedding=teacher.embedding_layer_name(),
                attentions=t_attn,
                values=t_val,
            )
            t_forward = t_tap
        else:  # a file teacher (ONNX taps, tree leaves) picks its hidden tensors by name
            t_forward = functools.partial(teacher.outputs, hidden=t_layers)

    X, y = task.train.X, task.train.y
    n = len(y)
    gen = torch.Generator().manual_seed(seed)
    cached = None
    cache_state = "none"
    if t_forward is not None:
        if config.augment:
            cache_state = "bypassed (augmentation)"
            log.info(
                "%s: teacher-output cache bypassed: inputs are randomly augmented", description
            )
        elif not config.teacher_cache:
            cache_state = "off"
        elif wants_attn or wants_val:
            # Attention maps are (N, heads, T, T) per layer: hundreds of MB for a split.
            cache_state = "off (attention maps are too large to cache)"
        else:
            cache = cache or TeacherOutputCache(in_memory_mb=config.cache_in_memory_mb)
            hits = cache.hits
            assert teacher is not None
            key = content_hash(
                teacher.module if teacher.module is not None else teacher.name,
                X,
                t_layers,
                *([] if teacher.module is not None else [teacher.embedding_layer_name()]),
            )
            with torch.no_grad():
                cached = cache.get(key, t_forward, X)
            cache_state = "hit" if cache.hits > hits else "miss"

    def teacher_out(xb: torch.Tensor, idx: torch.Tensor) -> Outputs:
        if cached is not None:
            return cached.take(idx)
        assert t_forward is not None
        with torch.no_grad():
            out = t_forward(xb)
        return Outputs(
            logits=out.logits.detach(),
            hidden=[h.detach() for h in out.hidden] if out.hidden else None,
            embedding=None if out.embedding is None else out.embedding.detach(),
            attentions=[a.detach() for a in out.attentions] if out.attentions else None,
            values=[v.detach() for v in out.values] if out.values else None,
        )

    if task.problem == "regression" and not (checkpoint is not None and checkpoint.is_file()):
        _init_regression_head(student, y)
    X_t = torch.from_numpy(X)
    y_t = torch.from_numpy(y)
    empty = Outputs(logits=torch.zeros(1))
    # Bind learned adapters with a probe batch before the optimiser sees the parameters.
    probe = torch.arange(min(n, config.batch_size))
    student.eval()
    with torch.no_grad():
        s_probe = s_tap(X_t[probe])
    objective.bind(
        s_probe,
        teacher_out(X_t[probe], probe) if t_forward is not None else empty,
        BindContext(n_train=n, n_classes=task.n_classes, problem=task.problem),
    )
    params = list(student.parameters()) + list(objective.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    metric = get_metric(task.metric)
    sign = 1.0 if metric.higher_is_better else -1.0

    start_epoch, best_val, best_epoch, bad = 0, -np.inf, 0, 0
    best_state = {k: v.clone() for k, v in student.state_dict().items()}
    history: list[dict[str, float]] = []
    resumed = 0
    if checkpoint is not None and checkpoint.is_file():
        state = _load_checkpoint(checkpoint)
        student.load_state_dict(state["student"])
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        best_state, best_val, best_epoch = (
            state["best_state"],
            state["best_val"],
            state["best_epoch"],
        )
        bad, history, start_epoch = state["bad"], state["history"], state["epoch"]
        gen.set_state(state["generator"])
        resumed = start_epoch
        log.info("%s: resumed from checkpoint at epoch %d", description, start_epoch)

    t0 = time.perf_counter()
    for epoch in range(start_epoch, config.epochs):
        if bad >= config.patience:
            break
        student.train()
        objective.train()
        objective.set_epoch(epoch)
        order = torch.randperm(n, generator=gen)
        totals: dict[str, float] = {}
        steps = 0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:
                continue
            xb = X_t[idx]
            if config.augment:
                xb = _augment(xb, gen)
            batch = Batch(x=xb, y=y_t[idx], index=idx)
            t_out = teacher_out(xb, idx) if t_forward is not None else empty
            losses = objective(s_tap(xb), t_out, batch)
            optimizer.zero_grad(set_to_none=True)
            losses["loss"].backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            optimizer.step()
            for k, v in losses.items():
                totals[k] = totals.get(k, 0.0) + float(v.detach())
            steps += 1
        val = float(
            metric.fn(task.val.y, predict_scores(student, task.val.X, problem=task.problem))
        )
        history.append(
            {
                "epoch": epoch + 1,
                "val": val,
                **{k: v / max(steps, 1) for k, v in totals.items()},
            }
        )
        improved = not np.isfinite(best_val) or sign * val > sign * best_val
        if improved:
            best_val, best_epoch, bad = val, epoch + 1, 0
            best_state = {k: v.clone() for k, v in student.state_dict().items()}
        else:
            bad += 1
        if checkpoint is not None:
            _save_checkpoint(
                checkpoint,
                {
                    "epoch": epoch + 1,
                    "student": student.state_dict(),
                    "objective": objective.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "best_state": best_state,
                    "best_val": best_val,
                    "best_epoch": best_epoch,
                    "bad": bad,
                    "history": history,
                    "generator": gen.get_state(),
                },
            )
        if stage is not None:
            loss = {"loss": history[-1]["loss"]} if "loss" in history[-1] else {}
            values = {**loss, f"val_{metric.name}": val}
            stage.update(epoch + 1, config.epochs, unit="epoch", values=values)
    s_tap.close()
    if t_tap is not None:
        t_tap.close()
    student.load_state_dict(best_state)
    student.eval()
    seconds = time.perf_counter() - t0
    ran = max(len(history) - resumed, 1)
    return TrainResult(
        epochs_run=len(history),
        best_epoch=best_epoch,
        best_val=float(best_val),
        seconds=seconds,
        seconds_per_epoch=seconds / ran,
        teacher_cache=cache_state,
        resumed_from_epoch=resumed,
        history=history,
    )
