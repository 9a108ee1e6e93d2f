"""The training objective: a weighted sum of distillation methods plus the label loss.

Combination is how the literature uses these losses (KD + a feature hint, KD + RKD), so it
is a first-class value: in YAML ``methods: [{name: kd, weight: 1.0}, {name: rkd_distance,
weight: 0.5}]`` is a list of :class:`MethodSpec`, and :func:`build_objective` turns it into
an :class:`Objective` module whose ``forward`` returns every term by name for logging::

    {"loss": total, "label": CE or MSE, "kd": ..., "rkd_distance": ...,
     "rkd_distance.distance": ...}

Method terms are reported unweighted (what the method returned); ``loss`` is
``label_weight · label + Σ weight_i · method_i``. While a method is *exclusive* (FitNets'
hint stage) the total is that method's term alone.

An embedding problem (a sentence encoder distilled into a smaller one) has the teacher's
embeddings as its labels: :class:`EmbeddingObjective` is an objective whose label term is
``cosine_weight · (1 − cos) + mse_weight · MSE`` to them, beside relation methods that
declare the ``embedding`` problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import Tensor, nn

from potstill._validation import check_choice, check_scalar
from potstill.errors import MethodError
from potstill.methods import functional as PF
from potstill.methods.base import PROBLEMS, BindContext, Method
from potstill.methods.registry import create_method, get_method_class, list_methods
from potstill.types import Batch, Outputs

__all__ = [
    "PROBLEMS",
    "EmbeddingObjective",
    "MethodSpec",
    "Objective",
    "build_objective",
    "parse_method_specs",
]


class MethodSpec(BaseModel):
    """One method of an objective, as written in YAML or passed to the API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Registered method name, e.g. 'kd', 'fitnet', 'rkd'.")
    weight: float = Field(
        default=1.0, ge=0, description="Weight of this method's loss in the total objective."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Hyper-parameters of the method (see the methods reference for ranges).",
    )

    @field_validator("name")
    @classmethod
    def _registered(cls, name: str) -> str:
        get_method_class(name)  # MethodError listing the valid names
        return name

    @model_validator(mode="after")
    def _params_valid(self) -> MethodSpec:
        # Unknown or out-of-range parameters are refused with the config, before any work
        # (constructing a method only checks its parameters; binding comes later).
        get_method_class(self.name)(**self.params)
        return self


def parse_method_specs(
    value: str | Mapping[str, Any] | Sequence[Any] | MethodSpec,
) -> list[MethodSpec]:
    """Read ``"kd"``, ``"kd+rkd"``, ``{"name": "kd", "weight": 1}`` or a list of these."""
    if isinstance(value, MethodSpec):
        return [value]
    if isinstance(value, str):
        names = [n.strip() for n in value.split("+")]
        if not all(names):
            raise MethodError(f"Cannot read methods from {value!r}: expected 'kd' or 'kd+rkd'.")
        return [MethodSpec(name=n) for n in names]
    if isinstance(value, Mapping):
        return [MethodSpec(**value)]
    return [spec for item in value for spec in parse_method_specs(item)]


class Objective(nn.Module):
    """Label loss plus a weighted sum of distillation methods (their adapters are its params)."""

    def __init__(
        self, methods: Sequence[tuple[Method, float]], *, label_weight: float, problem: str
    ) -> None:
        super().__init__()
        owner = "Objective"
        self.problem = check_choice(problem, "problem", owner=owner, choices=PROBLEMS,
                                    error=MethodError)  # fmt: skip
        self.label_weight = float(check_scalar(label_weight, "label_weight", owner=owner, ge=0,
                                               error=MethodError))  # fmt: skip
        names = [m.name for m, _ in methods]
        for name in names:
            if names.count(name) > 1:
                raise MethodError(
                    f"Method '{name}' appears {names.count(name)} times in the objective; give "
                    "it once (sum the weights) so its logged terms keep one name."
                )
        self.weights = [
            float(check_scalar(w, "weight", owner=f"method '{m.name}'", ge=0, error=MethodError))
            for m, w in methods
        ]
        self.methods = nn.ModuleList(m for m, _ in methods)
        if self.label_weight == 0 and not any(self.weights):
            raise MethodError(
                "The objective has label_weight 0 and no method with a positive weight: nothing "
                "would be trained. Give label_weight > 0 or a method with weight > 0."
            )

    @property
    def method_list(self) -> list[Method]:
        """The methods, in order (typed view of the ``methods`` ModuleList)."""
        return [cast(Method, m) for m in self.methods]

    @property
    def name(self) -> str:
        """ "scratch" for the label loss alone, else the method names joined by '+'."""
        return "+".join(m.name for m in self.method_list) or "scratch"

    @property
    def family(self) -> str:
        families = {m.family for m in self.method_list}
        if not families:
            return "baseline"
        return families.pop() if len(families) == 1 and len(self.method_list) == 1 else "combined"

    @property
    def requires(self) -> frozenset[str]:
        return frozenset().union(*(m.requires for m in self.method_list))

    @property
    def references(self) -> list[str]:
        return list(dict.fromkeys(m.paper for m in self.method_list))

    def bind(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        """Bind every method (creates adapters); call before building the optimiser."""
        for method in self.method_list:
            method.bind(student, teacher, context)

    def set_epoch(self, epoch: int) -> None:
        for method in self.method_list:
            method.set_epoch(epoch)

    def label_loss(self, student: Outputs, batch: Batch) -> Tensor:
        """Cross-entropy or MSE on the rows with a true label (``batch.mask``; all when None);
        0 (with a gradient path) for a batch of transfer rows only."""
        logits, y = student.logits, batch.y
        if batch.mask is not None:
            keep = batch.mask.to(logits.device)
            if not bool(keep.any()):
                return logits.sum() * 0.0
            logits, y = logits[keep], y[keep.to(y.device)]
        if self.problem == "classification":
            return F.cross_entropy(logits, y.to(logits.device).long())
        pred = logits.squeeze(-1) if logits.dim() == 2 and logits.shape[1] == 1 else logits
        return F.mse_loss(pred, y.to(device=pred.device, dtype=pred.dtype).reshape(pred.shape))

    def forward(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        exclusive = [m.exclusive() for m in self.method_list]
        out: dict[str, Tensor] = {}
        parts: list[Tensor] = []
        if not any(exclusive):
            label = self.label_loss(student, batch)
            out["label"] = label.detach()
            parts.append(_weighted(self.label_weight, label))
        for method, weight, only in zip(self.method_list, self.weights, exclusive, strict=True):
            if any(exclusive) and not only:
                continue
            terms = method(student, teacher, batch)
            out[method.name] = terms["loss"].detach()
            for key, value in terms.items():
                if key != "loss":
                    out[f"{method.name}.{key}"] = value.detach()
            parts.append(_weighted(weight, terms["loss"]))
        total = parts[0]  # never empty: the label or an exclusive method
        for part in parts[1:]:
            total = total + part
        out["loss"] = total
        return out


class EmbeddingObjective(Objective):
    """The objective of an embedding problem: match the teacher's embedding, keep its geometry.

    The problem's labels (``batch.y``, (N, D)) are the teacher's embeddings of the rows, so
    the label term is ``cosine_weight · (1 − cos) + mse_weight · MSE`` between the student's
    output and them: DistilBERT's cosine loss and TinyBERT's MSE
    (:func:`~potstill.methods.functional.hidden_cosine_loss`, ``hidden_mse_loss``). A term
    with weight 0 is not computed, so relation losses alone allow a student of another
    width. The methods must declare the ``embedding`` problem (relation losses on the
    embedding: rkd, pkt, cc, crd, ...).
    """

    def __init__(
        self, methods: Sequence[tuple[Method, float]], *, cosine_weight: float, mse_weight: float
    ) -> None:
        owner = "EmbeddingObjective"
        pairs = (("cosine_weight", cosine_weight), ("mse_weight", mse_weight))
        weights = [float(check_scalar(w, name, owner=owner, ge=0, error=MethodError))
                   for name, w in pairs]  # fmt: skip
        for method, _ in methods:
            if "embedding" not in method.problems:
                fits = [n for n in list_methods() if "embedding" in get_method_class(n).problems]
                raise MethodError(
                    f"Method '{method.name}' needs {sorted(method.requires)} and serves "
                    f"{' and '.join(sorted(method.problems))} problems; embedding distillation "
                    "feeds relation methods the sentence embeddings only. Use a method of the "
                    f"embedding problem: {', '.join(fits)}."
                )
        super().__init__(methods, label_weight=1.0 if any(weights) else 0.0, problem="embedding")
        self.cosine_weight, self.mse_weight = weights

    def label_loss(self, student: Outputs, batch: Batch) -> Tensor:
        """``cosine_weight · (1 − cos) + mse_weight · MSE`` to the teacher's embeddings."""
        s = student.logits
        t = batch.y.to(device=s.device, dtype=s.dtype)
        terms = []
        if self.cosine_weight:
            terms.append(_weighted(self.cosine_weight, PF.hidden_cosine_loss(s, t)))
        if self.mse_weight:
            terms.append(_weighted(self.mse_weight, PF.hidden_mse_loss(s, t)))
        if not terms:  # relation losses only: nothing to match (the widths may differ)
            return s.sum() * 0.0
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]


def _weighted(weight: float, loss: Tensor) -> Tensor:
    """``weight * loss``; a weight of 1 adds no operation (x * 1.0 is x, bit for bit)."""
    return loss if weight == 1.0 else weight * loss


def build_objective(specs: Sequence[MethodSpec], *, label_weight: float, problem: str) -> Objective:
    """Create each method from its spec (validating its parameters) and combine them."""
    methods = [(create_method(s.name, **s.params), s.weight) for s in specs]
    return Objective(methods, label_weight=label_weight, problem=problem)
