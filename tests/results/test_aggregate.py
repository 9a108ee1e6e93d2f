"""The fleet aggregate against hand computations on the fixture study's records."""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from potstill.errors import StoreError
from potstill.evaluate.verdict import HELPED, HURT, NO_DIFFERENCE, NOT_MEASURED
from potstill.results.aggregate import (
    dig,
    distill_vs_scratch,
    estimate,
    gate_counts,
    group_stat,
    summarise,
)
from potstill.study.outcome import system_outcome


def _fixture_module() -> ModuleType:
    """tests/report/fleet_fixture.py, loaded by path (tests/ is not a package)."""
    name = "potstill_tests_fleet_fixture"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "report" / "fleet_fixture.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return _fixture_module().write_study(tmp_path_factory.mktemp("study"))


def _by_group(stats: Any) -> dict[str, Any]:
    return {s.group: s for s in stats}


def test_cost_reduction_per_sector_matches_hand_computation(records):
    s = summarise(records)
    assert [x.group for x in s.cost_by_sector] == ["financial", "healthcare", "manufacturing"]
    sectors = _by_group(s.cost_by_sector)
    # financial: 0.80 0.74 0.70 (credit-default) + 0.64 (fraud kd); n/a runs excluded
    fin = sectors["financial"]
    assert (fin.n, fin.n_systems) == (4, 2)
    assert fin.mean == pytest.approx(0.72)
    assert fin.sd == pytest.approx(math.sqrt((0.08**2 + 0.02**2 + 0.02**2 + 0.08**2) / 3))
    assert (fin.minimum, fin.maximum, fin.median) == pytest.approx((0.64, 0.80, 0.72))
    # healthcare: 0.70 0.62 0.58 + 0.66 0.60 (the failed rkd run is excluded)
    hc = sectors["healthcare"]
    assert hc.n == 5
    assert hc.mean == pytest.approx(3.16 / 5)
    assert hc.sd == pytest.approx(math.sqrt(0.00928 / 4))
    assert hc.median == pytest.approx(0.62)
    # manufacturing: 0.74 0.70 0.66 + 0.68 0.64 0.60
    mf = sectors["manufacturing"]
    assert mf.n == 6
    assert mf.mean == pytest.approx(0.67)
    assert mf.sd == pytest.approx(math.sqrt(0.0118 / 5))


def test_overall_excludes_benchmark_and_baseline(records):
    s = summarise(records)
    assert s.cost_overall.n == 15  # 4 + 5 + 6: no scratch run, no benchmark run
    assert s.cost_overall.n_systems == 6
    assert s.cost_overall.mean == pytest.approx(10.06 / 15)
    assert s.cost_overall.median == pytest.approx(0.66)
    assert s.cost_benchmark is not None
    assert (s.cost_benchmark.n, s.cost_benchmark.mean) == (3, pytest.approx(0.88))
    assert s.cost_benchmark.sd == pytest.approx(0.02)
    assert "benchmark" not in {x.group for x in s.cost_by_sector}


def test_retention_medians_overall_and_per_family(records):
    s = summarise(records)
    # accuracy retention: the 12 enterprise classification runs; the regression's 3 apart
    assert s.retention_overall.n == 12
    assert s.retention_overall.median == pytest.approx(0.97)
    families = _by_group(s.retention_by_family)
    assert list(families) == ["response", "feature", "relation"]
    # response: .99 .98 .985 .97 .995 → .985
    assert (families["response"].n, families["response"].median) == (5, pytest.approx(0.985))
    assert (families["feature"].n, families["feature"].median) == (4, pytest.approx(0.965))
    assert (families["relation"].n, families["relation"].median) == (3, pytest.approx(0.955))
    assert s.retention_benchmark is not None
    assert s.retention_benchmark.median == pytest.approx(0.98)


def test_regression_retention_is_never_pooled_into_accuracy(records):
    s = summarise(records)
    reg = s.retention_regression
    assert reg is not None  # concrete-strength (rmse): kd .96, fitnet .93, rkd .92
    assert (reg.n, reg.n_systems, reg.median) == (3, 1, pytest.approx(0.93))
    pooled = [r for r in records if r["status"] == "ok" and r["family"] != "baseline"]
    assert s.retention_overall.n + reg.n + 3 == len(pooled)  # + 3 benchmark runs


def test_distillation_vs_scratch(records):
    comparisons = {c.system: c for c in distill_vs_scratch(records)}
    credit = comparisons["credit-default"]
    assert (credit.best_method, credit.best_family) == ("kd", "response")
    assert credit.scratch is not None and credit.scratch.value == pytest.approx(0.78)
    assert credit.difference == pytest.approx(0.82 * 0.99 - 0.78)
    assert credit.gain is not None and credit.gain["value"] == pytest.approx(0.82 * 0.99 - 0.78)
    assert credit.verdict == credit.corrected_verdict == HELPED
    assert credit.p_holm == pytest.approx(0.003)  # 0.001 × 3 methods
    assert [m.verdict for m in credit.methods] == [HELPED] * 3
    assert credit.best_retention is not None and credit.best_retention.value == 0.99
    fraud = comparisons["fraud-blackbox"]  # scratch 0.891 beats kd 0.90 * 0.98 = 0.882
    assert fraud.corrected_verdict == HURT
    assert fraud.difference == pytest.approx(0.882 - 0.891)
    concrete = comparisons["concrete-strength"]  # rmse: lower is better
    assert concrete.higher_is_better is False
    assert concrete.best_method == "kd"  # 5 / 0.96 is the lowest rmse
    assert concrete.difference == pytest.approx(5 / 0.96 - 5.6)
    assert concrete.gain is not None and concrete.gain["value"] == pytest.approx(5.6 - 5 / 0.96)
    assert concrete.corrected_verdict == HELPED
    heart = comparisons["heart-disease"]  # kd +0.030, fitnet ±0, rkd −0.0085
    verdicts = {m.method: m.verdict for m in heart.methods}
    assert verdicts == {"kd": HELPED, "fitnet": NO_DIFFERENCE, "rkd": HURT}
    readmission = comparisons["readmission"]  # kd +0.0225 ± 0.03: not measurable
    assert readmission.corrected_verdict == NO_DIFFERENCE
    assert readmission.p_holm == pytest.approx(0.4)  # Holm of [0.2, 0.2]


def test_a_best_that_helps_alone_may_not_survive_best_of_k(records):
    credit = copy.deepcopy([r for r in records if r["system"] == "credit-default"])
    for r in credit:
        if r["method"] == "kd":  # helped on its own interval, p = 0.01
            r["quality"]["versus_scratch"]["p_helped"] = 0.01
        elif r["method"] != "scratch":  # two more methods that did nothing
            r["quality"]["versus_scratch"].update(low=-0.01, p_helped=0.3)
    (c,) = distill_vs_scratch(credit)
    assert c.verdict == HELPED  # uncorrected
    assert c.p_holm == pytest.approx(0.03) and c.corrected_verdict == NO_DIFFERENCE


def test_comparison_without_scratch_says_why(records):
    without = [r for r in records if not (r["system"] == "tool-wear" and r["method"] == "scratch")]
    tool = next(c for c in distill_vs_scratch(without) if c.system == "tool-wear")
    assert tool.scratch is None and tool.difference is None
    assert "from-scratch" in tool.note


def test_a_record_without_a_paired_comparison_is_not_measured(records):
    old = copy.deepcopy([r for r in records if r["system"] == "tool-wear"])
    for r in old:
        r["quality"].pop("versus_scratch", None)
    (c,) = distill_vs_scratch(old)
    assert c.corrected_verdict == c.verdict == NOT_MEASURED
    assert "no paired comparison" in c.note


def test_gate_counts_by_family(records):
    counts = {(g.family, g.gate): (g.passed, g.total) for g in gate_counts(records)}
    # min_retention ≥ 0.95; benchmark included. relation: .96 .94 .955 .92 + .97
    assert counts[("relation", "min_retention")] == (3, 5)
    assert counts[("feature", "min_retention")] == (5, 6)  # .93 fails
    assert counts[("response", "all")] == (7, 7)
    assert counts[("baseline", "min_retention")] == (5, 7)  # readmission .94, concrete .893
    assert counts[("relation", "min_cost_reduction")] == (5, 5)
    families = [g.family for g in gate_counts(records)]
    assert families == sorted(families, key=["baseline", "response", "feature", "relation"].index)


def test_not_applicable_and_failed_are_listed_with_reasons(records):
    s = summarise(records)
    listed = {(e.system, e.method): (e.status, e.reason) for e in s.excluded}
    assert set(listed) == {
        ("fraud-blackbox", "fitnet"),
        ("fraud-blackbox", "rkd"),
        ("readmission", "rkd"),
    }
    assert listed[("readmission", "rkd")][0] == "failed"
    assert "NaN" in listed[("readmission", "rkd")][1]
    assert "black box" in listed[("fraud-blackbox", "fitnet")][1]
    assert s.incomplete == ()


def test_ok_record_without_costs_is_reported_incomplete(records):
    broken = copy.deepcopy(records)
    victim = next(r for r in broken if (r["system"], r["method"]) == ("credit-default", "kd"))
    victim["costs"] = None
    s = summarise(broken)
    assert _by_group(s.cost_by_sector)["financial"].n == 3
    assert [(e.system, e.method) for e in s.incomplete] == [("credit-default", "kd")]
    assert "cost reduction" in s.incomplete[0].reason
    # retention still counts it
    assert s.retention_overall.n == 12


def test_other_sector_follows_known_sectors(records):
    extra = copy.deepcopy(next(r for r in records if r["method"] == "kd"))
    extra.update(system="my-system", sector="other")
    s = summarise([*records, extra])
    assert [x.group for x in s.cost_by_sector][-1] == "other"
    assert s.cost_overall.n == 16


def test_embedding_retrieval_fidelity_is_kept_apart(records):
    kd = next(r for r in records if r["method"] == "kd")
    emb = copy.deepcopy(kd)
    emb.update(system="search", sector="healthcare", problem="embedding")
    emb["quality"]["retention"]["value"] = 0.5
    s = summarise([*records, emb])
    assert s.retention_overall.n == 12  # not pooled with the task metrics
    assert s.retention_overall.median == pytest.approx(0.97)
    assert s.retention_retrieval is not None
    assert (s.retention_retrieval.n, s.retention_retrieval.median) == (1, 0.5)
    assert s.cost_overall.n == 16  # its cost is a cost like any other
    assert summarise(records).retention_retrieval is None


def test_to_rows_are_flat_and_name_their_table(records):
    rows = summarise(records).to_rows()
    tables = {row["table"] for row in rows}
    assert tables == {
        "cost_reduction",
        "cost_reduction_benchmark",
        "retention",
        "retention_benchmark",
        "retention_regression",
        "vs_scratch",
        "vs_scratch_methods",
        "gates",
        "excluded",
    }
    for row in rows:
        assert all(not isinstance(v, (dict, list, tuple)) for v in row.values()), row
    fin = next(r for r in rows if r["table"] == "cost_reduction" and r["group"] == "financial")
    assert fin["mean"] == pytest.approx(0.72) and fin["n"] == 4
    credit = next(r for r in rows if r["table"] == "vs_scratch" and r["group"] == "credit-default")
    assert credit["scratch_value"] == pytest.approx(0.78)
    assert credit["best_method"] == "kd"
    assert credit["corrected_verdict"] == HELPED and credit["gain_low"] == pytest.approx(0.0268)
    rkd = next(r for r in rows if r["table"] == "vs_scratch_methods" and r["method"] == "rkd"
               and r["group"] == "heart-disease")  # fmt: skip
    assert rkd["verdict"] == HURT and rkd["gain_value"] == pytest.approx(0.85 * 0.94 - 0.8075)


def test_empty_and_malformed_records_raise_store_error(records):
    with pytest.raises(StoreError, match="without records"):
        summarise([])
    broken = copy.deepcopy(records[:2])
    del broken[1]["status"]
    with pytest.raises(StoreError, match=r"Record #1 .*'status'"):
        summarise(broken)


def test_helpers():
    single = group_stat("g", [0.5], ["a"])
    assert (single.mean, single.sd, single.median, single.n_systems) == (0.5, None, 0.5, 1)
    empty = group_stat("g", [])
    assert (empty.n, empty.mean, empty.median) == (0, None, None)
    assert dig({"a": {"b": [1, 2]}}, "a", "b", 1) == 2
    assert dig({"a": None}, "a", "b", default="x") == "x"
    assert dig({"a": [1]}, "a", 5) is None
    assert estimate({"value": 0.9, "low": None, "high": 0.95}).low is None
    assert estimate({"value": None}) is None
    assert estimate(None) is None


def test_unmeasured_gates_are_counted_apart_never_as_passes(records):
    changed = copy.deepcopy(records)
    kd = next(r for r in changed if (r["system"], r["method"]) == ("credit-default", "kd"))
    kd["gates"].append(
        {"name": "max_fairness_gap_increase", "threshold": 0.05, "value": None,
         "passed": True, "reason": "not measured: no sensitive attribute"}
    )  # fmt: skip
    counts = {(g.family, g.gate): g for g in gate_counts(changed)}
    fair = counts[("response", "max_fairness_gap_increase")]
    assert (fair.passed, fair.failed, fair.not_measured, fair.total) == (0, 0, 1, 1)
    assert counts[("response", "min_retention")].not_measured == 0
    # kd of credit-default passed its measured gates: its "all" is not measured, not passed
    everything = counts[("response", "all")]
    assert (everything.passed, everything.not_measured, everything.total) == (6, 1, 7)


def test_suspect_retention_and_negative_cost_are_left_out_and_listed(records):
    """266 % retention and a −372 % cost 'reduction' never enter a fleet statistic."""
    changed = copy.deepcopy(records)
    kd = next(r for r in changed if (r["system"], r["method"]) == ("credit-default", "kd"))
    kd["quality"]["retention"]["value"] = 2.667
    kd["warnings"] = [{"code": "retention_suspect", "message": "outside [50%, 150%]"}]
    kd["costs"]["reduction"] = -3.72
    base = summarise(records)
    s = summarise(changed)
    assert s.retention_overall.n == base.retention_overall.n - 1
    assert s.retention_overall.maximum is not None and s.retention_overall.maximum < 1.5
    assert s.cost_overall.n == base.cost_overall.n - 1
    assert s.cost_overall.minimum is not None and s.cost_overall.minimum >= 0
    assert _by_group(s.cost_by_sector)["financial"].n == 3
    assert [(e.system, e.method) for e in s.left_out] == [("credit-default", "kd")] * 2
    assert (s.left_out_count("retention"), s.left_out_count("cost reduction")) == (1, 1)
    assert base.left_out == ()
    assert {row["table"] for row in s.to_rows()} >= {"left_out"}


def test_the_run_outcome_gives_the_best_of_k_verdict(records):
    # credit-default: kd is the best and helped; Holm over 3 methods gives p 0.003 < 0.025
    assert system_outcome("credit-default", records).verdict == f"{HELPED}; best of 3, Holm"
    assert system_outcome("fraud-blackbox", records).verdict == HURT
    old = copy.deepcopy(records)
    for r in old:
        if r.get("quality"):
            r["quality"].pop("versus_scratch", None)
    assert system_outcome("tool-wear", old).verdict == "no paired comparison with scratch"


def test_an_llm_students_per_token_record_is_pooled_in_no_fleet_statistic(records):
    """A cost per output token and an agreement with an LLM teacher are not a cost per
    prediction and a retention of the task metric: such a record (here a copy of a
    financial kd record with an outlying reduction) changes no statistic and is listed."""
    base = next(r for r in records if r["sector"] == "financial" and r["status"] == "ok"
                and r["family"] != "baseline")  # fmt: skip
    token = copy.deepcopy(base)
    token.update(system="llm_students", method="forward_kl")
    token["costs"].update(unit="output token", reduction=0.01)
    token["quality"]["retention"]["value"] = 0.13
    before, after = summarise(records), summarise([*records, token])
    assert after.cost_by_sector == before.cost_by_sector
    assert after.cost_overall == before.cost_overall
    assert after.retention_overall == before.retention_overall
    assert after.retention_by_family == before.retention_by_family
    left = [x for x in after.left_out if x.system == "llm_students"]
    assert len(left) == 1 and "per output token" in left[0].reason
