"""Hidden features of a TorchScript teacher, without forward hooks.

Forward hooks do not fire inside a ``ScriptModule``, so :class:`~potstill.models.hooks.
FeatureTap` cannot capture a scripted model's hidden layers the usual way. Many deployed
TorchScript files are, however, a chain: an ``nn.Sequential`` MLP, or a wrapper whose
submodules run one after the other (``blocks`` then ``head``). :func:`script_chain` finds
such a chain and keeps it only if running its scripted steps in sequence gives exactly
the module's own output on random rows; the hidden features are then the outputs of the
steps that feed each weighted layer after the first (for ``Linear, ReLU, Linear, ReLU,
Linear``: the two ReLU outputs), the last of them being the embedding. A module that is
not such a chain (a custom forward, input scaling, convolutions first) exposes the outputs
of the submodules its ``forward`` calls, read from a copy of its graph
(:mod:`potstill.models.scripted_graph`); :func:`script_taps` picks whichever applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from potstill.models.scripted_graph import ScriptGraph, check_reproduces, script_graph

__all__ = ["ScriptChain", "ScriptTaps", "script_chain", "script_input_width", "script_taps"]

#: Containers whose children run in order (a ModuleList is iterated by its owner's forward).
_EXPANDED = ("ModuleList",)
_ROWS = 3
_RTOL, _ATOL = 1e-5, 1e-5


def _kind(module: nn.Module) -> str:
    """The eager class name a scripted module was made from ("Linear", "Sequential", …)."""
    return str(getattr(module, "original_name", type(module).__name__))


def _weighted(module: nn.Module) -> bool:
    """A layer that transforms features (has weights and is not a normalisation)."""
    return "Norm" not in _kind(module) and any(True for _ in module.parameters())


@dataclass(frozen=True)
class ScriptChain:
    """The steps of a scripted module, in the order they run, and its hidden features."""

    steps: tuple[tuple[str, nn.Module], ...]
    hidden: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Qualified names of every step (as in ``module.named_modules()``)."""
        return tuple(name for name, _ in self.steps)

    @property
    def embedding(self) -> str | None:
        """The representation fed to the last weighted layer (the penultimate features)."""
        return self.hidden[-1] if self.hidden else None

    def run(
        self, x: torch.Tensor, wanted: set[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The chain's output and the outputs of the ``wanted`` steps."""
        captured: dict[str, torch.Tensor] = {}
        for name, step in self.steps:
            x = step(x)
            if name in wanted:
                captured[name] = x
        return x, captured

    def check(self, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        """Raise ModelError unless ``out`` (the chain's output on ``x``) is the module's."""
        check_reproduces(
            module, x, out,
            "The submodules of this TorchScript teacher, run in sequence, do not give its "
            "output on these rows, so its hidden layers cannot be read this way.",
        )  # fmt: skip


def _steps(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """Children in registration order, ModuleLists expanded, single-child wrappers unwrapped."""
    prefix = ""
    children = list(module.named_children())
    while len(children) == 1 and any(True for _ in children[0][1].children()):
        name, module = children[0]
        prefix += f"{name}."
        children = list(module.named_children())
    steps: list[tuple[str, nn.Module]] = []
    stack = [(prefix + name, child) for name, child in children]
    while stack:
        name, child = stack.pop(0)
        if _kind(child) in _EXPANDED:
            stack[:0] = [(f"{name}.{n}", c) for n, c in child.named_children()]
        else:
            steps.append((name, child))
    return steps


def _in_features(steps: list[tuple[str, nn.Module]]) -> int | None:
    """Input width of a chain whose first weighted layer is a Linear, else None."""
    for _, step in steps:
        for sub in step.modules():
            if _kind(sub) == "Linear":
                weight = getattr(sub, "weight", None)
                return int(weight.shape[1]) if isinstance(weight, torch.Tensor) else None
            if _weighted(sub) and not any(True for _ in sub.children()):
                return None  # the first weighted layer is not a Linear (a conv, an embedding)
    return None


def _reproduces(module: nn.Module, chain: ScriptChain, width: int) -> bool:
    x = torch.randn(_ROWS, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        try:
            expected = module(x)
            got, _ = chain.run(x, set())
        except (RuntimeError, AttributeError, TypeError):  # a step TorchScript cannot call alone
            return False
    return (
        isinstance(expected, torch.Tensor)
        and expected.shape == got.shape
        and bool(torch.allclose(expected, got, rtol=_RTOL, atol=_ATOL))
    )


def script_input_width(module: nn.Module) -> int | None:
    """Input width of a scripted module whose first weighted layer is a Linear."""
    if not isinstance(module, torch.jit.ScriptModule):
        return None
    return _in_features([("", module)] if _kind(module) == "Linear" else _steps(module))


def script_chain(module: nn.Module) -> ScriptChain | None:
    """The verified chain of a TorchScript module with hidden features, or None."""
    if not isinstance(module, torch.jit.ScriptModule):
        return None
    steps = _steps(module)
    weighted = [i for i, (_, step) in enumerate(steps) if _weighted(step)]
    hidden = tuple(dict.fromkeys(steps[i - 1][0] for i in weighted[1:]))
    width = _in_features(steps)
    if not hidden or width is None:
        return None
    chain = ScriptChain(steps=tuple(steps), hidden=hidden)
    was_training = module.training
    module.eval()
    try:
        return chain if _reproduces(module, chain, width) else None
    finally:
        module.train(was_training)


#: How a TorchScript teacher's hidden layers are read: its verified chain, or its graph.
ScriptTaps = ScriptChain | ScriptGraph


def script_taps(module: nn.Module) -> ScriptTaps | None:
    """The verified chain of a TorchScript module, else its graph taps, else None."""
    return script_chain(module) or script_graph(module)
