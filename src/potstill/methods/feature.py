"""Feature-based methods: the student learns the teacher's intermediate representations.

They need ``hidden`` (or ``attentions``) from *both* models, so they apply to white-box
teachers only (torch and transformers models, whose layers the distiller hooks). Hidden
layers arrive paired by index: ``student.hidden[i]`` is matched with ``teacher.hidden[i]``
(the distiller's uniform layer map chooses the teacher layers). Losses over several
pairs are *summed*, as in the papers (AT, TinyBERT). Formulas:
:mod:`potstill.methods.functional.feature`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from potstill.errors import MethodError
from potstill.methods import functional as PF
from potstill.methods.adapters import make_projection
from potstill.methods.base import BindContext, Method, Param, layers_of, teacher_like
from potstill.methods.registry import register_method
from potstill.types import Batch, Outputs

__all__ = ["AttentionMSE", "AttentionTransfer", "FitNet", "HiddenCosine", "HiddenMSE"]

_PROJECTION = Param(
    "projection", "auto",
    "'auto': a learned adapter (Linear for vectors/tokens, 1×1 conv + BN for maps) only where "
    "the student's width differs from the teacher's; 'always': on every layer pair.",
    choices=("auto", "always"),
)  # fmt: skip
_TINYBERT = (
    "Jiao et al. (2020). TinyBERT: Distilling BERT for Natural Language Understanding. "
    "Findings of EMNLP 2020"
)


class _ProjectedPairs(Method):
    """Paired hidden layers, each student feature mapped to the teacher's width by an adapter.

    Feature maps whose spatial size differs are matched by bilinearly interpolating the
    (projected) student map to the teacher's size.
    """

    requires = frozenset({"hidden"})
    projection: str

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        always = self.projection == "always"
        self.adapters = nn.ModuleList(
            make_projection(s, t, always=always)
            for s, t in zip(layers_of(student, "hidden"), layers_of(teacher, "hidden"), strict=True)
        )

    def pairs(self, student: Outputs, teacher: Outputs) -> list[tuple[Tensor, Tensor]]:
        """(projected student feature, detached teacher feature) per layer pair."""
        s_layers = layers_of(student, "hidden")
        t_layers = layers_of(teacher, "hidden")
        if len(s_layers) != len(self.adapters) or len(t_layers) != len(self.adapters):
            raise MethodError(
                f"Method '{self.name}' was bound with {len(self.adapters)} hidden layer pairs but "
                f"got {len(s_layers)} student and {len(t_layers)} teacher layers."
            )
        out = []
        for s, t, adapter in zip(s_layers, t_layers, self.adapters, strict=True):
            p = adapter(s)
            if p.dim() == 4 and p.shape[-2:] != t.shape[-2:]:
                p = F.interpolate(p, size=tuple(t.shape[-2:]), mode="bilinear", align_corners=False)
            out.append((p, teacher_like(t, p)))
        return out


@register_method
class FitNet(_ProjectedPairs):
    """FitNets hints: regress the teacher's hidden features through a learned regressor."""

    name = "fitnet"
    family = "feature"
    paper = "Romero et al. (2015). FitNets: Hints for Thin Deep Nets. ICLR 2015"
    url = "https://arxiv.org/abs/1412.6550"
    hyperparams = (
        _PROJECTION,
        Param(
            "stage1_epochs",
            0,
            "FitNets' two-stage schedule: for this many epochs the hint "
            "is the only loss (label and other methods off); afterwards the hint is off and "
            "the other losses train the whole student. 0: hint + other losses throughout.",
            ge=0,
            integer=True,
        ),
    )
    stage1_epochs: int

    def exclusive(self) -> bool:
        return self.epoch < self.stage1_epochs

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        hint = torch.stack([PF.fitnet_loss(p, t) for p, t in self.pairs(student, teacher)]).sum()
        active = self.stage1_epochs == 0 or self.epoch < self.stage1_epochs
        return {"loss": hint if active else hint * 0.0, "hint": hint}


@register_method
class HiddenMSE(_ProjectedPairs):
    """Hidden-state MSE through learned projections (TinyBERT); MLP layers work too."""

    name = "hidden_mse"
    family = "feature"
    paper = _TINYBERT
    url = "https://arxiv.org/abs/1909.10351"
    hyperparams = (_PROJECTION,)

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        losses = [PF.hidden_mse_loss(p, t) for p, t in self.pairs(student, teacher)]
        return {"loss": torch.stack(losses).sum()}


@register_method
class HiddenCosine(_ProjectedPairs):
    """Cosine alignment of hidden states (DistilBERT); directions only, norms ignored."""

    name = "hidden_cosine"
    family = "feature"
    paper = (
        "Sanh, Debut, Chaumond & Wolf (2019). DistilBERT, a distilled version of BERT: smaller, "
        "faster, cheaper and lighter. arXiv:1910.01108"
    )
    url = "https://arxiv.org/abs/1910.01108"
    hyperparams = (_PROJECTION,)

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        losses = [
            PF.hidden_cosine_loss(p, t, dim=1 if p.dim() == 4 else -1)
            for p, t in self.pairs(student, teacher)
        ]
        return {"loss": torch.stack(losses).sum()}


@register_method
class AttentionTransfer(Method):
    """Attention transfer: match the spatial attention maps of convolutional features."""

    name = "at"
    family = "feature"
    requires = frozenset({"hidden"})
    hidden_kinds = frozenset({"map"})
    paper = (
        "Zagoruyko & Komodakis (2017). Paying More Attention to Attention: Improving the "
        "Performance of Convolutional Neural Networks via Attention Transfer. ICLR 2017"
    )
    url = "https://arxiv.org/abs/1612.03928"
    hyperparams = (
        Param("p", 2.0, "Exponent p of the attention map Σ_c |A_c|^p (paper: 2).", gt=0),
        Param("beta", 1000.0, "Weight β; the loss is β/2 · Σ_layers (paper: 1000).", ge=0),
    )
    p: float
    beta: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        losses = [
            PF.at_loss(s, teacher_like(t, s), self.p)
            for s, t in zip(layers_of(student, "hidden"), layers_of(teacher, "hidden"), strict=True)
        ]
        at = torch.stack(losses).sum()
        return {"loss": self.beta / 2.0 * at, "at": at}


@register_method
class AttentionMSE(Method):
    """TinyBERT attention-map MSE between paired layers' attention matrices."""

    name = "attention_mse"
    family = "feature"
    requires = frozenset({"attentions"})
    paper = _TINYBERT
    url = "https://arxiv.org/abs/1909.10351"

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        check_attention_pairs(
            self.name, layers_of(student, "attentions"), layers_of(teacher, "attentions")
        )

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        losses = [
            PF.attention_mse_loss(s, teacher_like(t, s))
            for s, t in zip(
                layers_of(student, "attentions"), layers_of(teacher, "attentions"), strict=True
            )
        ]
        return {"loss": torch.stack(losses).sum()}


def check_attention_pairs(
    method: str, student: Sequence[Tensor], teacher: Sequence[Tensor], *, last_only: bool = False
) -> None:
    """Attention matrices must be (N, heads, T, T) with the same heads and T on both sides."""
    if not last_only and len(student) != len(teacher):
        raise MethodError(
            f"Method '{method}' pairs attention layers by index, but the student exposes "
            f"{len(student)} and the teacher {len(teacher)}."
        )
    pairs = [(student[-1], teacher[-1])] if last_only else list(zip(student, teacher, strict=True))
    for i, (s, t) in enumerate(pairs):
        if s.dim() != 4 or s.shape != t.shape or s.shape[-1] != s.shape[-2]:
            raise MethodError(
                f"Method '{method}' needs attention maps shaped (N, heads, T, T) with the same "
                f"heads and T on both sides; layer pair {i} has student {tuple(s.shape)} and "
                f"teacher {tuple(t.shape)}. Choose a student with as many attention heads."
            )
