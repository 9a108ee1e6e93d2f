"""Chart registry, chart selection and the headline-profile rules."""

from __future__ import annotations

import copy

import pytest

from potstill.errors import ConfigError
from potstill.report import charts as charts_module
from potstill.report.charts import Chart, available_charts, create_charts, register_chart
from potstill.report.html import markdown_to_html
from potstill.report.records import headline, headline_profile, waterfall_record
from potstill.report.render import build_markdown
from potstill.results.aggregate import summarise


def test_registry_lists_kinds_and_refuses_unknown(rendered):
    assert available_charts() == [
        "pareto",
        "reliability",
        "retention_vs_reduction",
        "robustness",
        "sector_reduction",
        "waterfall",
    ]
    summary = summarise(rendered.records)
    with pytest.raises(
        ConfigError,
        match=r"Unknown chart kind\(s\) \['pie'\]\. Valid kinds are: pareto, reliability",
    ):
        create_charts(rendered.records, summary, ["pie"])


def test_custom_chart_and_unique_files(rendered, monkeypatch):
    monkeypatch.setattr(charts_module, "_CHARTS", charts_module._CHARTS.copy())

    @register_chart("twice")
    def twice(records, summary):
        return [Chart("twice", "same.png", "A", b"1"), Chart("twice", "same.png", "B", b"2")]

    made = create_charts(rendered.records, summarise(rendered.records), ["twice"])
    assert [c.file for c in made] == ["same.png", "same-2.png"]


def test_charts_only_where_data_exist(rendered):
    records = copy.deepcopy(rendered.records)
    for r in records:
        if r.get("costs"):
            r["costs"]["extra"] = {}
        if r.get("quality"):
            r["quality"]["calibration"] = None
    summary = summarise(records)
    assert create_charts(records, summary, ["waterfall", "reliability"]) == []
    assert len(create_charts(records, summary, ["robustness"])) == 2


def test_waterfall_record_is_the_best_student_passing_the_gates(rendered):
    credit = copy.deepcopy([r for r in rendered.records if r["system"] == "credit-default"])
    assert waterfall_record(credit)["method"] == "kd"  # best metric (retention 0.99), passes
    kd = next(r for r in credit if r["method"] == "kd")
    kd["gates"][0]["passed"] = False  # then the next best that passes, not the cheapest
    assert waterfall_record(credit)["method"] == "fitnet"


def test_headline_profile_prefers_eager_then_native(rendered):
    record = copy.deepcopy(next(r for r in rendered.records if r["method"] == "kd"))
    assert headline_profile(record, "student")["runtime"] == "eager"
    for p in record["profiles"]:
        if p["model"] == "teacher":
            p["runtime"] = "native"
    record["profiles"].append({**record["profiles"][0], "runtime": "onnx"})
    assert headline_profile(record, "teacher")["runtime"] == "native"
    assert headline(record)["teacher_runtime"] == "native"
    assert headline({**record, "profiles": []})["teacher_p50_ms"] is None


def test_record_text_cannot_inject_markup(rendered):
    records = copy.deepcopy(rendered.records)
    victim = next(r for r in records if r["status"] == "failed")
    victim["reason"] = "<script>alert(1)</script> | broke\nthe table"
    md = build_markdown(records, summarise(records), [], "t", None, None)
    html = markdown_to_html(md, {}, "t")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    row = next(line for line in md.splitlines() if "alert(1)" in line and "| failed |" in line)
    assert row.count(" | ") == 5  # six cells: the pipe in the reason was escaped
