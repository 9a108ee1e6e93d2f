"""The one Registry class: duplicates refused, unknown names listed, dict-like reads."""

from __future__ import annotations

import importlib

import pytest

from potstill.errors import ConfigError, MethodError
from potstill.registry import Registry


def _registry() -> Registry[int]:
    reg: Registry[int] = Registry("widget", error=MethodError, plural="widgets")
    reg.register("b", 2)
    reg.register("a", 1)
    return reg


def test_lookup_and_mapping_reads() -> None:
    reg = _registry()
    assert reg.lookup("a") == 1 and reg["b"] == 2
    assert list(reg) == ["b", "a"]  # registration order
    assert reg.names() == ["a", "b"]  # sorted
    assert "a" in reg and "c" not in reg and len(reg) == 2
    assert reg.get("c") is None and dict(reg.items()) == {"b": 2, "a": 1}


def test_unknown_name_lists_the_valid_ones_with_the_registry_error() -> None:
    with pytest.raises(MethodError, match=r"Unknown widget 'c'\. Valid widgets: 'a', 'b'\."):
        _registry().lookup("c")
    with pytest.raises(MethodError, match="Unknown widget"):
        _registry()["c"]


def test_duplicates_refused_the_same_object_again_is_a_no_op() -> None:
    reg: Registry[object] = Registry("gadget")
    entry = object()
    reg.register("x", entry)
    reg.register("x", entry)
    with pytest.raises(ConfigError, match=r"A gadget named 'x' is already registered"):
        reg.register("x", object())
    with pytest.raises(ConfigError, match="already registered"):
        reg.refuse_taken("x")
    with pytest.raises(ConfigError, match="needs a non-empty name"):
        reg.register("", entry)


def test_decorator_and_copy_are_independent() -> None:
    reg: Registry[object] = Registry("gadget")

    @reg.decorator("f")
    def f() -> None: ...

    other = reg.copy()
    other.register("g", f)
    assert reg.names() == ["f"] and other.names() == ["f", "g"]


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("potstill.methods.registry", "_REGISTRY"),
        ("potstill.models.registry", "_ARCHITECTURES"),
        ("potstill.data.registry", "_REGISTRY"),
        ("potstill.costs.runtimes", "_REGISTRY"),
        ("potstill.evaluate.metrics", "METRICS"),
        ("potstill.evaluate.robustness", "PERTURBATIONS"),
        ("potstill.report.charts", "_CHARTS"),
    ],
)
def test_every_registry_is_a_registry(module: str, name: str) -> None:
    assert isinstance(getattr(importlib.import_module(module), name), Registry)
