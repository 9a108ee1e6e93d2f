"""The per-system table's notes (black-box params, empty memory, DKD = KD on two classes),
the gate sections' statuses, and chart axes that show negative reductions."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from matplotlib.figure import Figure

from potstill.report import charts
from potstill.report.system_table import dkd_note, per_system_section
from potstill.report.validation import gates_section, validation_section
from potstill.results.aggregate import summarise


def system(rendered: Any, name: str) -> list[dict[str, Any]]:
    return copy.deepcopy([r for r in rendered.records if r["system"] == name])


def test_black_box_params_and_empty_memory_say_why(rendered):
    records = system(rendered, "fraud-blackbox")
    for r in records:
        r["teacher"].update(params=None, backend="xgboost")
        for p in r["profiles"]:
            p["peak_memory_mb"] = None
            p["settings"] = {"memory": False}
            if p["model"] == "teacher":
                p["params"] = 0
    text = per_system_section(records)
    row = next(line for line in text.splitlines() if "| kd (response) |" in line)
    assert "— → 25.0k" in row.replace("\u00a0", " ")  # the teacher's count reads —
    assert "Params teacher — : the teacher is a black box" in text
    assert "fraud-blackbox (xgboost)" in text
    assert "Peak MB — : memory probing was off (bench.memory: false) (fraud-blackbox)" in text
    probed = system(rendered, "credit-default")
    for r in probed:
        for p in r["profiles"]:
            p["peak_memory_mb"] = None
            p["extra"] = {"cold_start": {"fresh_process_error": "SpecViolationError: state"}}
    assert "Peak MB — : SpecViolationError: state (credit-default)" in per_system_section(probed)
    assert "Peak MB —" not in per_system_section(system(rendered, "heart-disease"))


def test_dkd_equals_kd_on_two_classes_is_explained(rendered):
    records = system(rendered, "credit-default")
    dkd = copy.deepcopy(next(r for r in records if r["method"] == "kd"))
    dkd["method"] = "dkd"
    records.append(dkd)
    assert dkd_note(records) == ""  # the number of classes is not recorded: say nothing
    for r in records:
        r["dataset"]["n_classes"] = 2
    note = dkd_note(records)
    assert note.startswith("DKD = KD on two classes (credit-default)")
    assert "NCKD vanishes" in note and "TCKD on two classes is KD's loss" in note
    assert note in per_system_section(records)
    for r in records:
        r["dataset"]["n_classes"] = 3
    assert dkd_note(records) == ""  # three classes: DKD differs from KD


def test_gate_statuses_and_scratch_apart(rendered):
    records = system(rendered, "credit-default")
    kd = next(r for r in records if r["method"] == "kd")
    kd["gates"].append(
        {"name": "max_fairness_gap_increase", "threshold": 0.02, "value": None,
         "passed": False, "status": "not measured", "reason": "not measured: no attribute"}
    )  # fmt: skip
    text = validation_section(records, [])
    row = next(line for line in text.splitlines() if "max_fairness" in line)
    assert "| not measured |" in row and "| pass |" not in row
    section = gates_section(summarise(records))
    students, baselines = section.split("**From-scratch baselines**")
    assert "| baseline |" not in students and "| baseline |" in baselines
    assert "never counted among the students that passed" in baselines
    assert "| response | max_fairness_gap_increase | 0 | 0 | 1 | 1 |" in students


@pytest.mark.parametrize("reduction", [-3.72, 0.5])
def test_sector_chart_axis_shows_negative_reductions(
    rendered: Any, monkeypatch: pytest.MonkeyPatch, reduction: float
) -> None:
    records = system(rendered, "credit-default")
    for r in records:
        if r["costs"] is not None:
            r["costs"]["reduction"] = reduction
    figures: list[Figure] = []
    monkeypatch.setattr(charts, "_png", lambda fig: figures.append(fig) or b"")
    charts.create_charts(records, summarise(records), ["sector_reduction"])
    if reduction < 0:  # a negative reduction is left out of every sector mean (listed apart)
        assert figures == []
        charts.create_charts(records, summarise(records), ["retention_vs_reduction"])
        (figure,) = figures  # … and still drawn as a point left of zero
        low, _ = figure.axes[0].get_xlim()
        assert low < 100 * reduction
        return
    (figure,) = figures
    low, _ = figure.axes[0].get_ylim()
    assert low == 0


def test_peak_memory_is_compared_on_the_same_runtime_or_labelled() -> None:
    """An ONNX Runtime teacher's peak MB was set beside an eager student's."""
    from potstill.report.system_table import _memory

    def prof(model: str, runtime: str, mb: float) -> dict[str, Any]:
        return {"model": model, "runtime": runtime, "batch_size": 1, "peak_memory_mb": mb}

    record: dict[str, Any] = {
        "profiles": [prof("teacher", "onnx", 300), prof("student", "eager", 50)]
    }
    assert _memory(record) == "300 (onnx)\u00a0→\u00a050 (eager)"
    record["profiles"].append(prof("student", "onnx", 40))
    assert _memory(record) == "300\u00a0→\u00a040 (onnx)"


def test_latency_is_compared_on_the_same_runtime_or_labelled() -> None:
    """An ONNX Runtime teacher's p50 (0.016 ms) was set beside an eager student's (0.118)."""
    from potstill.report.system_table import _latency

    def prof(model: str, runtime: str, p50: float, batch: int = 1) -> dict[str, Any]:
        return {"model": model, "runtime": runtime, "batch_size": batch,
                "latency": {"p50_ms": p50}}  # fmt: skip

    record: dict[str, Any] = {
        "profiles": [prof("teacher", "onnx", 0.016), prof("student", "eager", 0.118)]
    }
    assert _latency(record) == "0.0160 (onnx)\u00a0→\u00a00.118 (eager)"
    record["profiles"] += [prof("student", "onnx", 0.009), prof("student", "onnx", 5.0, 32)]
    assert _latency(record) == "0.0160\u00a0→\u00a00.00900 (onnx)"


def test_cost_reduction_shows_its_interval_and_reads_a_tie(rendered):
    from potstill.report.methodology import noise_text

    records = system(rendered, "credit-default")
    kd = next(r for r in records if r["method"] == "kd")
    kd["costs"]["reduction"] = 0.02
    kd["costs"]["cost_reduction"] = {"value": 0.02, "low": -0.05, "high": 0.08, "tie": True,
                                     "level": 0.95}  # fmt: skip
    kd["profiles"][0]["extra"]["contention"] = {
        "blocks": 9, "blocks_remeasured": 3, "blocks_kept_contended": 1,
        "load_1min": {"min": 1.0, "mean": 2.0, "max": 5.5}, "cores": 2, "loaded": True,
    }  # fmt: skip
    row = next(line for line in per_system_section(records).splitlines() if "| kd (" in line)
    assert "tie: 2.0% [-5.0%, 8.0%]" in row.replace("\u00a0", " ")
    kd["costs"]["cost_reduction"].update(low=0.01, tie=False)
    row = next(line for line in per_system_section(records).splitlines() if "| kd (" in line)
    assert "| 2.0% [1.0%, 8.0%] |" in row.replace("\u00a0", " ") and "tie" not in row
    text = noise_text(records)
    assert "Records with an interval: 1; ties among them: 0." in text
    assert "3 blocks re-measured, 1 kept contended" in text and "5.50 on 2 CPUs" in text
    assert "exceeded the CPU count (flagged `load>cores`): 1." in text
