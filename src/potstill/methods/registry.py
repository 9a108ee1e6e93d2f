"""The method registry: every distillation loss is found by name.

timm-style: ``@register_method`` on a :class:`~potstill.methods.base.Method` subclass makes it
available to ``create_method(name, **params)``, ``list_methods(family)`` and
``method_info(name)``, and so to YAML configs. An unknown name lists the valid ones.
"""

from __future__ import annotations

from typing import Any, TypeVar

from potstill.errors import MethodError
from potstill.methods.base import FAMILIES, OUTPUT_FIELDS, PROBLEMS, Method, MethodInfo
from potstill.registry import Registry

__all__ = ["create_method", "get_method_class", "list_methods", "method_info", "register_method"]

M = TypeVar("M", bound=type[Method])
_REGISTRY: Registry[type[Method]] = Registry(
    "distillation method", error=MethodError, plural="methods"
)


def register_method(cls: M) -> M:
    """Class decorator: register ``cls`` under ``cls.name`` after checking its declaration."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier():
        raise MethodError(f"{cls.__qualname__} must declare 'name', a Python identifier.")
    if cls.family not in FAMILIES:
        raise MethodError(f"Method '{name}' declares family {cls.family!r}; expected {FAMILIES}.")
    unknown = set(cls.requires) - OUTPUT_FIELDS
    if not cls.requires or unknown:
        raise MethodError(
            f"Method '{name}' requires {sorted(cls.requires)}; each must be one of "
            f"{sorted(OUTPUT_FIELDS)}."
        )
    if not cls.problems or not cls.problems <= set(PROBLEMS):
        raise MethodError(
            f"Method '{name}' declares problems {sorted(cls.problems)}; each must be one of "
            f"{list(PROBLEMS)}."
        )
    if "embedding" in cls.problems and not cls.requires <= {"logits", "embedding"}:
        raise MethodError(
            f"Method '{name}' declares the embedding problem but requires "
            f"{sorted(cls.requires)}; an embedding problem feeds a method the embeddings only."
        )
    _REGISTRY.register(name, cls)
    return cls


def list_methods(family: str | None = None) -> list[str]:
    """Sorted names of the registered methods, optionally of one family."""
    if family is not None and family not in FAMILIES:
        raise MethodError(
            f"Unknown method family {family!r}. Valid families: {', '.join(FAMILIES)}."
        )
    return sorted(n for n, c in _REGISTRY.items() if family is None or c.family == family)


def get_method_class(name: str) -> type[Method]:
    """The class registered under ``name``; an unknown name lists the valid ones."""
    return _REGISTRY.lookup(name)


def create_method(name: str, **params: Any) -> Method:
    """Instantiate a registered method; parameters are validated against their ranges."""
    return get_method_class(name)(**params)


def method_info(name: str) -> MethodInfo:
    """Family, requirements, paper and hyper-parameters (defaults and ranges) of a method."""
    return get_method_class(name).info()
