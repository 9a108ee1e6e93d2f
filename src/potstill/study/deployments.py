"""Fair cost comparisons: which measured deployments count, and what a record's costs compare.

- **The teacher is measured on its native runtime**: eager PyTorch for a torch teacher,
  ONNX Runtime for an ONNX file (the bench's own session, with the students' threads), its
  own library for a scikit-learn / XGBoost / LightGBM model, which stays native. A torch
  teacher also converts, so it is measured on the runtimes the students use.
- **Every exported runtime is re-scored** on the test rows, the teacher's and the
  students'. It counts as a deployment only when it keeps ``min_runtime_retention`` of
  the same model on its own runtime and, for a student, ``min_retention`` of the teacher;
  otherwise it is shown as failed, with its metric, and never counted as a saving.
- **The waterfall**: teacher (native runtime) → the student on that same runtime
  (distillation) → the student's further runtimes (ONNX Runtime, INT8); every step names
  its runtime.
- **A record's costs** compare the teacher's cheapest counted deployment with the
  student's cheapest counted deployment on a runtime *comparable* with the teacher's: one
  the teacher was measured on, or any runtime when the teacher stays native. When the
  student's cheapest runtime has no such teacher measurement, the record says so and
  compares the cheapest comparable one; when none is comparable, no reduction is given.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from potstill.costs import (
    BenchTarget,
    PriceEntry,
    Step,
    cost_of,
    onnx_file_problem,
    runtime_label,
    runtime_predictor,
    saved_predictor,
    usd_per_million,
    waterfall_of,
)
from potstill.errors import PotstillError
from potstill.evaluate import DEFAULT_RUNTIME_RETENTION, GatesConfig, retention
from potstill.models.teacher import Teacher
from potstill.types import CostProfile, Costs

__all__ = [
    "Deployment",
    "Scorer",
    "TeacherBench",
    "record_costs",
    "rescore",
    "student_deployments",
    "teacher_bench",
    "teacher_deployments",
]

#: The student's runtimes a waterfall shows, in order, and the lever each one is.
_LEVERS = {"eager": "distillation", "onnx": "runtime", "onnx-int8": "quantization"}
_LIBRARIES = {"sklearn": "scikit-learn", "xgboost": "XGBoost", "lightgbm": "LightGBM",
              "catboost": "CatBoost"}  # fmt: skip


@dataclass(frozen=True)
class TeacherBench:
    """How the teacher is timed: its bench target, native runtime (and its name in
    reports), and the runtimes it converts to (none: it stays native)."""

    target: BenchTarget
    native: str
    label: str
    convertible: frozenset[str] = frozenset()

    @property
    def converts(self) -> bool:
        return bool(self.convertible)


@dataclass(frozen=True)
class Deployment:
    """A model measured on one runtime; ``counted`` when it kept its quality."""

    runtime: str
    label: str
    profile: CostProfile
    counted: bool
    reason: str = ""
    metric: float | None = None
    retention: float | None = None  # teacher runtimes: of the teacher's native metric

    def row(self, entry: PriceEntry) -> dict[str, Any]:
        return {"runtime": self.runtime, "label": self.label, "counted": self.counted,
                "usd_per_million": usd_per_million(self.profile, entry),
                "p50_ms": self.profile.latency.p50_ms, "metric": self.metric,
                "retention": self.retention, "reason": self.reason}  # fmt: skip


def teacher_bench(teacher: Teacher, example: np.ndarray, runtimes: tuple[str, ...]) -> TeacherBench:
    """The bench target of ``teacher`` on rows ``example``, and its native runtime."""
    if teacher.module is not None:
        target = BenchTarget(name="teacher", module=teacher.module, example=example)
        every = frozenset({"eager", "compile", "onnx", "onnx-int8"})
        return TeacherBench(target, "eager", runtime_label("eager"), every)
    callable_target = BenchTarget(name="teacher", predict=teacher.predict_fn(), example=example)
    arch = teacher.describe()["architecture"]
    if teacher.backend == "onnx":
        path = Path(str(arch.get("path")))
        problem = (
            onnx_file_problem(path, example.shape[1:])
            if "onnx" in runtimes
            else "'onnx' is not among bench.runtimes"
        )
        if problem is None:
            target = BenchTarget(name="teacher", example=example, path=path)
            return TeacherBench(
                target, "onnx", runtime_label("onnx"), frozenset({"onnx", "onnx-int8"})
            )
        label = f"ONNX Runtime, the teacher's own session ({problem})"
        return TeacherBench(callable_target, "native", label)
    library = str(arch.get("library", teacher.backend))
    return TeacherBench(callable_target, "native", _LIBRARIES.get(library, library))


def rescore(
    target: BenchTarget, profile: CostProfile, test_X: np.ndarray, threads: int
) -> np.ndarray:
    """Outputs of the runtime ``profile`` timed, on the test rows: from the file the bench
    kept when there is one, else from a fresh build of that runtime."""
    predict = saved_predictor(profile, threads) or runtime_predictor(
        target, profile.runtime, threads=threads
    )
    return np.asarray(predict(test_X))


@dataclass(frozen=True)
class Scorer:
    """Re-scores runtimes of one model: its target, the test rows, the metric."""

    target: BenchTarget
    test_X: np.ndarray
    threads: int
    score: Any  # RuntimeScore: raw outputs → metric value
    higher_is_better: bool

    def __call__(self, profile: CostProfile) -> tuple[float | None, str]:
        try:
            value = float(self.score(rescore(self.target, profile, self.test_X, self.threads)))
        except (PotstillError, ValueError, RuntimeError) as exc:  # outputs it cannot score
            return None, f"could not be re-scored: {str(exc).splitlines()[0] if str(exc) else exc}"
        return value, ""

    def kept(self, reference: float | None, value: float) -> float:
        if reference is None:
            return math.nan
        return float(retention(reference, value, higher_is_better=self.higher_is_better))


def _floor(gates: GatesConfig) -> float:
    value = gates.min_runtime_retention
    return DEFAULT_RUNTIME_RETENTION if value is None else value


def _judge(
    scorer: Scorer, profile: CostProfile, own: float | None, teacher: float | None,
    gates: GatesConfig,
) -> tuple[bool, str, float | None, float | None]:  # fmt: skip
    """(counted, reason, metric, retention of the teacher) of one exported runtime."""
    value, why = scorer(profile)
    if value is None:
        return False, why, None, None
    reasons = []
    kept, floor = scorer.kept(own, value), _floor(gates)
    if not kept >= floor:  # NaN fails: a check that could not be made never passes
        reasons.append(f"keeps {kept:.1%} of the same model's metric on its own runtime "
                       f"(min_runtime_retention {floor:g})")  # fmt: skip
    vs_teacher = scorer.kept(teacher, value) if teacher is not None else None
    limit = gates.min_retention
    if limit is not None and vs_teacher is not None and not vs_teacher >= limit:
        reasons.append(f"retention {vs_teacher:.1%} of the teacher (min_retention {limit:g})")
    return not reasons, "; ".join(reasons), value, vs_teacher if teacher is not None else kept


def student_deployments(
    scorer: Scorer,
    profiles: Mapping[str, CostProfile],
    teacher_metric: float | None,
    gates: GatesConfig,
) -> dict[str, Deployment]:
    """The student on every runtime it was timed on; exported ones re-scored and judged.

    ``min_retention`` judges a runtime only when the student on its own runtime meets it:
    otherwise the student itself fails that gate, and its runtimes are judged by what the
    export lost (``min_runtime_retention``)."""
    out: dict[str, Deployment] = {}
    eager = profiles.get("eager")
    own = scorer(eager)[0] if eager is not None else None
    limit = gates.min_retention
    if limit is not None and not (own is not None and scorer.kept(teacher_metric, own) >= limit):
        gates = gates.model_copy(update={"min_retention": None})
    for runtime, profile in profiles.items():
        label = runtime_label(runtime)
        if runtime in ("eager", "compile"):  # compile was validated against eager when built
            kept = scorer.kept(teacher_metric, own) if own is not None else None
            out[runtime] = Deployment(runtime, label, profile, True, "", own, kept)
            continue
        counted, reason, value, kept = _judge(scorer, profile, own, teacher_metric, gates)
        out[runtime] = Deployment(runtime, label, profile, counted, reason, value, kept)
    return out


def teacher_deployments(
    bench: TeacherBench, scorer: Scorer, profiles: Mapping[str, CostProfile], gates: GatesConfig
) -> dict[str, Deployment]:
    """The teacher as deployed (its native runtime) and on every runtime it converts to;
    a converted runtime counts when it keeps ``min_runtime_retention`` of the native one."""
    native = profiles.get(bench.native)
    if native is None:
        return {}
    out = {bench.native: Deployment(bench.native, bench.label, native, True, "as deployed")}
    converted = {r: p for r, p in profiles.items() if r != bench.native}
    own = scorer(native)[0] if converted else None
    for runtime, profile in converted.items():
        counted, reason, value, kept = _judge(scorer, profile, own, None, gates)
        out[runtime] = Deployment(runtime, runtime_label(runtime), profile, counted, reason,
                                  value, kept)  # fmt: skip
    return out


def _steps(
    bench: TeacherBench, teacher: Deployment, student: Mapping[str, Deployment]
) -> list[Step]:
    """Teacher (native) → student on the same runtime → the student's further runtimes."""
    first = bench.native if bench.native in student else "eager"
    order = list(_LEVERS)
    shown = [first, *(r for r in order[order.index(first) + 1 :] if r != first)]
    steps = [Step(f"teacher ({teacher.label})", "baseline", teacher.profile, teacher.label)]
    for k, runtime in enumerate(shown):
        dep, label = student.get(runtime), runtime_label(runtime)
        lever = "distillation" if k == 0 else _LEVERS[runtime]
        note = dep.reason if dep is not None and not dep.counted else ""
        if k == 0 and not bench.converts:
            note = (f"the teacher stays on {teacher.label}: this step compares each model on "
                    "its own runtime")  # fmt: skip
        elif k == 0 and runtime != bench.native:
            note = f"unlike runtimes: the student could not be measured on {teacher.label}"
        steps.append(Step(
            f"student ({label})", lever, dep.profile if dep else None, label,
            counted=dep.counted if dep else True, reason=note,
            metric=dep.metric if dep else None, retention=dep.retention if dep else None,
        ))  # fmt: skip
    return steps


def _cheapest(deps: list[Deployment], entry: PriceEntry) -> Deployment | None:
    return min(deps, key=lambda d: usd_per_million(d.profile, entry), default=None)


def _headline(
    bench: TeacherBench,
    teacher: Mapping[str, Deployment],
    student: Mapping[str, Deployment],
    entry: PriceEntry,
) -> tuple[Deployment, Deployment, bool, str]:
    """(teacher's cheapest, student's cheapest comparable, comparable?, note)."""
    t_best = _cheapest([d for d in teacher.values() if d.counted], entry)
    assert t_best is not None  # the native deployment always counts
    counted = [d for d in student.values() if d.counted]
    comparable = [d for d in counted if not bench.converts or d.runtime in teacher]
    s_any, s_best = _cheapest(counted, entry), _cheapest(comparable, entry)
    note = ""
    if s_any is not None and s_any is not s_best:
        if s_any.runtime in bench.convertible:
            skipped = dict(t_best.profile.settings.get("skipped_runtimes") or {})
            why = skipped.get(s_any.runtime, "not among the runtimes it was timed on")
            what = f"the teacher converts to it but was not measured there ({why})"
        else:
            what = f"the teacher, on {bench.label}, cannot run on it"
        note = f"The student's cheapest deployment, {s_any.label}, is not compared: {what}."
    if s_best is None:
        fallback = s_any or next(iter(student.values()))
        return t_best, fallback, False, note or "no student runtime kept its quality"
    return t_best, s_best, True, note


def record_costs(
    bench: TeacherBench,
    teacher: Mapping[str, Deployment],
    student: Mapping[str, Deployment],
    entry: PriceEntry,
    *,
    target_qps: float | None = None,
    slo_ms: float | None = None,
) -> Costs | None:
    """The costs of one student against its teacher: the headline pair (see the module
    docstring), the waterfall and every teacher deployment; None when either model has
    no measured deployment."""
    native = teacher.get(bench.native)
    if native is None or not student:
        return None
    t_best, s_best, comparable, note = _headline(bench, teacher, student, entry)
    costs = cost_of(s_best.profile, t_best.profile, entry, target_qps=target_qps, slo_ms=slo_ms)
    if not comparable:  # never a reduction between unlike things
        costs = replace(costs, reduction=math.nan, latency_reduction=math.nan,
                        memory_reduction=None, cost_reduction=None)  # fmt: skip
    side = {"teacher": t_best, "student": s_best}
    headline = {
        **{k: {"runtime": d.runtime, "label": d.label} for k, d in side.items()},
        "comparable": comparable,
        "note": note,
    }
    extra = {
        **costs.extra,
        **({} if comparable else {"monthly_reduction": None}),
        "headline": headline,
        "waterfall": waterfall_of(_steps(bench, native, student), entry),
        "teacher_deployments": [d.row(entry) for d in teacher.values()],
        "student_deployments": [d.row(entry) for d in student.values()],
    }
    return replace(costs, extra=extra)
