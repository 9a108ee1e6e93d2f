"""Response-based methods: the student learns from the teacher's outputs alone.

These need nothing but ``logits``, so they are the methods that work with every teacher,
black boxes included (a scikit-learn or ONNX teacher that only gives probabilities exposes
log-probabilities as logits). The formulas live in :mod:`potstill.methods.functional.response`.
"""

from __future__ import annotations

from torch import Tensor

from potstill.errors import MethodError
from potstill.methods import functional as PF
from potstill.methods.base import BindContext, Method, Param, teacher_like
from potstill.methods.registry import register_method
from potstill.types import Batch, Outputs

__all__ = ["DIST", "DKD", "KD", "KDRegression"]

_TEMPERATURE = "Softmax temperature T; the loss is multiplied by T² to keep gradients comparable."


class _LogitMethod(Method):
    """Shared checks: teacher and student logits must have the same number of columns."""

    min_classes = 1

    def build(self, student: Outputs, teacher: Outputs, context: BindContext) -> None:
        s, t = student.logits, teacher.logits
        if s.dim() != 2 or t.dim() != 2 or s.shape[1] != t.shape[1]:
            raise MethodError(
                f"Method '{self.name}' compares logits column by column, but the student gives "
                f"shape {tuple(s.shape)} and the teacher {tuple(t.shape)}; both must be (N, C) "
                "with the same C (the same classes in the same order)."
            )
        if s.shape[1] < self.min_classes:
            raise MethodError(
                f"Method '{self.name}' needs at least {self.min_classes} classes; the logits have "
                f"{s.shape[1]} column(s)."
            )

    def _logits(self, student: Outputs, teacher: Outputs) -> tuple[Tensor, Tensor]:
        s = student.logits
        return s, teacher_like(teacher.logits, s)


@register_method
class KD(_LogitMethod):
    """Soft-target knowledge distillation: KL between temperature-softened predictions."""

    name = "kd"
    family = "response"
    requires = frozenset({"logits"})
    problems = frozenset({"classification"})
    paper = (
        "Hinton, Vinyals & Dean (2015). Distilling the Knowledge in a Neural Network. "
        "arXiv:1503.02531"
    )
    url = "https://arxiv.org/abs/1503.02531"
    hyperparams = (Param("temperature", 4.0, _TEMPERATURE, gt=0),)
    min_classes = 2
    temperature: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self._logits(student, teacher)
        return {"loss": PF.kd_loss(s, t, self.temperature)}


@register_method
class DKD(_LogitMethod):
    """Decoupled KD: target-class (TCKD) and non-target-class (NCKD) terms weighted apart."""

    name = "dkd"
    family = "response"
    requires = frozenset({"logits"})
    problems = frozenset({"classification"})
    paper = "Zhao, Cui, Song, Qiu & Liang (2022). Decoupled Knowledge Distillation. CVPR 2022"
    url = "https://arxiv.org/abs/2203.08679"
    hyperparams = (
        Param("alpha", 1.0, "Weight α of the target-class term TCKD.", ge=0),
        Param(
            "beta", 8.0, "Weight β of the non-target-class term NCKD (paper: 8 on CIFAR-100).", ge=0
        ),
        Param("temperature", 4.0, _TEMPERATURE, gt=0),
        Param(
            "warmup_epochs",
            0,
            "Linear warm-up: the loss is scaled by min((epoch+1)/warmup, 1) "
            "(paper: 20); 0 disables it.",
            ge=0,
            integer=True,
        ),
    )
    min_classes = 2  # with 2 classes NCKD is 0 and DKD reduces to α·TCKD (= α·KD)
    alpha: float
    beta: float
    temperature: float
    warmup_epochs: int

    def warmup_factor(self) -> float:
        if self.warmup_epochs == 0:
            return 1.0
        return min((self.epoch + 1) / self.warmup_epochs, 1.0)

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self._logits(student, teacher)
        if not isinstance(batch.y, Tensor):
            raise MethodError(
                "Method 'dkd' needs batch.y, the class ids of the batch, as a tensor."
            )
        tckd, nckd = PF.dkd_terms(s, t, batch.y.to(s.device), self.temperature)
        loss = self.warmup_factor() * (self.alpha * tckd + self.beta * nckd)
        return {"loss": loss, "tckd": tckd, "nckd": nckd}


@register_method
class DIST(_LogitMethod):
    """DIST: Pearson-correlation inter- and intra-class relations of the predictions."""

    name = "dist"
    family = "response"
    requires = frozenset({"logits"})
    problems = frozenset({"classification"})
    paper = (
        "Huang, You, Wang, Qian & Xu (2022). Knowledge Distillation from A Stronger Teacher. "
        "NeurIPS 2022"
    )
    url = "https://arxiv.org/abs/2205.10536"
    hyperparams = (
        Param("beta", 1.0, "Weight β of the inter-class relation (per-sample ranking).", ge=0),
        Param(
            "gamma",
            1.0,
            "Weight γ of the intra-class relation (per-class, across the batch).",
            ge=0,
        ),
        Param("temperature", 1.0, _TEMPERATURE + " Paper: 1 on ImageNet, 4 on CIFAR-100.", gt=0),
    )
    min_classes = 2
    beta: float
    gamma: float
    temperature: float

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self._logits(student, teacher)
        inter, intra = PF.dist_terms(s, t, self.temperature)
        return {"loss": self.beta * inter + self.gamma * intra, "inter": inter, "intra": intra}


@register_method
class KDRegression(_LogitMethod):
    """Regression KD: the student regresses the teacher's prediction (mean squared error)."""

    name = "kd_regression"
    family = "response"
    requires = frozenset({"logits"})
    problems = frozenset({"regression"})
    paper = (
        "Ba & Caruana (2014). Do Deep Nets Really Need to be Deep? NeurIPS 2014; "
        "Takamoto et al. (2020). An Efficient Method of Training Small Models for Regression "
        "Problems with Knowledge Distillation. MIPR 2020"
    )
    url = "https://arxiv.org/abs/2002.12597"

    def compute(self, student: Outputs, teacher: Outputs, batch: Batch) -> dict[str, Tensor]:
        s, t = self._logits(student, teacher)
        return {"loss": PF.kd_regression_loss(s, t)}
