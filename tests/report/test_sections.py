"""Results sections on edge cases: ties, missing costs, singular counts."""

from __future__ import annotations

import copy

from potstill.report.format import plural
from potstill.report.sections import (
    comparison_section,
    excluded_section,
    results_section,
    summary_section,
)
from potstill.results.aggregate import summarise


def test_plural():
    assert (plural(1, "system"), plural(0, "system"), plural(2, "run")) == (
        "1 system",
        "0 systems",
        "2 runs",
    )


def test_summary_without_costs_says_so(rendered):
    records = copy.deepcopy([r for r in rendered.records if r["system"] == "heart-disease"])
    for r in records:
        r["costs"] = None
    text = summary_section(records, summarise(records))
    assert "4 run records of 1 system: 1 enterprise system (healthcare 1)" in text
    assert "No distillation run on an enterprise system has a measured cost reduction." in text
    assert "fell by" not in text
    assert "0 runs were not applicable and 0 failed" in text


def test_equal_students_are_not_called_a_win(rendered):
    records = copy.deepcopy([r for r in rendered.records if r["system"] == "heart-disease"])
    # heart-disease: scratch 0.8075 and fitnet 0.85 * 0.95 = 0.8075; make kd and rkd worse
    for r in records:
        if r["method"] in ("kd", "rkd"):
            r["quality"]["student"]["value"] = 0.5
    table = comparison_section(summarise(records))
    row = next(line for line in table.splitlines() if "(fitnet)" in line)
    assert row.endswith("| no measurable difference |")


def test_embedding_systems_get_their_own_retention_row_and_baseline_note(rendered):
    kd = next(r for r in rendered.records if r["method"] == "kd")
    emb = copy.deepcopy(kd)
    emb.update(system="search", problem="embedding")
    emb["quality"].update(metric="recall@10")
    emb["quality"]["retention"]["value"] = 0.5
    summary = summarise([*rendered.records, emb])
    md = results_section(summary)
    assert "| Embedding systems: retrieval fidelity (separate) | 1 | 1 | 50.0% |" in md
    assert "Embedding systems" not in results_section(summarise(rendered.records))
    assert "its baseline is the same student as built, untrained" in comparison_section(summary)


def test_suspect_retention_is_marked_next_to_the_figure(rendered):
    from potstill.report.system_table import per_system_section

    records = copy.deepcopy([r for r in rendered.records if r["system"] == "heart-disease"])
    kd = next(r for r in records if r["method"] == "kd")
    kd["quality"]["retention"]["value"] = 6.125
    kd["warnings"] = [{"code": "retention_suspect", "message": "Retention 612.5% is outside"}]
    table = per_system_section(records)
    row = next(line for line in table.splitlines() if "| kd (response) |" in line)
    assert "612.5%" in row and "⚠ suspect" in row
    assert "heart-disease / kd: Retention 612.5% is outside" in table
    assert "⚠ suspect" not in per_system_section(rendered.records)


def test_datasets_section_says_how_rows_were_split_and_warns(rendered):
    from potstill.report.methodology import datasets_section

    records = copy.deepcopy([r for r in rendered.records if r["system"] == "heart-disease"])
    for r in records:
        r["dataset"]["split"] = {
            "how": "fractions", "description": "potstill drew the split from the file",
            "rows": {"train": 181, "val": 61, "test": 61},
            "imputed_cells": {"train": 3, "val": 0, "test": 1},
        }  # fmt: skip
        r["warnings"] = [{"code": "test_rows_may_be_seen", "message": "may have seen some"}]
    text = datasets_section(records)
    assert "potstill drew the split from the file; train/val/test 181/61/61" in text
    assert "empty cells imputed 3/0/1" in text
    assert text.count("**heart-disease**: may have seen some") == 1
    assert "**Warnings.**" not in datasets_section(rendered.records)


def test_summary_says_how_many_suspect_and_negative_runs_were_left_out(rendered):
    records = rendered.records
    changed = copy.deepcopy(records)
    kd = next(r for r in changed if (r["system"], r["method"]) == ("credit-default", "kd"))
    kd["warnings"] = [{"code": "retention_suspect", "message": "outside [50%, 150%]"}]
    kd["costs"]["reduction"] = -3.72
    text = summary_section(changed, summarise(changed))
    assert "Left out of it: 1 negative cost reduction" in text
    assert "Left out of every retention figure: 1 suspect retention" in text
    assert "Left out of" not in summary_section(records, summarise(records))
    listed = excluded_section(summarise(changed))
    assert "−372.0%" in listed or "-372.0%" in listed


def test_comparison_reads_the_paired_gain_and_the_corrected_verdict(rendered):
    table = comparison_section(summarise(rendered.records))
    credit = next(line for line in table.splitlines() if line.startswith("| credit-default |"))
    # kd: 0.82 × 0.99 − 0.78 = +0.0318 ± 0.005; p 0.001 × 3 methods (Holm) = 0.003
    assert "| +0.03180 [+0.02680, +0.03680] | 99.9% | 0.003 |" in credit
    assert credit.endswith("| helped (CI above 0) |")
    readmission = next(line for line in table.splitlines() if line.startswith("| readmission |"))
    assert readmission.endswith("| no measurable difference |")
    rows = table.split("### Every distilled student against scratch")[1].splitlines()
    rkd = next(line for line in rows if line.startswith("| heart-disease | rkd |"))
    assert rkd.endswith("| 0.999 | 0.999 | hurt (CI below 0) |")
    assert "CIs overlap" not in table and "CIs separate" not in table
