"""Hidden features of a TorchScript teacher read from its own graph.

When a scripted or traced module's submodules, run in sequence, do not give its output (its
``forward`` scales the input first, like ``self.head(self.features(x / 16))``, or a CNN whose
first weighted layer is a convolution, so no input width can be read off it),
:func:`script_graph` still reads its hidden layers: it copies the module's ``forward`` graph,
makes it also return the output of every call of a direct submodule (``prim::CallMethod``
``forward`` on an attribute of ``self``) and compiles that copy into a function of the module
and its input. The copy runs exactly the teacher's own operations, so its first output is the
teacher's output; :meth:`ScriptGraph.check` still compares the two on the first real batch.
The hidden features are the outputs of the calls whose result is not the module's output
(for ``features`` then ``head``: the output of ``features``), the last of them being the
embedding.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from potstill.errors import ModelError

__all__ = ["ScriptGraph", "check_reproduces", "script_graph"]

_RTOL, _ATOL = 1e-5, 1e-5


def check_reproduces(module: nn.Module, x: torch.Tensor, out: torch.Tensor, what: str) -> None:
    """Raise ModelError (``what``, and the way out) unless ``out`` is ``module(x)``: a
    re-run of a TorchScript teacher that does not reproduce it cannot read its layers."""
    with torch.no_grad():
        expected = module(x)
    if not (
        isinstance(expected, torch.Tensor)
        and expected.shape == out.shape
        and bool(torch.allclose(expected, out.detach(), rtol=_RTOL, atol=_ATOL))
    ):
        raise ModelError(
            f"{what} Use logits-only distillation methods (kd, dkd, dist) for this teacher."
        )


_counter = itertools.count()


@dataclass(frozen=True)
class ScriptGraph:
    """A copy of a scripted module's ``forward`` that also returns its submodules' outputs."""

    module: nn.Module
    function: Any  # a torch._C.ScriptFunction (module, input) -> (output, *taps)
    names: tuple[str, ...]
    hidden: tuple[str, ...]

    @property
    def embedding(self) -> str | None:
        """The last hidden tap (the representation the head reads)."""
        return self.hidden[-1] if self.hidden else None

    def run(
        self, x: torch.Tensor, wanted: set[str]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The module's output and the outputs of the ``wanted`` submodule calls."""
        out, *taps = self.function(self.module._c, x)
        return out, {n: t for n, t in zip(self.names, taps, strict=True) if n in wanted}

    def check(self, module: nn.Module, x: torch.Tensor, out: torch.Tensor) -> None:
        """Raise ModelError unless ``out`` (the graph copy's output on ``x``) is the module's."""
        check_reproduces(
            module, x, out,
            "The copy of this TorchScript teacher's graph that returns its hidden layers "
            "does not give its output on these rows, so its hidden layers cannot be read.",
        )  # fmt: skip


def _submodule_calls(graph: Any) -> list[tuple[str, Any]]:
    """(attribute name, output value) of each top-level ``self.<name>(...)`` returning a Tensor."""
    self_value = next(iter(graph.inputs()))
    calls = []
    for node in graph.nodes():
        if node.kind() != "prim::CallMethod" or node.s("name") != "forward":
            continue
        owner = node.inputsAt(0).node()
        if owner.kind() != "prim::GetAttr" or owner.inputsAt(0) is not self_value:
            continue
        output = node.outputsAt(0)
        if output.type().kind() == "TensorType":
            calls.append((owner.s("name"), output))
    return calls


def _return_with(graph: Any, taps: list[Any]) -> None:
    """Make ``graph`` return the tuple (its output, *taps)."""
    ret = graph.return_node()
    values = [ret.inputsAt(0), *taps]
    pack = graph.create("prim::TupleConstruct", values)
    pack.insertBefore(ret)
    pack.output().setType(torch._C.TupleType([v.type() for v in values]))
    ret.replaceInput(0, pack.output())


def script_graph(module: nn.Module) -> ScriptGraph | None:
    """The graph taps of a TorchScript module whose ``forward`` calls at least two
    submodules and returns one tensor; None otherwise."""
    if not isinstance(module, torch.jit.ScriptModule) or not module._c._has_method("forward"):
        return None
    graph = module._c._get_method("forward").graph.copy()
    ret = graph.return_node()
    if ret.inputsSize() != 1 or ret.inputsAt(0).type().kind() != "TensorType":
        return None
    calls = _submodule_calls(graph)
    output = ret.inputsAt(0)
    hidden = tuple(name for name, value in calls if value is not output)
    if len(calls) < 2 or not hidden or len({n for n, _ in calls}) != len(calls):
        return None  # one call (nothing hidden) or a submodule called twice (ambiguous name)
    _return_with(graph, [value for _, value in calls])
    try:
        function = torch._C._create_function_from_graph(f"potstill_taps_{next(_counter)}", graph)
    except RuntimeError:  # a graph TorchScript will not compile back into a function
        return None
    return ScriptGraph(module, function, tuple(n for n, _ in calls), hidden)
