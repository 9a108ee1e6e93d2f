"""Methods defined for one kind of hidden feature are refused on another, before training."""

from __future__ import annotations

import pytest

from potstill.errors import MethodError
from potstill.methods import MethodSpec, applicability_reason, applicable_methods, check_applicable

CAPS = frozenset({"logits", "hidden", "embedding"})


def test_attention_transfer_needs_feature_maps() -> None:
    reason = applicability_reason(
        [MethodSpec(name="at")],
        teacher_capabilities=CAPS,
        student_capabilities=CAPS,
        problem="classification",
        hidden_kind="vector",
    )
    assert (
        reason is not None and "'at' distils map hidden features" in reason and "vectors" in reason
    )
    assert "at" not in reason.split("instead:")[1]  # not offered as its own alternative
    assert (
        applicability_reason(
            [MethodSpec(name="at")],
            teacher_capabilities=CAPS,
            student_capabilities=CAPS,
            problem="classification",
            hidden_kind="map",
        )
        is None
    )


def test_kind_filters_the_alternatives_and_unknown_kind_keeps_old_behaviour() -> None:
    on_vectors = applicable_methods(
        teacher_capabilities=CAPS,
        student_capabilities=CAPS,
        problem="classification",
        hidden_kind="vector",
    )
    assert "at" not in on_vectors and "fitnet" in on_vectors and "kd" in on_vectors
    unknown = applicable_methods(
        teacher_capabilities=CAPS, student_capabilities=CAPS, problem="classification"
    )
    assert "at" in unknown
    with pytest.raises(MethodError, match="'at' distils map"):
        check_applicable(
            ["at"],
            teacher_capabilities=CAPS,
            student_capabilities=CAPS,
            problem="classification",
            hidden_kind="tokens",
        )
