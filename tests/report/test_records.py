"""results.csv tells a gate that was not measured from one that failed."""

from __future__ import annotations

from potstill.report.records import HEADLINE_COLUMNS, headline


def test_gate_columns_distinguish_not_measured_from_failed() -> None:
    record = {
        "system": "s", "method": "kd", "status": "ok",
        "gates": [
            {"name": "min_retention", "passed": False, "status": "fail", "value": 0.9},
            {"name": "max_fairness_gap_increase", "passed": False, "status": "not measured",
             "value": None, "reason": "not measured: no sensitive attribute declared"},
        ],
    }  # fmt: skip
    row = headline(record)
    assert list(row) == list(HEADLINE_COLUMNS)
    assert (row["gates_passed"], row["gates_failed"], row["gates_not_measured"]) == (0, 1, 1)
    assert row["gate_min_retention"] == "fail"
    assert row["gate_max_fairness_gap_increase"] == "not measured"
    assert row["gate_max_ece"] is None  # not set for this study: empty, not False
    assert headline({"system": "s", "status": "failed"})["gates_failed"] is None


def test_the_cost_interval_reaches_results_csv() -> None:
    record = {"system": "s", "method": "kd", "status": "ok",
              "costs": {"reduction": 0.4, "cost_reduction": {"value": 0.4, "low": 0.3,
                                                            "high": 0.5, "tie": False}}}  # fmt: skip
    row = headline(record)
    assert (row["cost_reduction_low"], row["cost_reduction_high"], row["cost_tie"]) == (
        0.3,
        0.5,
        False,
    )
    assert headline({"system": "s", "status": "ok"})["cost_reduction_low"] is None
