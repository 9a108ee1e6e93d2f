"""A plain multilayer perceptron whose hidden layers can be found by name.

Feature-based distillation hooks a model's intermediate outputs. Each hidden layer here is
one ``nn.Sequential`` block named ``blocks.<k>`` (Linear → norm → ReLU → Dropout), so the
output of block ``k`` is exactly "hidden layer k" and a forward hook on ``blocks.k``
captures it without touching the model. ``spec()`` writes the architecture as JSON, so a
trained MLP is saved as spec + safetensors and never as pickled code.

The default normalisation is LayerNorm, not BatchNorm1d: it behaves the same in training and
evaluation and accepts a mini-batch of one row (a training set whose size leaves a last
batch of one would crash BatchNorm). ``norm="batch"`` is available where it is wanted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from potstill._validation import check_choice, check_scalar
from potstill.errors import ConfigError
from potstill.models.registry import register_architecture, spec_field

__all__ = ["MLP", "Norm", "mlp_param_count"]

Norm = Literal["layer", "batch", "none"]
_NORMS = ("layer", "batch", "none")


def _norm_layer(norm: str, width: int) -> nn.Module:
    if norm == "layer":
        return nn.LayerNorm(width)
    if norm == "batch":
        return nn.BatchNorm1d(width)
    return nn.Identity()


def mlp_param_count(
    in_features: int, hidden: Sequence[int], out_features: int, norm: str = "layer"
) -> int:
    """Trainable parameters of ``MLP(in_features, hidden, out_features, norm=norm)``.

    Linear layers have ``fan_in * fan_out + fan_out``; LayerNorm and BatchNorm each add a
    weight and a bias per unit (BatchNorm's running statistics are buffers, not parameters).
    """
    per_unit_norm = 0 if norm == "none" else 2
    total, fan_in = 0, in_features
    for width in hidden:
        total += fan_in * width + width + per_unit_norm * width
        fan_in = width
    return total + fan_in * out_features + out_features


@register_architecture("MLP")
class MLP(nn.Module):
    """Multilayer perceptron: ``blocks.0 … blocks.{L-1}`` then a linear ``head``.

    Parameters
    ----------
    in_features : int
        Width of one input row.
    hidden : sequence of int
        Width of each hidden layer (at least one).
    out_features : int
        Number of classes, or 1 for regression.
    dropout : float, default 0.0
        Dropout probability after each hidden activation, in [0, 1).
    norm : {"layer", "batch", "none"}, default "layer"
        Normalisation after each hidden Linear.
    standardize_inputs : bool, default False
        Standardise raw inputs with stored statistics (buffers ``input_mean`` and
        ``input_std``, set by :meth:`fit_input_scaling`), so a student serves the same raw
        features as a teacher given as a file; the statistics travel with the weights.
    impute_inputs : bool, default False
        Replace a missing input (NaN) by its feature's training median (buffer
        ``input_fill``, set by :meth:`fit_input_scaling`) before standardising; the
        exported ONNX graph does the same (IsNaN + Where).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        dropout: float = 0.0,
        norm: Norm = "layer",
        standardize_inputs: bool = False,
        impute_inputs: bool = False,
    ) -> None:
        super().__init__()
        check_scalar(in_features, "in_features", owner="MLP", ge=1, integer=True)
        check_scalar(out_features, "out_features", owner="MLP", ge=1, integer=True)
        check_scalar(dropout, "dropout", owner="MLP", ge=0.0, lt=1.0)
        check_choice(norm, "norm", owner="MLP", choices=_NORMS)
        hidden = list(hidden)
        if not hidden:
            raise ConfigError(
                "The 'hidden' parameter of MLP must list at least one hidden-layer width. "
                "Got [] instead."
            )
        for width in hidden:
            check_scalar(width, "hidden", owner="MLP", ge=1, integer=True)
        self.in_features = int(in_features)
        self.hidden = [int(w) for w in hidden]
        self.out_features = int(out_features)
        self.dropout = float(dropout)
        self.norm = norm
        blocks: list[nn.Module] = []
        fan_in = self.in_features
        for width in self.hidden:
            blocks.append(
                nn.Sequential(
                    nn.Linear(fan_in, width),
                    _norm_layer(norm, width),
                    nn.ReLU(),
                    nn.Dropout(self.dropout),
                )
            )
            fan_in = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(fan_in, self.out_features)
        self.standardize_inputs = bool(standardize_inputs)
        if self.standardize_inputs:
            self.register_buffer("input_mean", torch.zeros(self.in_features))
            self.register_buffer("input_std", torch.ones(self.in_features))
        self.impute_inputs = bool(impute_inputs)
        if self.impute_inputs:
            self.register_buffer("input_fill", torch.zeros(self.in_features))

    def fit_input_scaling(self, X: torch.Tensor) -> None:
        """Store the per-feature statistics of ``X`` (training rows): the median of the
        present values as fill value (with ``impute_inputs``), then the mean and std of the
        filled rows for standardisation."""
        if not (self.standardize_inputs or self.impute_inputs):
            raise ConfigError(
                "fit_input_scaling needs an MLP built with standardize_inputs=True or "
                "impute_inputs=True."
            )
        missing = torch.isnan(X)
        if missing.any() and not self.impute_inputs:
            raise ConfigError(
                "The training rows have missing values (NaN); build the MLP with "
                "impute_inputs=True so it fills them with the training medians."
            )
        with torch.no_grad():
            if self.impute_inputs:
                fill = torch.nan_to_num(X.nanmedian(dim=0).values, nan=0.0)
                self.get_buffer("input_fill").copy_(fill)
                X = torch.where(missing, fill, X)
            if self.standardize_inputs:
                self.get_buffer("input_mean").copy_(X.mean(dim=0))
                self.get_buffer("input_std").copy_(X.std(dim=0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.impute_inputs:
            x = torch.where(torch.isnan(x), self.get_buffer("input_fill"), x)
        if self.standardize_inputs:
            x = (x - self.get_buffer("input_mean")) / self.get_buffer("input_std")
        for block in self.blocks:
            x = block(x)
        return self.head(x)

    def hidden_layer_names(self) -> list[str]:
        """Module names of the hidden layers in depth order: ``blocks.0``, ``blocks.1``, …"""
        return [f"blocks.{k}" for k in range(len(self.blocks))]

    def embedding_layer_name(self) -> str:
        """The last hidden block: the penultimate representation fed to the head."""
        return f"blocks.{len(self.blocks) - 1}"

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable architecture; ``MLP.from_spec(m.spec())`` rebuilds it."""
        return {
            "type": "MLP",
            "in_features": self.in_features,
            "hidden": list(self.hidden),
            "out_features": self.out_features,
            "dropout": self.dropout,
            "norm": self.norm,
            "standardize_inputs": self.standardize_inputs,
            **({"impute_inputs": True} if self.impute_inputs else {}),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> MLP:
        """Rebuild (randomly initialised) from :meth:`spec`."""
        return cls(
            in_features=spec_field(spec, "in_features", "MLP"),
            hidden=spec_field(spec, "hidden", "MLP"),
            out_features=spec_field(spec, "out_features", "MLP"),
            dropout=spec.get("dropout", 0.0),
            norm=spec.get("norm", "layer"),
            standardize_inputs=bool(spec.get("standardize_inputs", False)),
            impute_inputs=bool(spec.get("impute_inputs", False)),
        )

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, hidden={self.hidden}, out={self.out_features}"
