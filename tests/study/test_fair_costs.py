"""Fair cost comparisons: runtimes judged before they count, like compared with like, and
the headline following the best student that passes the gates."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from potstill.costs import BenchTarget, PriceEntry, usd_per_million
from potstill.evaluate import GatesConfig
from potstill.report.charts import waterfall as waterfall_chart
from potstill.report.records import waterfall_record
from potstill.report.waterfalls import waterfall_section
from potstill.results.aggregate import best_student, summarise
from potstill.study import deployments
from potstill.study.deployments import (
    Scorer,
    TeacherBench,
    record_costs,
    student_deployments,
    teacher_deployments,
)
from potstill.types import CostProfile, LatencyStats, to_jsonable

PRICE = PriceEntry(id="c", provider="aws", instance="c6i.xlarge", region="us-east-1",
                   usd_per_hour=0.17, vcpus=4, memory_gib=8,
                   source="https://aws.amazon.com/ec2/pricing/on-demand/",
                   date=dt.date(2024, 6, 1))  # fmt: skip
TORCH = TeacherBench(BenchTarget(name="teacher"), "eager", "eager PyTorch",
                     frozenset({"eager", "compile", "onnx", "onnx-int8"}))  # fmt: skip
ONNX = TeacherBench(BenchTarget(name="teacher"), "onnx", "ONNX Runtime",
                    frozenset({"onnx", "onnx-int8"}))  # fmt: skip
NATIVE = TeacherBench(BenchTarget(name="teacher"), "native", "XGBoost")


def _profile(model: str, runtime: str, throughput: float) -> CostProfile:
    return CostProfile(model, runtime, 1, LatencyStats(1, 1, 1, 2, 1, 0.01, 1000), throughput,
                       32, None, 10, 40, 20.0, {"device": "cpu"}, {"threads": 1})  # fmt: skip


def _profiles(model: str, **throughput: float) -> dict[str, CostProfile]:
    return {
        r.replace("_", "-"): _profile(model, r.replace("_", "-"), t) for r, t in throughput.items()
    }


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], float]:
    """Re-scored metric per (model, runtime): the bench's files are not needed here."""
    table: dict[tuple[str, str], float] = {}

    def rescore(target: Any, profile: CostProfile, test_X: Any, threads: int) -> np.ndarray:
        return np.array([table[(profile.model, profile.runtime)]])

    monkeypatch.setattr(deployments, "rescore", rescore)
    return table


def _scorer(name: str) -> Scorer:
    return Scorer(BenchTarget(name=name), np.zeros((1, 1), np.float32), 1,
                  lambda out: float(out[0]), True)  # fmt: skip


def _costs(bench: TeacherBench, teacher: Mapping[str, CostProfile],
           student: Mapping[str, CostProfile], gates: GatesConfig = GatesConfig()) -> Any:  # fmt: skip
    t_deps = teacher_deployments(bench, _scorer("teacher"), teacher, gates)
    s_deps = student_deployments(_scorer("student"), student, 0.9, gates)
    return record_costs(bench, t_deps, s_deps, PRICE), t_deps, s_deps


def test_an_int8_step_at_chance_is_failed_with_its_metric_and_never_a_saving(metrics):
    metrics.update({("teacher", "eager"): 0.9, ("teacher", "onnx"): 0.9,
                    ("teacher", "onnx-int8"): 0.5, ("student", "eager"): 0.88,
                    ("student", "onnx"): 0.88, ("student", "onnx-int8"): 0.10})  # fmt: skip
    teacher = _profiles("teacher", eager=100, onnx=400, onnx_int8=500)
    student = _profiles("student", eager=1000, onnx=4000, onnx_int8=8000)
    costs, t_deps, s_deps = _costs(TORCH, teacher, student)
    steps = costs.extra["waterfall"]
    assert [s["step"] for s in steps] == ["teacher (eager PyTorch)", "student (eager PyTorch)",
        "student (ONNX Runtime)", "student (ONNX Runtime INT8)"]  # fmt: skip
    int8 = steps[-1]
    assert int8["status"] == "failed" and int8["counted"] is False
    assert int8["metric"] == pytest.approx(0.10) and int8["usd_per_million"] > 0
    assert int8["saved_usd_per_million"] is None and int8["cumulative_reduction"] is None
    assert "min_runtime_retention 0.98" in int8["reason"]
    # The headline: the teacher's cheapest counted deployment (its ONNX export, since its
    # INT8 failed too) against the student's cheapest counted one (ONNX, not the INT8).
    assert costs.extra["headline"]["teacher"]["runtime"] == "onnx"
    assert costs.extra["headline"]["student"]["runtime"] == "onnx"
    assert costs.reduction == pytest.approx(1 - 400 / 4000)
    assert not t_deps["onnx-int8"].counted and t_deps["onnx"].counted
    # Native and converted teacher costs are all recorded, each naming its runtime.
    rows = {d["runtime"]: d for d in costs.extra["teacher_deployments"]}
    assert set(rows) == {"eager", "onnx", "onnx-int8"}
    assert rows["eager"]["usd_per_million"] == pytest.approx(
        usd_per_million(teacher["eager"], PRICE)
    )
    assert rows["onnx-int8"]["label"] == "ONNX Runtime INT8" and not rows["onnx-int8"]["counted"]
    assert s_deps["onnx-int8"].retention == pytest.approx(0.10 / 0.9)


def test_min_retention_also_judges_a_students_runtime(metrics):
    metrics.update({("teacher", "eager"): 0.9, ("student", "eager"): 0.9,
                    ("student", "onnx"): 0.89})  # fmt: skip
    gates = GatesConfig(min_retention=0.995)
    _, _, s_deps = _costs(TORCH, _profiles("teacher", eager=100),
                          _profiles("student", eager=1000, onnx=4000), gates)  # fmt: skip
    assert not s_deps["onnx"].counted and "min_retention 0.995" in s_deps["onnx"].reason
    # A student that fails min_retention itself: its runtimes are judged by what the export
    # lost, since the gate already fails the student as a whole.
    _, _, s_deps = _costs(TORCH, _profiles("teacher", eager=100),
                          _profiles("student", eager=1000, onnx=4000),
                          GatesConfig(min_retention=1.5))  # fmt: skip
    assert s_deps["onnx"].counted


def test_an_onnx_teacher_is_compared_on_onnx_runtime_like_with_like(metrics):
    metrics.update({("teacher", "onnx"): 0.9, ("teacher", "onnx-int8"): 0.9,
                    ("student", "eager"): 0.88, ("student", "onnx"): 0.88,
                    ("student", "onnx-int8"): 0.875})  # fmt: skip
    teacher = _profiles("teacher", onnx=400, onnx_int8=300)
    student = _profiles("student", eager=9000, onnx=4000, onnx_int8=5000)  # eager the cheapest
    costs, _, _ = _costs(ONNX, teacher, student)
    labels = [s["step"] for s in costs.extra["waterfall"]]
    assert labels == ["teacher (ONNX Runtime)", "student (ONNX Runtime)",
                      "student (ONNX Runtime INT8)"]  # fmt: skip
    head = costs.extra["headline"]
    assert head["comparable"] and head["student"]["runtime"] == "onnx-int8"
    assert "eager PyTorch, is not compared" in head["note"] and "cannot run on it" in head["note"]
    assert costs.extra["student"]["runtime"] == "onnx-int8"
    assert costs.extra["teacher"]["runtime"] == "onnx"  # its INT8 costs more here
    # Without the teacher's INT8, the student's INT8 has nothing like it to compare with.
    costs, _, _ = _costs(ONNX, _profiles("teacher", onnx=400), student)
    assert costs.extra["headline"]["student"]["runtime"] == "onnx"


def test_no_reduction_is_given_for_unlike_things(metrics):
    metrics.update({("teacher", "onnx"): 0.9, ("student", "eager"): 0.88,
                    ("student", "onnx"): 0.2})  # fmt: skip
    costs, _, _ = _costs(ONNX, _profiles("teacher", onnx=400),
                         _profiles("student", eager=1000, onnx=4000))  # fmt: skip
    assert costs.extra["headline"]["comparable"] is False
    assert math.isnan(costs.reduction) and costs.extra["monthly_reduction"] is None
    record = _record("kd", "response", 0.88, True, costs)
    md = waterfall_section([record], [])
    assert "No cost reduction is given" in md and "Headline:" not in md


def test_a_native_teacher_is_compared_deployment_to_deployment(metrics):
    metrics.update({("student", "eager"): 0.88, ("student", "onnx"): 0.88})
    costs, t_deps, _ = _costs(NATIVE, _profiles("teacher", native=100),
                              _profiles("student", eager=1000, onnx=4000))  # fmt: skip
    steps = costs.extra["waterfall"]
    assert steps[0]["step"] == "teacher (XGBoost)" and "stays on XGBoost" in steps[1]["reason"]
    assert costs.extra["headline"]["comparable"] and costs.reduction == pytest.approx(
        1 - 100 / 4000
    )
    assert list(t_deps) == ["native"]


def _record(method: str, family: str, metric: float, passed: bool, costs: Any = None,
            reduction: float = 0.5) -> dict[str, Any]:  # fmt: skip
    est = {"value": metric, "low": metric - 0.01, "high": metric + 0.01, "n": 100, "level": 0.95}
    record = {
        "system": "s", "sector": "financial", "method": method, "family": family,
        "status": "ok", "problem": "classification",
        "quality": {"metric": "accuracy", "higher_is_better": True, "student": est,
                    "teacher": {**est, "value": 0.9}, "retention": {**est, "value": metric / 0.9}},
        "gates": [{"name": "min_retention", "passed": passed, "value": metric / 0.9}],
        "costs": {"reduction": reduction, "usd_per_million": 1 - reduction,
                  "teacher_usd_per_million": 1.0,
                  "extra": {"waterfall": [{"step": "teacher (eager PyTorch)",
                                           "usd_per_million": 1.0},
                                          {"step": "student (eager PyTorch)",
                                           "usd_per_million": 1 - reduction}]}},
    }  # fmt: skip
    if costs is not None:
        record["costs"] = to_jsonable(costs)
    return record


def test_the_best_student_that_passes_the_gates_drives_the_headline():
    records = [
        _record("scratch", "baseline", 0.89, True, reduction=0.6),
        _record("kd", "response", 0.87, True, reduction=0.5),
        _record("dkd", "response", 0.75, False, reduction=0.95),  # cheapest, fails its gate
        _record("fitnet", "feature", 0.88, False, reduction=0.4),  # best metric, fails
    ]
    best, passed = best_student(records)
    assert best is not None and best["method"] == "kd" and passed
    assert waterfall_record(records)["method"] == "kd"
    md = waterfall_section(records, [])
    assert "### s (kd)" in md and "The best student that passes the gates: kd" in md
    for r in records:
        r["gates"][0]["passed"] = False
    best, passed = best_student(records)
    assert best["method"] == "fitnet" and not passed
    assert "No student passes the gates" in waterfall_section(records, [])


def test_the_report_shows_a_failed_runtime_with_its_metric(metrics):
    metrics.update({("teacher", "eager"): 0.9, ("student", "eager"): 0.9,
                    ("student", "onnx"): 0.9, ("student", "onnx-int8"): 0.1})  # fmt: skip
    costs, _, _ = _costs(TORCH, _profiles("teacher", eager=100),
                         _profiles("student", eager=1000, onnx=4000, onnx_int8=8000))  # fmt: skip
    records = [_record("kd", "response", 0.9, True, costs)]
    md = waterfall_section(records, [])
    assert "| student (ONNX Runtime INT8) |" in md
    assert "failed, not counted: metric 0.1000; keeps 11.1% of the same model's metric" in md
    assert "| student (ONNX Runtime) | $0.00295 | -$0.00885 | 97.5% |" in md
    # The teacher was not timed on ONNX Runtime here: the headline compares eager with
    # eager and says why the student's cheaper ONNX deployment is left out.
    assert "Headline: the teacher's cheapest measured deployment, eager PyTorch" in md
    assert "ONNX Runtime, is not compared: the teacher converts to it but was not" in md
    assert waterfall_chart(records, summarise(records))  # the failed bar draws, hatched


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_onnx_teacher_study_end_to_end(tmp_path):
    """A user's ONNX MLP: timed on ONNX Runtime (and its INT8), the waterfall says so, and a
    student asked to be larger than the teacher is built with a warning in record and report."""
    import json

    import pandas as pd
    import torch
    from torch import nn

    from potstill.config import FleetConfig
    from potstill.costs import PRESETS
    from potstill.runner import run_study

    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    pd.DataFrame({**{f"f{i}": X[:, i] for i in range(6)}, "y": y}).to_csv(tmp_path / "d.csv",
                                                                          index=False)  # fmt: skip
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    with torch.no_grad():  # a teacher that is right: the logit of class 1 is f0 + f1
        net[0].weight.zero_(), net[0].bias.zero_(), net[2].weight.zero_(), net[2].bias.zero_()
        net[0].weight[0, :2], net[0].weight[1, :2] = 1.0, -1.0
        net[2].weight[1, 0], net[2].weight[1, 1] = 1.0, -1.0
    torch.onnx.export(net, (torch.zeros(2, 6),), str(tmp_path / "t.onnx"), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)  # fmt: skip
    fleet = FleetConfig.model_validate({
        "name": "fair", "grid": ["kd"], "train": {"epochs": 2},
        "bench": dict(PRESETS["quick"]), "evaluate": {"n_resamples": 50, "robustness": False},
        "systems": [{"name": "mine", "dataset": {"path": str(tmp_path / "d.csv"), "target": "y"},
                     "teacher": {"path": str(tmp_path / "t.onnx")},
                     "student": {"target_params": 300, "allow_larger": True}}],
    })  # fmt: skip
    run_study(fleet, tmp_path / "out")
    record = json.loads((tmp_path / "out" / "records" / "mine__kd.json").read_text())
    assert record["teacher"]["params"] == 6 * 8 + 8 + 8 * 2 + 2 == 74
    assert record["student"]["params"] > 74
    assert "allow_larger is true" in record["student"]["sizing"]["warning"]
    assert {(p["model"], p["runtime"]) for p in record["profiles"] if p["model"] == "teacher"} == {
        ("teacher", "onnx"), ("teacher", "onnx-int8")}  # fmt: skip
    extra = record["costs"]["extra"]
    assert extra["waterfall"][0]["step"] == "teacher (ONNX Runtime)"
    assert extra["waterfall"][0]["runtime"] == "onnx"
    assert {d["runtime"] for d in extra["teacher_deployments"]} == {"onnx", "onnx-int8"}
    assert extra["teacher"]["runtime"] in ("onnx", "onnx-int8")  # never eager PyTorch
    report = (tmp_path / "out" / "report.md").read_text()
    assert "teacher (ONNX Runtime)" in report and "teacher (eager" not in report
    assert "Warning: 1 system distilled into a student larger than its teacher" in report


def test_the_headline_says_no_student_passes_and_names_the_failing_one(metrics):
    """A failing student's saving was headlined as 'the student's cheapest that keeps its
    quality'; it must read as no deployable reduction, naming the gate it fails."""
    metrics.update({("teacher", "eager"): 0.9, ("student", "eager"): 0.7})
    costs, _, _ = _costs(TORCH, _profiles("teacher", eager=100), _profiles("student", eager=1000))
    record = _record("kd", "response", 0.7, False, costs)
    record["gates"][0]["status"] = "fail"
    md = waterfall_section([record], [])
    assert "Headline: **no student passes the gates**" in md
    assert "best failing student, kd (fails min_retention)" in md
    assert "keeps its quality" not in md
    record["gates"][0].update(passed=True, status="pass")
    md = waterfall_section([record], [])
    assert "no student passes" not in md and "keeps its quality" in md
