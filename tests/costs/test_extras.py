"""The typed views of ``Costs.extra``: round trips, and records in the older shapes."""

from __future__ import annotations

import math

import pytest

from potstill.costs.extras import (
    QuantizedTeacher,
    ReferenceCosts,
    WaterfallStep,
    quantized_teacher_from,
    reference_from,
    waterfall_from,
)

STEP = {
    "step": "student (ONNX Runtime INT8)", "lever": "quantization", "measured": True,
    "counted": False, "status": "failed", "runtime_label": "ONNX Runtime INT8", "metric": 0.1,
    "retention": 0.12, "reason": "retention 0.12 < 0.97", "usd_per_million": 0.5,
    "saved_usd_per_million": None, "saved_fraction_of_teacher": None,
    "cumulative_reduction": None, "model": "student:kd", "runtime": "onnx-int8",
}  # fmt: skip
REFERENCE = {
    "name": "MiniLM INT8", "target": "reference:int8", "note": "the base encoder",
    "metric": "accuracy", "value": 0.8, "retention": 0.9, "quantization": "dynamic",
    "measured": True, "runtime": "onnx-int8", "p50_ms": 1.5, "usd_per_million": 0.2,
    "reduction": 0.6, "bytes_on_disk": 1000,
}  # fmt: skip
QUANTIZED = {
    "runtime": "onnx-int8", "p50_ms": 0.4, "usd_per_million": 0.3, "reduction": -0.1,
    "metric_value": 0.85, "retention": 0.99, "counted": True, "reason": "",
    "against": "teacher (PyTorch eager)",
}  # fmt: skip


@pytest.mark.parametrize(
    ("cls", "data"),
    [(WaterfallStep, STEP), (ReferenceCosts, REFERENCE), (QuantizedTeacher, QUANTIZED),
     (ReferenceCosts, {"name": "r", "target": "t", "note": "", "measured": False})],
)  # fmt: skip
def test_round_trip_keeps_the_record_layout(cls: type, data: dict) -> None:
    typed = cls.from_dict(data)  # type: ignore[attr-defined]
    assert typed.to_dict() == data
    assert list(typed.to_dict()) == list(data)  # the same keys in the same order


def test_attributes_read_what_the_dicts_held() -> None:
    costs = {"extra": {"waterfall": [STEP], "reference": REFERENCE, "quantized_teacher": QUANTIZED}}
    (step,) = waterfall_from(costs)
    assert (step.label, step.usd, step.failed, step.metric) == (STEP["step"], 0.5, True, 0.1)
    ref = reference_from(costs)
    assert ref is not None and ref.measured and ref.quality["value"] == 0.8
    quantized = quantized_teacher_from(costs)
    assert quantized is not None and quantized.reduction == -0.1 and quantized.counted


def test_old_records_still_load() -> None:
    """Steps named by 'label' without the later fields, an unmeasured step with NaN, a
    key no longer written, and no extra at all."""
    old = {"extra": {"waterfall": [
        {"label": "teacher (eager)", "usd_per_million": 2.0, "counted": True},
        {"label": "student (ONNX Runtime)", "usd_per_million": math.nan, "measured": False,
         "counted": False, "skipped_because": "onnxruntime missing"},
    ], "quantized_teacher": {"usd_per_million": 1.0, "reduction": 0.5, "legacy": 1}}}  # fmt: skip
    first, second = waterfall_from(old)
    assert (first.label, first.usd, first.counted, first.failed) == (
        "teacher (eager)",
        2.0,
        True,
        False,
    )
    assert second.usd is None and not second.failed
    assert second.others == {"skipped_because": "onnxruntime missing"}
    assert second.to_dict()["skipped_because"] == "onnxruntime missing"
    quantized = quantized_teacher_from(old)
    assert quantized is not None and quantized.counted and quantized.others == {"legacy": 1}
    assert waterfall_from({}) == [] and waterfall_from(None) == []
    assert reference_from({"extra": {}}) is None and quantized_teacher_from({"extra": 3}) is None
