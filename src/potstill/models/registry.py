"""The registry of architectures that can be rebuilt from a ``spec()`` dictionary.

A saved student is a JSON spec plus a safetensors file, never pickled code, so loading it
needs a trusted way from ``{"type": "MLP", ...}`` back to a class. Each architecture
registers itself here with :func:`register_architecture` (timm style); the name is the
``"type"`` key its ``spec()`` writes, and the class provides ``from_spec(spec)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from torch import nn

from potstill.errors import ModelError
from potstill.registry import Registry

__all__ = [
    "Rebuildable",
    "get_architecture",
    "list_architectures",
    "register_architecture",
    "spec_field",
]


class Rebuildable(Protocol):
    """A module class that can describe itself as JSON and be rebuilt from it."""

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> nn.Module: ...


T = TypeVar("T", bound=type)

_ARCHITECTURES: Registry[type] = Registry("architecture type", error=ModelError, plural="types")


def register_architecture(name: str) -> Callable[[T], T]:
    """Class decorator: make ``name`` (the ``"type"`` of the class's spec) rebuildable."""

    def decorate(cls: T) -> T:
        if not callable(getattr(cls, "from_spec", None)):
            raise TypeError(
                f"{cls.__name__} must define a 'from_spec' classmethod to be registered"
            )
        _ARCHITECTURES.register(name, cls)
        return cls

    return decorate


def list_architectures() -> list[str]:
    """Names of the registered architectures, sorted."""
    return _ARCHITECTURES.names()


def get_architecture(name: str) -> type:
    """The class registered as ``name``; unknown names list the valid ones."""
    return _ARCHITECTURES.lookup(name)


def spec_field(spec: Mapping[str, Any], key: str, owner: str) -> Any:
    """``spec[key]``, or a ModelError that names the missing key and the spec's owner."""
    if not isinstance(spec, Mapping):
        raise ModelError(
            f"The architecture spec of {owner} must be a JSON object (dict). "
            f"Got {type(spec).__name__} instead."
        )
    if key not in spec:
        raise ModelError(
            f"The architecture spec of {owner} has no {key!r} field (keys present: "
            f"{sorted(spec)}). Rebuild the spec with {owner}.spec()."
        )
    return spec[key]
