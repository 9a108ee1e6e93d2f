"""A deep ensemble of MLPs: the accurate but expensive-to-serve production model.

Serving M members costs M forward passes per prediction, which is exactly the cost that
distillation into one network removes (Hinton et al., 2015, distilled ensembles into a
single model). The ensemble predicts the *mean of the members' probabilities*
(Lakshminarayanan et al., 2017); its ``forward`` returns the log of that mean, so that a
softmax of the output gives the ensemble's probabilities back and KD losses can treat it
like any other logits. For regression it returns the mean prediction.

Feature distillation needs one hidden representation per depth. The ensemble's k-th
hidden representation is the concatenation of the members' k-th block outputs; it is
passed through an ``nn.Identity`` named ``taps.k`` so a forward hook can capture it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import torch
from torch import nn

from potstill._validation import check_choice
from potstill.errors import ConfigError, ModelError
from potstill.models.arch.mlp import MLP
from potstill.models.registry import register_architecture, spec_field
from potstill.types import Problem

__all__ = ["DeepEnsemble"]


@register_architecture("DeepEnsemble")
class DeepEnsemble(nn.Module):
    """Average of MLP members that share input width, output width and depth.

    Parameters
    ----------
    members : sequence of MLP
        The trained (or to-be-trained) members; at least one.
    problem : {"classification", "regression"}, default "classification"
        Classification averages softmax probabilities (output: log of the mean);
        regression averages the predictions.
    """

    def __init__(self, members: Sequence[MLP], problem: Problem = "classification") -> None:
        super().__init__()
        check_choice(
            problem, "problem", owner="DeepEnsemble", choices=("classification", "regression")
        )
        members = list(members)
        if not members:
            raise ConfigError(
                "The 'members' parameter of DeepEnsemble must hold at least one MLP. "
                "Got [] instead."
            )
        for i, member in enumerate(members):
            if not isinstance(member, MLP):
                raise ConfigError(
                    f"The 'members' parameter of DeepEnsemble must hold MLP modules. "
                    f"Member {i} is a {type(member).__name__}."
                )
        first = members[0]
        for i, member in enumerate(members[1:], start=1):
            shape = (member.in_features, member.out_features, len(member.hidden))
            expected = (first.in_features, first.out_features, len(first.hidden))
            if shape != expected:
                raise ConfigError(
                    "The members of DeepEnsemble must share (in_features, out_features, depth). "
                    f"Member 0 has {expected}; member {i} has {shape}."
                )
        self.problem: Problem = problem
        self.members = nn.ModuleList(members)
        self.taps = nn.ModuleList(nn.Identity() for _ in first.hidden)
        self.in_features = first.in_features
        self.out_features = first.out_features

    def _mlps(self) -> list[MLP]:
        return [cast(MLP, m) for m in self.members]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members = self._mlps()
        states = [x] * len(members)
        for depth, tap in enumerate(self.taps):
            states = [m.blocks[depth](h) for m, h in zip(members, states, strict=True)]
            # The concatenation exists only for a hook to see; a served (unhooked) ensemble
            # does not pay for it, so its measured cost is that of its members alone.
            if tap._forward_hooks:
                tap(torch.cat(states, dim=-1))
        outputs = torch.stack([m.head(h) for m, h in zip(members, states, strict=True)])
        if self.problem == "regression":
            return outputs.mean(dim=0)
        # log(mean_m softmax(z_m)) computed stably in log space
        log_probs = torch.log_softmax(outputs, dim=-1)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))

    def hidden_layer_names(self) -> list[str]:
        """``taps.0 … taps.{L-1}``: concatenated member outputs at each depth."""
        return [f"taps.{k}" for k in range(len(self.taps))]

    def embedding_layer_name(self) -> str:
        """The last tap: all members' penultimate features side by side."""
        return f"taps.{len(self.taps) - 1}"

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable architecture; ``DeepEnsemble.from_spec(e.spec())`` rebuilds it."""
        return {
            "type": "DeepEnsemble",
            "problem": self.problem,
            "members": [m.spec() for m in self._mlps()],
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> DeepEnsemble:
        """Rebuild (randomly initialised) from :meth:`spec`."""
        members = spec_field(spec, "members", "DeepEnsemble")
        if not isinstance(members, list):
            raise ModelError(
                "The 'members' field of a DeepEnsemble spec must be a list of MLP specs. "
                f"Got {type(members).__name__} instead."
            )
        return cls(
            [MLP.from_spec(m) for m in members], problem=spec.get("problem", "classification")
        )
