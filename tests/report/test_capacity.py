"""Capacity curves and seed-combined verdicts from synthetic records and kept test scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from potstill.evaluate import EvalConfig
from potstill.evaluate.verdict import HELPED, NO_DIFFERENCE, NOT_MEASURED, holm
from potstill.report.capacity import capacity, eval_config, size_label
from potstill.report.capacity_section import (
    capacity_charts,
    capacity_counts,
    capacity_section,
    largest_gain_sentence,
)
from potstill.study.versus import combined_pairs, predictions_path, save_test_scores
from potstill.types import record_key

CONFIG = {"evaluate": {"n_resamples": 200, "seed": 3}}
#: Share of test rows each student gets right: at size 0.1 KD is far ahead of scratch, at
#: 0.5 it is not; RKD is no better than scratch anywhere.
ACCURACY = {0.5: {"scratch": 0.9, "kd": 0.9, "rkd": 0.9}, 0.1: {"scratch": 0.6, "kd": 0.85,
            "rkd": 0.6}}  # fmt: skip
PARAMS = {0.5: 4000, 0.1: 500}


def _scores(y: np.ndarray, accuracy: float, rng: np.random.Generator) -> np.ndarray:
    correct = rng.random(len(y)) < accuracy
    p1 = np.where(np.where(correct, y, 1 - y) == 1, 0.9, 0.1)
    return np.stack([1 - p1, p1], axis=1).astype(np.float32)


def _record(system: str, size: float, seed: int, method: str, value: float) -> dict[str, Any]:
    return {
        "system": system, "method": method, "status": "ok", "seed": seed,
        "family": {"scratch": "baseline", "kd": "response", "rkd": "relation"}[method],
        "variant": {"system": "credit", "size": size, "seed": seed},
        "student": {"params": PARAMS[size]},
        "quality": {"metric": "accuracy", "higher_is_better": True,
                    "student": {"value": value}},
        "costs": {"usd_per_million": PARAMS[size] / 1e5},
    }  # fmt: skip


def write_study(directory: Path) -> list[dict[str, Any]]:
    """Two sizes × two seeds × (scratch, kd, rkd), scores kept as the study keeps them."""
    records = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 2, size=400)
        for size, methods in ACCURACY.items():
            system = f"credit@{size:g}#{seed}"
            for method, acc in methods.items():
                scores = _scores(y, acc, rng)
                key = record_key(system, method)
                save_test_scores(predictions_path(directory, key), y, scores, metric="accuracy")
                value = float(np.mean(scores.argmax(1) == y))
                records.append(_record(system, size, seed, method, value))
    return records


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("capacity")
    return directory, write_study(directory)


def test_gains_are_combined_over_seeds_from_the_kept_scores(study: Any) -> None:
    directory, records = study
    cap = capacity(directory, records, CONFIG)
    assert cap.systems() == ["credit"] and cap.sizes("credit") == [0.5, 0.1]
    kd = next(r for r in cap.rows if r.size == 0.1 and r.method == "kd")
    runs = [(directory, record_key(f"credit@0.1#{s}", "scratch"),
             record_key(f"credit@0.1#{s}", "kd")) for s in (0, 1)]  # fmt: skip
    expected = combined_pairs(runs, EvalConfig(n_resamples=200, seed=3)).to_record()
    assert kd.gain == expected and kd.gain["n_seeds"] == 2 and kd.n_seeds == 2
    assert kd.verdict == HELPED and kd.params == 500 and kd.usd == pytest.approx(0.005)
    flat = next(r for r in cap.rows if r.size == 0.5 and r.method == "kd")
    assert flat.verdict == NO_DIFFERENCE


def test_the_best_of_k_verdict_is_holm_corrected(study: Any) -> None:
    directory, records = study
    cap = capacity(directory, records, CONFIG)
    best = {b.size: b for b in cap.best}
    assert best[0.1].method == "kd" and best[0.1].verdict == HELPED
    gains = [r.gain for r in cap.rows if r.size == 0.1 and r.gain]
    adjusted = holm([float(g["p_helped"]) for g in gains])
    assert best[0.1].p_holm == pytest.approx(min(adjusted))
    assert best[0.5].verdict == NO_DIFFERENCE


def test_the_sentence_names_the_size_with_the_largest_gain(study: Any) -> None:
    directory, records = study
    cap = capacity(directory, records, CONFIG)
    sentence = largest_gain_sentence(cap, "credit")
    assert "largest at size **0.1** (500 student parameters): kd +" in sentence
    assert f"0.5: {NO_DIFFERENCE}" in sentence and f"0.1: {HELPED} (kd)" in sentence


def test_the_chart_and_section_draw_every_size_and_count_each_verdict(study: Any) -> None:
    directory, records = study
    cap = capacity(directory, records[::-1], CONFIG)  # the store's order is not the table's
    (chart,) = capacity_charts(cap)
    assert chart.file == "capacity_credit.png" and chart.png.startswith(b"\x89PNG")
    counts = capacity_counts(cap)
    assert f"2 (system, size) pairs the best method's verdict (Holm): 1 {HELPED}, 1 " in counts
    assert f"Per method and size (4, uncorrected): 1 {HELPED}, 3 {NO_DIFFERENCE}" in counts
    section = capacity_section(cap, [chart])
    assert "![Capacity curve, credit](charts/capacity_credit.png)" in section
    assert section.count("| 0.1 |") == 3 and "CIs overlap" not in section
    table = [line.split(" | ")[:3] for line in section.splitlines() if line.startswith("| 0.")]
    assert [row[2] for row in table[:3]] == ["scratch", "rkd", "kd"]  # scratch, then as stored
    assert table[0][0] == "| 0.5" and table[-1][0] == "| 0.1"  # the largest student first


def test_one_seed_uses_the_records_own_gain_and_no_variant_means_no_section(
    tmp_path: Path,
) -> None:
    records = [dict(r) for r in write_study(tmp_path) if r["seed"] == 0]
    own = {"value": 0.2, "low": 0.1, "high": 0.3, "p_helped": 0.004, "level": 0.95}
    for r in records:
        if r["method"] == "kd":
            r["quality"] = {**r["quality"], "versus_scratch": own}
    cap = capacity(tmp_path, records, {})
    assert all(r.gain == own for r in cap.rows if r.method == "kd")
    plain = [{k: v for k, v in r.items() if k != "variant"} for r in records]
    assert capacity_section(capacity(tmp_path, plain, {}), []) == ""


def test_seeds_without_their_kept_scores_are_not_measured(tmp_path: Path) -> None:
    records = write_study(tmp_path)
    for path in (tmp_path / "predictions").glob("credit@0.1*"):
        path.unlink()
    cap = capacity(tmp_path, records, CONFIG)
    kd = {r.size: r for r in cap.rows if r.method == "kd"}
    assert kd[0.1].gain is None and kd[0.1].verdict == NOT_MEASURED
    assert kd[0.5].gain is not None and kd[0.5].gain["n_seeds"] == 2


def test_a_gain_that_cancels_over_seeds_reads_zero() -> None:
    from potstill.report.verdicts import gain_text

    assert gain_text({"value": 5.551e-17, "low": -0.02, "high": 0.019}) == "0 [-0.02000, +0.01900]"


def test_size_labels_and_each_systems_evaluate_settings() -> None:
    assert [size_label(s) for s in (0.25, 20000, None)] == ["0.25", "20,000 params", "default"]
    config = {"evaluate": {"n_resamples": 50}, "systems": [
        {"name": "a", "evaluate": {"n_resamples": 70}}, {"name": "b"}]}  # fmt: skip
    assert eval_config(config, "a").n_resamples == 70
    assert eval_config(config, "b").n_resamples == 50 and eval_config({}, "c") == EvalConfig()


def test_the_report_draws_a_capacity_curve_for_a_system_run_at_two_sizes(
    tmp_path: Path, fleet: Any
) -> None:
    import json

    from potstill.report import render_report

    fleet.write_study(tmp_path)
    sizes = {"heart-disease": 0.5, "readmission": 0.1}  # two sizes of one fleet system
    for path in (tmp_path / "records").glob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        if record["system"] in sizes:
            size = sizes[record["system"]]
            record["variant"] = {"system": "clinic", "size": size, "seed": 0}
            record.setdefault("student", {})["params"] = 8000 * size
            path.write_text(json.dumps(record), encoding="utf-8")
    paths = render_report(tmp_path)
    md = paths.markdown.read_text(encoding="utf-8")
    assert (tmp_path / "charts" / "capacity_clinic.png").is_file()
    assert "## Capacity curves and seeds" in md and "### clinic" in md
    assert "**clinic**: distillation's gain over scratch is largest at size" in md
    summary = md.split("## ", 2)[1]  # the summary, before the next section
    assert "Combined over seeds (up to 1), over 2 (system, size) pairs" in summary
