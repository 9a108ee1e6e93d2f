"""Results sections on edge cases: ties, missing costs, singular counts."""

from __future__ import annotations

import copy

from potstill.report.format import plural
from potstill.report.sections import comparison_section, results_section, summary_section
from potstill.study.aggregate import summarise


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
    assert "(fitnet)" in table and "no (equal metric)" in table


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
