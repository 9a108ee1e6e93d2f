"""Capture intermediate features with forward hooks, and pair student with teacher layers.

Feature- and relation-based distillation need a model's hidden layers and its embedding
(and, for transformers, attention maps and value vectors), not only its logits.
:class:`FeatureTap` gets them from *any* ``nn.Module`` by name with forward hooks, so the
user's model is never edited or wrapped: the hooks are registered when the tap is built
and removed by ``close()`` (or on leaving a ``with`` block).

A student usually has fewer layers than its teacher. :func:`uniform_layer_map` pairs them
with the "uniform" strategy of DistilBERT/TinyBERT (Jiao et al., 2020, §3.1: n = g(m)
with every k-th teacher layer), which spreads the student's layers evenly over the
teacher's depth and always ends on the teacher's last layer.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import torch
from torch import nn

from potstill._validation import check_scalar
from potstill.errors import ModelError
from potstill.models.predict import as_logits
from potstill.models.scripted import ScriptTaps, script_taps
from potstill.types import Outputs

__all__ = [
    "FeatureTap",
    "check_layer_names",
    "paired_layer_names",
    "round_half_up",
    "scaled_count",
    "uniform_layer_map",
]

_MAX_LISTED = 30


def _describe_valid(names: list[str]) -> str:
    if len(names) <= _MAX_LISTED:
        return ", ".join(repr(n) for n in names)
    head, tail = names[: _MAX_LISTED - 10], names[-10:]
    skipped = len(names) - len(head) - len(tail)
    return (
        ", ".join(repr(n) for n in head)
        + f", … ({skipped} more) …, "
        + ", ".join(repr(n) for n in tail)
    )


def check_layer_names(module: nn.Module, names: Sequence[str], owner: str = "FeatureTap") -> None:
    """Raise ModelError if a name is not a submodule of ``module``, listing the valid ones."""
    valid = [n for n, _ in module.named_modules() if n]
    unknown = [n for n in names if n not in set(valid)]
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, valid, n=3)
        if close:
            hints.append(f"{name!r} → did you mean {', '.join(repr(c) for c in close)}?")
    hint = (" " + " ".join(hints)) if hints else ""
    raise ModelError(
        f"Unknown layer name(s) {', '.join(repr(n) for n in unknown)} for {owner} on "
        f"{type(module).__name__}.{hint} Valid module names ({len(valid)}): "
        f"{_describe_valid(valid)}."
    )


def _scripted_chain(module: nn.Module, wanted: list[str]) -> ScriptTaps | None:
    """The chain that computes ``wanted`` layers of a TorchScript module; None for eager ones."""
    if not wanted or not isinstance(module, torch.jit.ScriptModule):
        return None
    chain = script_taps(module)
    if chain is None:
        raise ModelError(
            f"FeatureTap cannot capture layers {wanted} of this TorchScript module: forward "
            "hooks do not run inside ScriptModules, its submodules run in sequence do not "
            "reproduce its output, and its forward does not call two or more submodules whose "
            "outputs could be read from its graph. Use logits-only distillation methods (kd, "
            "dkd, dist), or give the "
            "teacher as an eager model (a potstill model directory, or weights with "
            "teacher.architecture)."
        )
    missing = [n for n in wanted if n not in chain.names]
    if missing:
        raise ModelError(
            f"The layer(s) {missing} of this TorchScript module are not steps of its chain, so "
            f"their outputs cannot be captured without hooks. Steps: {list(chain.names)}."
        )
    return chain


class FeatureTap:
    """Run a model and return its logits with the named hidden layers, embedding, attention
    maps and value vectors.

    Parameters
    ----------
    module : nn.Module
        The model; it is not modified apart from the forward hooks this tap holds.
    hidden : sequence of str
        Module names (as in ``module.named_modules()``) whose outputs form
        ``Outputs.hidden``, in the order given.
    embedding : str or None
        Module name whose output is ``Outputs.embedding``; outputs with more than two
        dimensions are flattened to (N, -1).
    attentions : sequence of str
        Module names whose outputs are attention probabilities (N, heads, T, T), in order:
        ``Outputs.attentions`` (e.g. ``HFClassifier.attention_layer_names()``).
    values : sequence of str
        Module names whose outputs are value vectors (N, heads, T, d_head), in order:
        ``Outputs.values`` (MiniLM; e.g. ``HFClassifier.value_layer_names()``).

    Examples
    --------
    >>> with FeatureTap(mlp, hidden=["blocks.0"], embedding="blocks.1") as tap:
    ...     out = tap(x)  # Outputs(logits, hidden=[h0], embedding=h1)
    """

    def __init__(
        self,
        module: nn.Module,
        hidden: Sequence[str] = (),
        embedding: str | None = None,
        *,
        attentions: Sequence[str] = (),
        values: Sequence[str] = (),
    ) -> None:
        self.module = module
        self.hidden = list(hidden)
        self.embedding = embedding
        self.attentions = list(attentions)
        self.values = list(values)
        wanted = list(
            dict.fromkeys(
                [*self.hidden, *([embedding] if embedding else []), *self.attentions, *self.values]
            )
        )
        check_layer_names(module, wanted)
        self._captured: dict[str, Any] = {}
        self._chain = _scripted_chain(module, wanted)
        self._wanted = set(wanted)
        self._open = True
        self._verified = False
        modules = dict(module.named_modules())
        self._handles = (
            []
            if self._chain is not None
            else [modules[name].register_forward_hook(self._hook(name)) for name in wanted]
        )

    def _hook(self, name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            # Layers returning tuples (e.g. transformer blocks) carry the features first.
            self._captured[name] = output[0] if isinstance(output, (tuple, list)) else output

        return hook

    def __call__(self, x: Any) -> Outputs:
        """Forward ``x`` through the module and collect the hooked outputs (gradients kept)."""
        named = [*self.hidden, self.embedding, *self.attentions, *self.values]
        if not self._open and any(named):
            raise ModelError("This FeatureTap was closed; build a new one to capture features.")
        self._captured.clear()
        try:
            if self._chain is not None:  # TorchScript: run its steps in sequence (no hooks)
                out, captured = self._chain.run(x, self._wanted)
                self._captured.update(captured)
                if not self._verified:  # once per tap, on real rows: the chain is the model
                    self._chain.check(self.module, x, out)
                    self._verified = True
            else:
                out = self.module(x)
            logits = as_logits(out)
            missing = [n for n in named if n and n not in self._captured]
            if missing:
                raise ModelError(
                    f"The layer(s) {missing} of {type(self.module).__name__} did not run during "
                    "the forward pass, so their outputs cannot be captured. Choose layers on the "
                    "path from input to output."
                )
            hidden = [self._captured[n] for n in self.hidden]
            emb = self._captured[self.embedding] if self.embedding else None
            attentions = [self._captured[n] for n in self.attentions]
            values = [self._captured[n] for n in self.values]
        finally:
            self._captured.clear()
        if emb is not None and emb.ndim > 2:
            emb = emb.flatten(1)
        return Outputs(
            logits=logits,
            hidden=hidden or None,
            embedding=emb,
            attentions=attentions or None,
            values=values or None,
        )

    def close(self) -> None:
        """Remove every hook this tap registered (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._open = False

    def __enter__(self) -> FeatureTap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def round_half_up(x: float) -> int:
    """``x`` rounded half up (``round`` rounds 2.5 down to 2, to even)."""
    return math.floor(x + 0.5)


def scaled_count(fraction: float, n: int) -> int:
    """``fraction × n`` rounded half up, at least 1: the layers, widths or heads a student
    keeps of its teacher's ``n``."""
    return max(1, round_half_up(fraction * n))


def uniform_layer_map(n_teacher: int, n_student: int) -> list[tuple[int, int]]:
    """Pair each student layer with a teacher layer, spread uniformly over depth.

    Returns ``[(student_index, teacher_index), ...]`` with one pair per student layer,
    where student layer ``i`` (0-based) learns from teacher layer
    ``round((i + 1) * n_teacher / n_student) - 1`` (round half up; clipped at 0 when the
    student is more than twice as deep as the teacher). This is the "uniform" strategy of
    TinyBERT (Jiao et al., 2020) and DistilBERT's every-other-layer initialisation:
    12 → 6 gives teacher layers 1, 3, 5, 7, 9, 11; the last student layer always maps to
    the last teacher layer.
    """
    check_scalar(n_teacher, "n_teacher", owner="uniform_layer_map", ge=1, integer=True)
    check_scalar(n_student, "n_student", owner="uniform_layer_map", ge=1, integer=True)
    # floor(x + 1/2) with x = (i + 1) n_t / n_s, in exact integer arithmetic
    return [
        (i, max(0, (2 * (i + 1) * n_teacher + n_student) // (2 * n_student) - 1))
        for i in range(n_student)
    ]


def paired_layer_names(
    student: nn.Module, teacher: nn.Module, kind: str = "hidden"
) -> tuple[list[str], list[str]]:
    """Student and teacher tap names of one kind, paired by :func:`uniform_layer_map`.

    ``kind`` is "hidden", "attention" or "value": the names come from each model's
    ``<kind>_layer_names()`` (empty lists when either model has none), so attention maps
    and value vectors pair exactly as the hidden layers do.
    """
    names = []
    for model in (student, teacher):
        fn = getattr(model, f"{kind}_layer_names", None)
        names.append(list(fn()) if callable(fn) else [])
    s_names, t_names = names
    if not s_names or not t_names:
        return [], []
    pairs = uniform_layer_map(len(t_names), len(s_names))
    return [s_names[i] for i, _ in pairs], [t_names[j] for _, j in pairs]
