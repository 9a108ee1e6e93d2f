"""From a finished search to the study of its choice (no training: hand-made trials)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from potstill.auto import Candidate, Measurement, SearchOutcome, TrialResult
from potstill.auto.final import final_fleet, pick, search_summary
from potstill.auto.search import _choose
from potstill.config import FleetConfig


def _m(
    rung: int, retention: float, usd: float, *, gate: float = 0.0, slo: float = -1.0
) -> Measurement:
    return Measurement(rung=rung, epochs=3 * (rung + 1), retention=retention, metric=0.9,
                       usd_per_million=usd, p99_ms=1.0, params=100,
                       gates={"min_retention": "fail" if gate > 0 else "pass"},
                       violations={"min_retention": gate, "p99_slo": slo})  # fmt: skip


CAND = Candidate(width=0.3, depth=0.5, method="kd", alpha=0.7, lr=1e-3, runtime="onnx",
                 threads=2, temperature=2.0)  # fmt: skip


def _outcome(trials: list[TrialResult]) -> SearchOutcome:
    final = max(max(t.rungs) for t in trials)
    return SearchOutcome("s", trials, final, _choose(trials, final), 1.0, "TPESampler")


def test_the_choice_is_the_cheapest_feasible_student_of_the_final_rung() -> None:
    trials = [
        TrialResult(0, CAND, {0: _m(0, 0.99, 5.0), 1: _m(1, 0.99, 5.0)}, default=True),
        TrialResult(1, CAND, {0: _m(0, 0.97, 1.0)}),  # cheap, but stopped at rung 0
        TrialResult(2, CAND, {0: _m(0, 0.98, 3.0), 1: _m(1, 0.98, 2.0)}),
        TrialResult(3, CAND, {0: _m(0, 0.95, 2.5), 1: _m(1, 0.95, 1.5, gate=0.02)}),
    ]
    outcome = _outcome(trials)
    chosen, passed = pick(outcome)
    assert chosen is not None and chosen.number == 2 and passed
    summary = search_summary(outcome, chosen, passed)
    assert summary["choice"] == 2 and summary["default"] == 0
    assert summary["final_front"] == [0, 2]  # 3 is infeasible; 1 never reached rung 1
    assert summary["front"] == [0, 1, 2]  # by each trial's last measurement (the chart's)


def test_with_nothing_feasible_the_best_retention_within_the_slo_is_studied_and_flagged() -> None:
    trials = [
        TrialResult(0, CAND, {0: _m(0, 0.90, 1.0, gate=0.07)}),
        TrialResult(1, CAND, {0: _m(0, 0.93, 2.0, gate=0.04)}),
        TrialResult(2, CAND, {0: _m(0, 0.99, 0.5, slo=3.0)}),  # misses the latency SLO
    ]
    chosen, passed = pick(_outcome(trials))
    assert chosen is not None and chosen.number == 1 and not passed


def test_the_final_fleet_studies_the_choice_as_the_grid_cell_auto() -> None:
    fleet = FleetConfig.model_validate(
        {"systems": [{"name": "s", "dataset": {"builtin": "breast_cancer"}},
                     {"name": "t", "dataset": {"builtin": "heart_disease"}}]}
    )  # fmt: skip
    trial = TrialResult(4, CAND, {0: _m(0, 0.99, 1.0)})
    config = final_fleet(fleet, {"s": (trial, 12)})
    (system,) = config.systems
    assert system.name == "s" and [g.label for g in system.grid or []] == ["auto"]
    (method,) = (system.grid or [])[0].methods
    assert method.name == "kd" and method.params == {"temperature": 2.0}
    assert system.student.width == 0.3 and system.student.depth == 0.5
    assert system.train is not None and (system.train.epochs, system.train.lr) == (12, 1e-3)
    assert system.bench is not None and system.bench.threads == 2
    FleetConfig.model_validate(config.model_dump(mode="json"))  # a valid fleet file


def test_gates_and_the_slo_become_constraints_that_fail_by_their_margin() -> None:
    from types import SimpleNamespace

    from potstill.auto.trial import _violations
    from potstill.types import GateResult

    ctx = SimpleNamespace(fleet=SimpleNamespace(prices=SimpleNamespace(slo_ms=50.0)))
    gates = [
        GateResult("min_retention", 0.97, 0.95, False, "low", "fail"),
        GateResult("max_ece", 0.1, 0.05, True, "", "pass"),
        GateResult(
            "max_fairness_gap_increase", 0.05, None, False, "not measured: x", "not measured"
        ),
        GateResult("min_robust_retention", 0.9, None, False, "strict", "fail"),
    ]
    out = _violations(ctx, gates, p99_ms=60.0)  # type: ignore[arg-type]
    assert out["min_retention"] > 0.019 and out["max_ece"] == 0.0
    assert out["max_fairness_gap_increase"] == 0.0  # not measured does not fail (not strict)
    assert out["min_robust_retention"] == 1.0  # failed without a value: violated
    assert out["p99_slo"] == 10.0


def test_a_changed_choice_sets_the_old_one_aside_and_the_study_reuses_the_new_student(
    tmp_path: Path,
) -> None:
    from potstill.auto.run import _prepare
    from potstill.study.resume import prepare_resume

    fleet = FleetConfig.model_validate(
        {"systems": [{"name": "s", "dataset": {"builtin": "breast_cancer"}}]}
    )
    old = final_fleet(fleet, {"s": (TrialResult(1, CAND, {0: _m(0, 0.99, 1.0)}), 6)})
    out = tmp_path / "out"
    (out / "records").mkdir(parents=True)
    (out / "config.yaml").write_text(yaml.safe_dump(old.model_dump(mode="json")))
    hashes = prepare_resume(out, old)
    record = {"system": "s", "method": "auto", "status": "ok", "system_hash": hashes["s"]}
    (out / "records" / "s__auto.json").write_text(json.dumps(record))
    (out / "students" / "s" / "auto").mkdir(parents=True)
    (out / "students" / "s" / "auto" / "model.json").write_text("old")
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "model.json").write_text("new")
    other = Candidate(width=0.1, depth=1.0, method="rkd", alpha=0.3, lr=2e-3, runtime="eager",
                      threads=1)  # fmt: skip
    new = final_fleet(fleet, {"s": (TrialResult(2, other, {0: _m(0, 0.98, 0.5)}), 6)})
    _prepare(out, new, {"s": trained})
    assert not (out / "records" / "s__auto.json").exists()  # the old choice's record went aside
    assert list((out / "superseded").glob("*/records/s__auto.json"))
    prepare_resume(out, new)  # what run_study does first: nothing more to set aside
    assert (out / "students" / "s" / "auto" / "model.json").read_text() == "new"
