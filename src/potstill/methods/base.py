"""The contract every distillation method keeps, so the distiller can treat them alike.

A method is an ``nn.Module`` loss. Its class declares what it is (``name``, ``family``), what
it needs from a forward pass (``requires``: names from :meth:`potstill.types.Outputs.available`),
which problems it serves, its paper, and its hyper-parameters with their valid ranges
(:class:`Param`). The lifecycle is fixed:

1. ``create_method(name, **params)`` validates the hyper-parameters (``MethodError`` with a
   scikit-learn style message on a bad value);
2. ``bind(student, teacher, context)`` is called once with a probe batch's outputs before
   training; it checks shapes and creates the learned adapters (projections, embeddings,
   memory buffers), which become parameters of the method (the distiller optimises
   ``student.parameters()`` and ``method.parameters()``; export drops the method);
3. ``set_epoch(epoch)`` at the start of each epoch (for warm-ups and staged schedules);
4. ``forward(student, teacher, batch)`` returns ``{"loss": scalar, <named components>}``.

Teacher tensors are always detached: no gradient ever reaches the teacher.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from torch import Tensor, nn

from potstill._validation import check_choice, check_scalar
from potstill.errors import MethodError
from potstill.types import Batch, Outputs

__all__ = [
    "FAMILIES",
    "OUTPUT_FIELDS",
    "PROBLEMS",
    "BindContext",
    "Family",
    "Method",
    "MethodInfo",
    "Param",
    "embedding_of",
    "feature_kind",
    "layers_of",
    "teacher_like",
]

Family = Literal["response", "feature", "relation"]
FAMILIES: tuple[str, ...] = ("response", "feature", "relation")
#: The problems a method may declare it serves. "embedding": the outputs are sentence (or
#: other) embeddings with no classes, matched to the teacher's (see ``train.embedding``).
PROBLEMS: tuple[str, ...] = ("classification", "regression", "embedding")
#: Everything an :class:`Outputs` may expose (see ``Outputs.available``).
OUTPUT_FIELDS: frozenset[str] = frozenset({"logits", "hidden", "attentions", "embedding", "values"})
_KIND_BY_NDIM = {2: "vector", 3: "tokens", 4: "map"}
_SHAPE_BY_KIND = {"vector": "(N, D)", "tokens": "(N, T, D)", "map": "(N, C, H, W)"}


@dataclass(frozen=True)
class BindContext:
    """What a method may need to know about the training run when it binds."""

    n_train: int  # rows in the training split (size of CRD's memory buffer)
    n_classes: int  # 0 for regression
    problem: str  # "classification" | "regression" | "embedding"


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its default, its valid range and its help text."""

    name: str
    default: Any
    help: str
    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    integer: bool = False
    choices: tuple[Any, ...] | None = None
    optional: bool = False  # None is a valid value (meaning documented in ``help``)

    def validate(self, value: Any, owner: str) -> Any:
        """Return ``value`` (ints widened to float for real parameters) or raise MethodError."""
        if value is None and self.optional:
            return None
        if self.choices is not None:
            return check_choice(
                value, self.name, owner=owner, choices=self.choices, error=MethodError
            )
        value = check_scalar(
            value, self.name, owner=owner, gt=self.gt, ge=self.ge, lt=self.lt, le=self.le,
            integer=self.integer, error=MethodError,
        )  # fmt: skip
        if isinstance(value, float) and math.isinf(value):
            raise MethodError(
                f"The '{self.name}' parameter of {owner} must be a finite number. "
                f"Got {value!r} instead."
            )
        return int(value) if self.integer else float(value)

    def range_text(self) -> str:
        """The valid range in words, e.g. ``'> 0'``, ``'>= 0 and < 1'``, ``"'auto', 'always'"``."""
        if self.choices is not None:
            text = ", ".join(repr(c) for c in self.choices)
        else:
            low = f"> {self.gt:g}" if self.gt is not None else None
            low = f">= {self.ge:g}" if self.ge is not None else low
            high = f"< {self.lt:g}" if self.lt is not None else None
            high = f"<= {self.le:g}" if self.le is not None else high
            text = " and ".join(p for p in (low, high) if p) or "any real number"
            text = f"integer {text}" if self.integer else text
        return f"{text}, or None" if self.optional else text


@dataclass(frozen=True)
class MethodInfo:
    """A registered method described without instantiating it (for docs, CLI help, reports)."""

    name: str
    family: str
    requires: frozenset[str]
    problems: frozenset[str]
    paper: str
    url: str
    summary: str
    params: tuple[Param, ...]
    hidden_kinds: frozenset[str]

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


def feature_kind(tensor: Tensor, *, where: str) -> str:
    """``'vector'`` (N, D), ``'tokens'`` (N, T, D) or ``'map'`` (N, C, H, W); else MethodError."""
    kind = _KIND_BY_NDIM.get(tensor.dim())
    if kind is None:
        raise MethodError(
            f"{where} has shape {tuple(tensor.shape)}; expected (N, D), (N, T, D) or (N, C, H, W)."
        )
    return kind


def layers_of(outputs: Outputs, name: str) -> list[Tensor]:
    """``outputs.hidden`` / ``attentions`` / ``values`` as a list (empty when absent)."""
    return list(getattr(outputs, name) or ())


def embedding_of(outputs: Outputs) -> Tensor:
    """``outputs.embedding``; the method checked it is present before calling."""
    if outputs.embedding is None:
        raise MethodError("This method needs 'embedding', which these outputs do not expose.")
    emb: Tensor = outputs.embedding
    return emb


def teacher_like(teacher: Tensor, student: Tensor) -> Tensor:
    """The teacher tensor detached, on the student's device and in its dtype."""
    return teacher.detach().to(device=student.device, dtype=student.dtype)


class Method(nn.Module):
    """Base class of every distillation loss; subclasses implement :meth:`compute`."""

    name: ClassVar[str]
    family: ClassVar[Family]
    requires: ClassVar[frozenset[str]]
    problems: ClassVar[frozenset[str]] = frozenset({"classification", "regression"})
    paper: ClassVar[str]
    url: ClassVar[str]
    hyperparams: ClassVar[tuple[Param, ...]] = ()
    #: Shapes of hidden features the method accepts (only meaningful if it requires 'hidden').
    hidden_kinds: ClassVar[frozenset[str]] = frozenset({"vector", "tokens", "map"})
    #: Whether the loss is exactly 0 when student outputs equal teacher outputs.
    zero_at_match: ClassVar[bool] = True

    def __init__(self, **params: Any) -> None:
        super().__init__()
        declared = {p.name: p for p in self.hyperparams}
        unknown = sorted(set(params) - set(declared))
        if unknown:
            valid = ", ".join(sorted(declared)) or "(none)"
            raise MethodError(
                f"Method '{self.name}' has no parameter {unknown[0]!r}. Valid parameters: {valid}."
            )
        for p in self.hyperparams:
            setattr(self, p.name, p.validate(params.get(p.name, p.default), self.owner))
        self.epoch = 0
        self._bound = False

    # ------------------------------------------------------------------ description
    @property
    def owner(self) -> str:
        """How messages name this method, e.g. ``"method 'kd'"``."""
        return f"method '{self.name}'"

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters as set (defaults filled in)."""
        return {p.name: getattr(self, p.name) for p in self.hyperparams}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())

    @classmethod
    def info(cls) -> MethodInfo:
        doc = (cls.__doc__ or "").strip().splitlines()
        return MethodInfo(
            name=cls.name, family=cls.family, requires=cls.requires, problems=cls.problems,
            paper=cls.paper, url=cls.url, summary=doc[0] if doc else "",
            params=cls.hyperparams, hidden_kinds=cls.hidden_kinds,
        )  # fmt: skip

    # ------------------------------------------------------------------ lifecycle
    @property
    def bound(self) -> bool:
        return self._bound

    def bind(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        """Check the probe outputs and create the learned adapters; a second call is a no-op."""
        if self._bound:
            return
        self.check_outputs(student, teacher)
        if "hidden" in self.requires:
            self._check_hidden(layers_of(student, "hidden"), layers_of(teacher, "hidden"))
        self.build(student, teacher, context)
        self._bound = True

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        """Create adapters from the probe outputs (override when the method has any)."""

    def set_epoch(self, epoch: int) -> None:
        """Tell the method which (0-based) epoch starts, for warm-ups and staged schedules."""
        self.epoch = int(check_scalar(epoch, "epoch", owner=self.owner, ge=0, integer=True,
                                      error=MethodError))  # fmt: skip

    def exclusive(self) -> bool:
        """True while this method must be the only loss (FitNets' hint stage)."""
        return False

    def forward(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        if not self._bound:
            raise MethodError(
                f"Method '{self.name}' is not bound. Call bind(student, teacher, context) "
                "once with a probe batch's outputs before training."
            )
        self.check_outputs(student, teacher)
        out = self.compute(student, teacher, batch)
        if "loss" not in out or out["loss"].dim() != 0:
            raise MethodError(f"Method '{self.name}' must return a scalar 'loss'.")  # a bug
        return out

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    def check_outputs(self, student: Outputs, teacher: Outputs) -> None:
        """Refuse, naming what is missing, when either side lacks a required output."""
        for side, outputs in (("teacher", teacher), ("student", student)):
            have = outputs.available()
            missing = sorted(self.requires - have)
            if missing:
                needs = ", ".join(repr(m) for m in missing)
                exposes = ", ".join(repr(h) for h in sorted(have))
                raise MethodError(
                    f"Method '{self.name}' needs {needs} from the {side}, but the {side} exposes "
                    f"only {exposes}. Expose them (hooks on a torch model) or choose a method "
                    "that needs only those outputs."
                )

    def _check_hidden(self, s_layers: Sequence[Tensor], t_layers: Sequence[Tensor]) -> None:
        if len(s_layers) != len(t_layers):
            raise MethodError(
                f"Method '{self.name}' pairs hidden layers by index, but the student exposes "
                f"{len(s_layers)} and the teacher {len(t_layers)}. Capture the same number of "
                "layers on both sides (the distiller's layer map does this)."
            )
        for i, (s, t) in enumerate(zip(s_layers, t_layers, strict=True)):
            s_kind = feature_kind(s, where=f"Student hidden layer {i}")
            t_kind = feature_kind(t, where=f"Teacher hidden layer {i}")
            for side, kind, tensor in (("student", s_kind, s), ("teacher", t_kind, t)):
                if kind not in self.hidden_kinds:
                    wanted = " or ".join(_SHAPE_BY_KIND[k] for k in sorted(self.hidden_kinds))
                    raise MethodError(
                        f"Method '{self.name}' works on hidden features shaped {wanted}; hidden "
                        f"layer {i} of the {side} has shape {tuple(tensor.shape)}."
                    )
            if s_kind != t_kind:
                raise MethodError(
                    f"Method '{self.name}' cannot pair student hidden layer {i} of shape "
                    f"{tuple(s.shape)} with teacher layer {i} of shape {tuple(t.shape)}: "
                    "both must be vectors, token sequences or feature maps."
                )
            if s_kind == "tokens" and s.shape[1] != t.shape[1]:
                raise MethodError(
                    f"Method '{self.name}' needs the same sequence length on both sides; hidden "
                    f"layer {i} has {s.shape[1]} tokens in the student and {t.shape[1]} in the "
                    "teacher. Tokenise both with the same tokenizer and max length."
                )

    def _require_index(self, batch: Batch, n_rows: int) -> Tensor:
        index = batch.index
        if not isinstance(index, Tensor) or index.dim() != 1:
            raise MethodError(
                f"Method '{self.name}' needs batch.index, a 1-D tensor of training-row indices; "
                f"got {type(index).__name__}. Use the distiller's indexed data loader."
            )
        if index.numel() and (int(index.min()) < 0 or int(index.max()) >= n_rows):
            raise MethodError(
                f"Method '{self.name}' got a row index outside [0, {n_rows}) (n_train at bind): "
                f"min {int(index.min())}, max {int(index.max())}. Bind with the training split."
            )
        return index.long()
