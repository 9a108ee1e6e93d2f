"""What the training loop feeds a step: the student's taps, the teacher's outputs, the batches.

The taps hold forward hooks on the student and, while it runs, on the shared teacher; each
is opened on an ``ExitStack`` the loop closes in a ``finally``, so a failing cell leaves no
hook behind. The teacher's outputs come from the cache (:mod:`potstill.train.cache`) when
they can, reduced to the fields the objective needs (a logits-only method never copies the
hidden layers), and in-memory outputs are put in the epoch's order once per epoch so each
step slices contiguous rows instead of gathering them. An embedding problem's teacher
outputs are its targets (:func:`target_feed`): the teacher's embeddings of the rows,
computed once by whoever built the task.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from potstill.models.hooks import FeatureTap, paired_layer_names, uniform_layer_map
from potstill.models.teacher import Teacher
from potstill.train.cache import CachedOutputs, TeacherOutputCache, content_hash
from potstill.train.config import TrainConfig
from potstill.types import Batch, Outputs

__all__ = [
    "LayerPlan",
    "TeacherFeed",
    "epoch_batches",
    "layer_pairs",
    "open_teacher_feed",
    "target_feed",
]

log = logging.getLogger(__name__)

EMPTY = Outputs(logits=torch.zeros(1))
# Teacher outputs are reordered once per epoch up to this size; larger ones row by row.
EPOCH_COPY_BYTES = 64 * 2**20
Forward = Callable[[torch.Tensor], Outputs]


def _names(module: nn.Module | Teacher, attr: str) -> list[str]:
    fn = getattr(module, attr, None)
    return list(fn()) if callable(fn) else []


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


def _embedding(module: nn.Module) -> str | None:
    fn = getattr(module, "embedding_layer_name", None)
    return fn() if callable(fn) else None


@dataclass(frozen=True)
class LayerPlan:
    """The layers each side exposes for one objective, paired by the uniform map."""

    requires: frozenset[str]
    s_hidden: list[str] = field(default_factory=list)
    t_hidden: list[str] = field(default_factory=list)
    s_attn: list[str] = field(default_factory=list)
    t_attn: list[str] = field(default_factory=list)
    s_val: list[str] = field(default_factory=list)
    t_val: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls, student: nn.Module, teacher: Teacher | None, requires: frozenset[str]
    ) -> LayerPlan:
        """Pairs for a distillation (a teacher given); none for plain supervised training."""
        if teacher is None:
            return cls(requires)
        s_hidden, t_hidden = layer_pairs(student, teacher)
        pairs: dict[str, tuple[list[str], list[str]]] = {}
        for kind, needed in (("attention", "attentions"), ("value", "values")):
            if teacher.module is not None and needed in requires:
                pairs[kind] = paired_layer_names(student, teacher.module, kind)
        s_attn, t_attn = pairs.get("attention", ([], []))
        s_val, t_val = pairs.get("value", ([], []))
        return cls(requires, s_hidden, t_hidden, s_attn, t_attn, s_val, t_val)

    @property
    def fields(self) -> frozenset[str]:
        """The teacher outputs a step needs besides the logits."""
        return self.requires & {"hidden", "embedding", "attentions", "values"}

    def student_tap(self, student: nn.Module) -> FeatureTap:
        """The student's tap: only the layers the objective needs (none for logits-only)."""
        return FeatureTap(
            student,
            hidden=self.s_hidden if "hidden" in self.requires else [],
            embedding=_embedding(student) if "embedding" in self.requires else None,
            attentions=self.s_attn,
            values=self.s_val,
        )


@contextlib.contextmanager
def _teacher_forward(teacher: Teacher, plan: LayerPlan, every_layer: bool) -> Iterator[Forward]:
    """The teacher's forward with its taps; the hooks are removed on leaving, even on error.

    ``every_layer``: capture every mapped layer and the embedding whatever this objective
    needs, so the cached outputs serve every method of the system."""
    if teacher.module is None:  # a file teacher (ONNX taps, tree leaves) picks tensors by name
        yield functools.partial(teacher.outputs, hidden=plan.t_hidden)
        return
    teacher.module.eval()
    wants = every_layer or "hidden" in plan.requires
    emb = every_layer or "embedding" in plan.requires
    with FeatureTap(
        teacher.module,
        hidden=plan.t_hidden if wants else [],
        embedding=teacher.embedding_layer_name() if emb else None,
        attentions=plan.t_attn,
        values=plan.t_val,
    ) as tap:
        yield tap


def _detached(out: Outputs) -> Outputs:
    return Outputs(
        logits=out.logits.detach(),
        hidden=[h.detach() for h in out.hidden] if out.hidden else None,
        embedding=None if out.embedding is None else out.embedding.detach(),
        attentions=[a.detach() for a in out.attentions] if out.attentions else None,
        values=[v.detach() for v in out.values] if out.values else None,
    )


@dataclass
class TeacherFeed:
    """The teacher's outputs for the rows of a step: from the cache, or computed per batch."""

    state: str  # the record's teacher_cache: "none" | "hit" | "miss" | "off" | "bypassed ..."
    fields: frozenset[str] = frozenset()
    cached: CachedOutputs | None = None
    forward: Forward | None = None

    def rows(self, xb: torch.Tensor, idx: torch.Tensor) -> Outputs:
        """Outputs for inputs ``xb``, the training rows ``idx``."""
        if self.cached is not None:
            return self.cached.take(idx, self.fields)
        if self.forward is None:
            return EMPTY
        with torch.no_grad():
            return _detached(self.forward(xb))

    def in_order(self, order: torch.Tensor) -> Outputs | None:
        """Every row's outputs in the epoch's ``order`` when held in memory and small enough
        (then a step slices its rows); None when each step must fetch its own."""
        c = self.cached
        if c is None or c.on_disk or c.nbytes(self.fields) > EPOCH_COPY_BYTES:
            return None
        return c.take(order, self.fields)


def _cache_state(config: TrainConfig, plan: LayerPlan) -> str | None:
    """Why the cache does not apply, or None when it does."""
    if config.augment:
        return "bypassed (augmentation)"
    if not config.teacher_cache:
        return "off"
    if {"attentions", "values"} & plan.requires:  # (N, heads, T, T) per layer: hundreds of MB
        return "off (attention maps are too large to cache)"
    return None


def open_teacher_feed(
    teacher: Teacher | None,
    plan: LayerPlan,
    X: torch.Tensor,
    config: TrainConfig,
    cache: TeacherOutputCache | None,
    stack: contextlib.ExitStack,
    description: str,
) -> TeacherFeed:
    """The teacher's outputs for the loop; a per-batch forward's taps are closed by ``stack``.

    Cached outputs of a torch teacher hold every mapped layer and the embedding, so they
    serve every method of a system, except when a logits-only objective finds none: then
    the teacher runs without taps (no hidden features computed or stored for it)."""
    if teacher is None:
        return TeacherFeed("none")
    bypass = _cache_state(config, plan)
    if bypass is not None:
        if config.augment:
            log.info(
                "%s: teacher-output cache bypassed: inputs are randomly augmented", description
            )
        forward = stack.enter_context(_teacher_forward(teacher, plan, every_layer=False))
        return TeacherFeed(bypass, plan.fields, forward=forward)
    cache = cache or TeacherOutputCache(in_memory_mb=config.cache_in_memory_mb)
    file_parts = [] if teacher.module is not None else [teacher.embedding_layer_name()]
    model = teacher.module if teacher.module is not None else teacher.name
    every_key = content_hash(model, X.numpy(), plan.t_hidden, *file_parts)
    # A torch teacher's logits alone need no taps: a logits-only objective takes them from
    # an entry with every layer when one exists, else computes an entry of logits only.
    logits_only = teacher.module is not None and not plan.fields
    key = every_key
    if logits_only and not cache.holds(every_key):
        key = content_hash(model, X.numpy(), "logits only")
    hits = cache.hits
    with _teacher_forward(teacher, plan, every_layer=key == every_key) as forward, torch.no_grad():
        cached = cache.get(key, forward, X.numpy())
    state = "hit" if cache.hits > hits else "miss"
    return TeacherFeed(state, plan.fields, cached=cached)


def target_feed(y: torch.Tensor, plan: LayerPlan) -> TeacherFeed:
    """The feed of an embedding problem: the targets ``y`` (N, D), the teacher's embeddings
    of the training rows, are its outputs, as logits and as the embedding."""
    targets = CachedOutputs(logits=y, hidden=(), embedding=y, on_disk=False)
    return TeacherFeed("targets", plan.fields, cached=targets)


def _rows(out: Outputs, part: slice) -> Outputs:
    return Outputs(
        logits=out.logits[part],
        hidden=[h[part] for h in out.hidden] if out.hidden else None,
        embedding=None if out.embedding is None else out.embedding[part],
    )


def epoch_batches(
    X: torch.Tensor,
    y: torch.Tensor,
    order: torch.Tensor,
    feed: TeacherFeed,
    config: TrainConfig,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    mask: torch.Tensor | None = None,
) -> Iterator[tuple[Batch, Outputs]]:
    """One epoch's (batch, teacher outputs) in ``order``; rows are gathered once per epoch
    and each step takes a contiguous slice (the same rows as indexing by ``order[s:e]``).
    ``mask`` (True where a row's label is a true one) goes with the rows when given."""
    X_ep, y_ep, t_ep = X[order], y[order], feed.in_order(order)
    m_ep = None if mask is None else mask[order]
    size = config.batch_size
    for start in range(0, len(order), size):
        part = slice(start, start + size)
        idx = order[part]
        if len(idx) < 2:  # a lone last row: relation losses need pairs
            continue
        xb = X_ep[part] if augment is None else augment(X_ep[part])
        t_out = _rows(t_ep, part) if t_ep is not None else feed.rows(xb, idx)
        m_b = None if m_ep is None else m_ep[part]
        yield Batch(x=xb, y=y_ep[part], index=idx, mask=m_b), t_out
