"""render_report on the fixture study: files, atomicity, traceability, self-contained HTML."""

from __future__ import annotations

import csv
import io
import math
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from potstill.errors import StoreError
from potstill.report import render_report
from potstill.report.records import HEADLINE_COLUMNS

PNG = b"\x89PNG\r\n\x1a\n"


def table_after(markdown: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading``, as dicts keyed by the header cells."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip().replace("\\", "") for c in cells])
        elif rows:
            break
    header, _, *body = rows
    return [dict(zip(header, row, strict=True)) for row in body]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def distilled(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["status"] == "ok" and r["family"] != "baseline"]


def test_files_exist_and_charts_are_png(rendered):
    paths = rendered.paths
    for path in (paths.markdown, paths.html, paths.csv, paths.summary_csv):
        assert path.is_file() and path.stat().st_size > 0
    names = {p.name for p in paths.charts}
    assert {
        "sector_reduction.png",
        "retention_vs_reduction.png",
        "waterfall_credit-default.png",
        "waterfall_tool-wear.png",
        "reliability_credit-default.png",
        "reliability_heart-disease.png",
        "robustness_credit-default.png",
        "robustness_heart-disease.png",
    } == names
    for chart in paths.charts:
        assert chart.parent == paths.directory / "charts"
        assert chart.read_bytes().startswith(PNG)
        assert f"](charts/{chart.name})" in rendered.markdown


def test_no_temp_files_left(rendered):
    leftovers = [p for p in rendered.paths.directory.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_interrupted_write_keeps_the_previous_report(tmp_path, fleet, monkeypatch):
    fleet.write_study(tmp_path)
    first = render_report(tmp_path)
    before = first.html.read_bytes()
    import potstill._io

    real_replace = potstill._io.os.replace

    def failing_replace(src: Any, dst: Any) -> None:
        if Path(dst).name == "report.html":
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(potstill._io.os, "replace", failing_replace)
    (tmp_path / "config.yaml").write_text("study: {name: renamed}\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"Cannot write the report file .*report\.html"):
        render_report(tmp_path)
    assert first.html.read_bytes() == before  # old file intact, not half-written
    assert [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")] == []


def test_cost_table_is_traceable_to_records(rendered):
    rows = table_after(rendered.markdown, "### Cost reduction per sector")
    by_label = {row["Sector"]: row for row in rows}
    # pinned against the hand computation (see tests/study/test_aggregate.py)
    assert by_label["financial"]["Mean reduction"] == "72.0%"
    assert by_label["healthcare"]["Mean reduction"] == "63.2%"
    assert by_label["Overall (enterprise)"]["Runs (n)"] == "15"
    assert by_label["Benchmark (separate)"]["Mean reduction"] == "88.0%"
    # and every cell recomputed independently from the record dicts
    ok = distilled(rendered.records)
    groups = {
        "Overall (enterprise)": [r for r in ok if r["sector"] != "benchmark"],
        "Benchmark (separate)": [r for r in ok if r["sector"] == "benchmark"],
    }
    for sector in ("financial", "healthcare", "manufacturing"):
        groups[sector] = [r for r in ok if r["sector"] == sector]
    assert set(by_label) == set(groups)
    for label, recs in groups.items():
        values = [r["costs"]["reduction"] for r in recs]
        row = by_label[label]
        assert row["Runs (n)"] == str(len(values))
        assert row["Systems"] == str(len({r["system"] for r in recs}))
        assert row["Mean reduction"] == pct(statistics.mean(values))
        assert row["SD"] == pct(statistics.stdev(values))
        assert row["Median"] == pct(statistics.median(values))
        assert (row["Min"], row["Max"]) == (pct(min(values)), pct(max(values)))


def test_retention_table_is_traceable_to_records(rendered):
    rows = {
        r["Group"]: r
        for r in table_after(rendered.markdown, "### Accuracy retention overall and per family")
    }
    assert rows["Overall (enterprise)"]["Median retention"] == "97.0%"
    assert rows["response"]["Median retention"] == "98.5%"
    assert rows["relation"]["Median retention"] == "95.5%"
    # regression retention (an error ratio) has its own row, never pooled into accuracy
    assert rows["Regression systems: error retention (separate)"]["Median retention"] == "93.0%"
    ok = [
        r
        for r in distilled(rendered.records)
        if r["sector"] != "benchmark" and r["problem"] == "classification"
    ]
    for label, recs in (
        ("Overall (enterprise)", ok),
        ("response", [r for r in ok if r["family"] == "response"]),
        ("feature", [r for r in ok if r["family"] == "feature"]),
        ("relation", [r for r in ok if r["family"] == "relation"]),
    ):
        values = [r["quality"]["retention"]["value"] for r in recs]
        assert rows[label]["Runs (n)"] == str(len(values))
        assert rows[label]["Median retention"] == pct(statistics.median(values))


def test_per_system_table_matches_every_record(rendered):
    rows = table_after(rendered.markdown, "## Per-system results")
    assert len(rows) == len(rendered.records) == 28
    records = {(r["system"], r["method"]): r for r in rendered.records}
    for row in rows:
        method, family = row["Method (family)"].rstrip(")").split(" (")
        record = records[(row["System"], method)]
        assert family == record["family"]
        assert row["Status"] == record["status"].replace("_", " ")
        if record["status"] != "ok":
            assert row["Cost reduction"] == "—" and row["Retention [CI]"] == "—"
            continue
        costs = record["costs"]
        assert row["Cost reduction"] == pct(costs["reduction"])
        teacher_usd, student_usd = (c.strip() for c in row["$/1M, teacher → student"].split("→"))
        for shown, value in (
            (teacher_usd, costs["teacher_usd_per_million"]),
            (student_usd, costs["usd_per_million"]),
        ):
            assert math.isclose(float(shown.lstrip("$").replace(",", "")), value, rel_tol=5e-3)
        teacher_eager = next(
            p for p in record["profiles"] if p["model"] == "teacher" and p["runtime"] == "eager"
        )
        teacher_ms = row["p50 ms, teacher → student"].split("→")[0].strip()
        assert float(teacher_ms) == pytest.approx(teacher_eager["latency"]["p50_ms"], rel=5e-3)
        assert row["Retention [CI]"].startswith(pct(record["quality"]["retention"]["value"]))
    rmse = next(row for row in rows if row["System"] == "concrete-strength")
    assert rmse["Metric"] == "rmse (↓)"


def test_summary_and_claims(rendered):
    md = rendered.markdown
    assert "fell by 67.1% on average" in md  # 10.06 / 15
    assert "median accuracy retention (classification systems) was 97.0% (n=12)" in md
    assert "Regression systems, kept apart" in md and "median 93.0% (n=3)" in md
    assert (
        "over 7 systems: 5 helped (CI above 0), 1 hurt (CI below 0), 1 no measurable "
        "difference. Per distilled run (18, uncorrected): 11 helped (CI above 0), 2 hurt "
        "(CI below 0), 5 no measurable difference." in md
    )
    assert "CIs overlap" not in md and "beat the from-scratch" not in md
    claims = {
        r["Figure"]: r for r in table_after(md, "## The paper's claims beside our measurements")
    }
    assert claims["Cost reduction, financial"]["Paper's claim (quoted)"] == "72% (±8%)"
    assert claims["Cost reduction, financial"]["Our measurement"].startswith("72.0%")
    assert claims["Cost reduction, overall"]["Paper's claim (quoted)"] == "60–80%"
    assert claims["Accuracy retention, response"]["Our measurement"] == "98.5% (median)"
    assert "those figures are the paper's and were not measured here" in md


def test_not_applicable_and_failed_listed_with_reasons(rendered):
    rows = table_after(rendered.markdown, "### Not applicable or failed (3)")
    listed = {(r["System"], r["Method"]): r for r in rows}
    assert listed[("readmission", "rkd")]["Status"] == "failed"
    assert listed[("readmission", "rkd")]["Reason"].startswith("training diverged")
    assert "black box" in listed[("fraud-blackbox", "fitnet")]["Reason"]
    assert "training diverged: loss was NaN at epoch 3 (lr=0.1)" in rendered.html


def test_html_is_self_contained(rendered):
    html = rendered.html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == len(rendered.paths.charts)
    assert all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<style>" in html
    mermaid = re.search(r'<pre class="mermaid">(.*?)</pre>', html, re.S)
    assert mermaid is not None
    assert "flowchart LR" in mermaid.group(1) and "data --&gt; teacher" in mermaid.group(1)
    assert "```mermaid\nflowchart LR" in rendered.markdown


def test_sections_present(rendered):
    md = rendered.markdown
    for heading in (
        "## Distillation vs training the student from scratch",
        "## Cost waterfalls",
        "## Validation per system",
        "## Deployment gates by family",
        "## Datasets",
        "## Methodology",
        "### How timing was done",
        "## Pipeline",
        "## References",
    ):
        assert heading in md
    assert "AI4I 2020 is itself synthetic" in md
    assert "| timed_iters | 200 (75 profiles) |" in md
    assert "| cpu | Intel(R) Xeon(R) Platinum 8488C |" in md
    assert "study: {name: fixture-fleet, seed: 0}" in md  # config.yaml shown as written
    assert md.count("Hinton, G., Vinyals, O., Dean, J. (2015)") == 1  # deduplicated
    gates = {(r["Family"], r["Gate"]): r for r in table_after(md, "## Deployment gates by family")}
    assert (
        gates[("relation", "min_retention")]["Passed"],
        gates[("relation", "min_retention")]["Total"],
    ) == ("3", "5")


def test_results_csv_one_row_per_record(rendered):
    rows = list(csv.DictReader(io.StringIO(rendered.paths.csv.read_text(encoding="utf-8"))))
    assert len(rows) == 28
    assert tuple(rows[0]) == HEADLINE_COLUMNS
    by_key = {(r["system"], r["method"]): r for r in rows}
    kd = by_key[("credit-default", "kd")]
    assert float(kd["cost_reduction"]) == 0.80
    assert float(kd["retention"]) == 0.99
    assert float(kd["teacher_p50_ms"]) == 4.0 and kd["student_runtime"] == "eager"
    assert float(kd["gain_vs_scratch_low"]) == pytest.approx(0.82 * 0.99 - 0.78 - 0.005)
    assert kd["verdict_vs_scratch"] == "helped (CI above 0)"
    assert by_key[("credit-default", "scratch")]["verdict_vs_scratch"] == ""
    failed = by_key[("readmission", "rkd")]
    assert failed["status"] == "failed" and failed["cost_reduction"] == ""
    assert "NaN" in failed["reason"]
    summary = rendered.paths.summary_csv.read_text(encoding="utf-8")
    assert summary.startswith("table,group,")


def test_render_is_deterministic_and_reports_missing_inputs(tmp_path, fleet):
    fleet.write_study(tmp_path, config=False, environment=False)
    first = render_report(tmp_path)
    md = first.markdown.read_text(encoding="utf-8")
    assert "*No `config.yaml` in the study directory.*" in md
    assert "*No `environment.json` in the study directory.*" in md
    snapshot = {p: p.read_bytes() for p in (first.markdown, first.html, first.csv, *first.charts)}
    render_report(tmp_path)
    assert {p: p.read_bytes() for p in snapshot} == snapshot


def test_study_without_records_raises(tmp_path):
    with pytest.raises(StoreError, match="does not exist"):
        render_report(tmp_path / "nowhere")
    with pytest.raises(StoreError, match=r"No records found: .*records' does not exist"):
        render_report(tmp_path)
    (tmp_path / "records").mkdir()
    with pytest.raises(StoreError, match=r"No records found: .* holds no \*\.json record"):
        render_report(tmp_path)
    assert not (tmp_path / "report.md").exists()


def test_malformed_environment_and_config_are_refused(tmp_path, fleet):
    fleet.write_study(tmp_path)
    (tmp_path / "environment.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(StoreError, match=r"environment\.json must hold a JSON object\. Got list"):
        render_report(tmp_path)
    (tmp_path / "environment.json").write_text("{}", encoding="utf-8")
    (tmp_path / "config.yaml").write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(StoreError, match=r"config\.yaml must be a YAML mapping\. Got list"):
        render_report(tmp_path)
