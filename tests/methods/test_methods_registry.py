"""Registry, hyper-parameter validation and method descriptions."""

from __future__ import annotations

import pytest

from potstill.errors import MethodError
from potstill.methods import (
    KD,
    Method,
    create_method,
    get_method_class,
    list_methods,
    method_info,
    register_method,
)
from potstill.methods.base import Param

ALL = list_methods()


def test_the_study_names_are_registered() -> None:
    for name in ("kd", "fitnet", "rkd", "rkd_distance", "rkd_angle", "kd_regression"):
        assert name in ALL


def test_families_partition_the_registry() -> None:
    by_family = {f: set(list_methods(f)) for f in ("response", "feature", "relation")}
    assert set().union(*by_family.values()) == set(ALL)
    assert by_family["response"] == {"kd", "dkd", "dist", "kd_regression"}
    assert {"fitnet", "at", "hidden_mse", "hidden_cosine", "attention_mse"} == by_family["feature"]
    assert {"rkd", "sp", "pkt", "cc", "crd", "minilm"} <= by_family["relation"]


def test_unknown_name_lists_the_valid_ones() -> None:
    with pytest.raises(
        MethodError, match=r"Unknown distillation method 'kdd'\. Valid methods: 'at', "
    ):
        create_method("kdd")


def test_unknown_family_is_refused() -> None:
    with pytest.raises(MethodError, match="Valid families: response, feature, relation"):
        list_methods("logit")


def test_unknown_parameter_lists_the_valid_ones() -> None:
    with pytest.raises(
        MethodError,
        match=r"Method 'dkd' has no parameter 'temp'\. Valid parameters: alpha, beta, "
        r"temperature, warmup_epochs\.",
    ):
        create_method("dkd", temp=2)


def test_message_names_method_parameter_range_and_value() -> None:
    with pytest.raises(
        MethodError,
        match=r"^The 'temperature' parameter of method 'kd' must be > 0\. Got -1 instead\.$",
    ):
        create_method("kd", temperature=-1)
    with pytest.raises(
        MethodError,
        match=r"'projection' parameter of method 'fitnet' must be one of 'always', 'auto'\. Got",
    ):
        create_method("fitnet", projection="never")
    with pytest.raises(
        MethodError,
        match=r"'stage1_epochs' parameter of method 'fitnet' must be an integer\. Got 1\.5",
    ):
        create_method("fitnet", stage1_epochs=1.5)
    with pytest.raises(MethodError, match=r"'momentum' parameter of method 'crd' must be < 1"):
        create_method("crd", momentum=1.0)
    with pytest.raises(
        MethodError, match=r"'beta' parameter of method 'dist' must be a finite number"
    ):
        create_method("dist", beta=float("inf"))
    with pytest.raises(
        MethodError, match=r"'alpha' parameter of method 'dkd' must be a number\. Got 'x'"
    ):
        create_method("dkd", alpha="x")


def _out_of_range(param: Param) -> object:
    if param.gt is not None:
        return param.gt - 1
    if param.ge is not None:
        return param.ge - 1
    return param.lt if param.lt is not None else param.le + 1  # type: ignore[operator]


BOUNDED = [
    (name, p) for name in ALL for p in get_method_class(name).hyperparams
    if p.choices is None and (p.gt, p.ge, p.lt, p.le) != (None, None, None, None)
]  # fmt: skip


@pytest.mark.parametrize(("name", "param"), BOUNDED, ids=[f"{n}.{p.name}" for n, p in BOUNDED])
def test_every_bounded_parameter_is_validated(name: str, param: Param) -> None:
    value = _out_of_range(param)
    with pytest.raises(
        MethodError, match=rf"The '{param.name}' parameter of method '{name}' must be"
    ):
        create_method(name, **{param.name: value})


@pytest.mark.parametrize("name", ALL)
def test_defaults_are_valid_and_stored(name: str) -> None:
    method = create_method(name)
    info = method_info(name)
    assert method.get_params() == info.defaults
    for p in info.params:
        assert p.help and p.range_text()


def test_values_are_stored_and_ints_widened() -> None:
    method = create_method("dkd", alpha=2, warmup_epochs=3)
    assert method.get_params() == {
        "alpha": 2.0,
        "beta": 8.0,
        "temperature": 4.0,
        "warmup_epochs": 3,
    }
    assert isinstance(method.get_params()["alpha"], float)
    assert "alpha=2.0" in repr(method)


def test_method_info_describes_without_instantiating() -> None:
    info = method_info("rkd")
    assert info.family == "relation"
    assert info.requires == frozenset({"embedding"})
    assert info.problems == frozenset({"classification", "regression", "embedding"})
    assert "Park" in info.paper and info.url == "https://arxiv.org/abs/1904.05068"
    assert info.defaults == {"distance_weight": 25.0, "angle_weight": 50.0}
    assert info.summary.startswith("Relational KD")
    crd = {p.name: p for p in method_info("crd").params}
    assert crd["n_negatives"].range_text() == "integer >= 1, or None"
    assert crd["momentum"].range_text() == ">= 0 and < 1"
    assert method_info("kd").problems == frozenset({"classification"})
    assert method_info("kd_regression").problems == frozenset({"regression"})


def test_register_refuses_a_second_class_under_a_taken_name() -> None:
    class Impostor(KD):
        """Not the real KD."""

    with pytest.raises(MethodError, match="already registered"):
        register_method(Impostor)
    assert get_method_class("kd") is KD


def test_register_checks_the_declaration() -> None:
    class Bad(Method):
        """Requires something no model exposes."""

        name = "bad_requires"
        family = "response"
        requires = frozenset({"gradients"})
        paper = url = "x"

    with pytest.raises(MethodError, match="each must be one of"):
        register_method(Bad)
    assert "bad_requires" not in list_methods()

    class Hidden(Method):
        """Claims the embedding problem but needs hidden layers."""

        name = "bad_embedding"
        family = "feature"
        requires = frozenset({"hidden"})
        problems = frozenset({"embedding"})
        paper = url = "x"

    with pytest.raises(MethodError, match="feeds a method the embeddings only"):
        register_method(Hidden)
    assert "bad_embedding" not in list_methods()


def test_reference_page_documents_every_method_and_parameter() -> None:
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "methods-reference.md").read_text("utf-8")
    for name in ALL:
        assert f"[`{name}`](#" in page, f"{name} missing from the summary table"
        for param in method_info(name).params:
            assert f"| `{param.name}` | " in page, f"{name}.{param.name} undocumented"
