"""The search space of a system: what a candidate student is, and how Optuna draws one.

A candidate fixes everything that decides the student's quality and its price: its size
(``width`` × the teacher's units or parameter budget, ``depth`` × its layers; for a
transformer teacher, the ``layers`` the student keeps and its ``width``: 1 is a copy of
every k-th teacher layer, below 1 a narrower random configuration), the
distillation method (only the registered methods that apply to this teacher, student and
problem), the method's temperature, the weight ``alpha`` of the distillation term against
the labels, the learning rate, and how it is deployed (runtime and threads).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from potstill.config import SystemSpec
from potstill.methods import MethodSpec, method_info
from potstill.models.hf.students import student_layer_count
from potstill.models.sizing import TeacherSize
from potstill.models.students import StudentSpec

__all__ = [
    "SCRATCH",
    "SEARCHED_METHODS",
    "TRANSFORMER_WIDTHS",
    "Candidate",
    "SearchSpace",
    "candidate_from",
    "default_candidate",
]

#: The "method" of a student trained on the labels alone.
SCRATCH = "scratch"
#: Methods worth searching (cheap per step); the space keeps those that apply.
SEARCHED_METHODS = ("kd", "kd_regression", "dkd", "dist", "fitnet", "rkd", "pkt", "sp")
_TEMPERATURE = "temperature"
#: Widths of a transformer student: 1 copies every k-th teacher layer (DistilBERT), less is
#: a narrower random configuration (heads and intermediate size × width).
TRANSFORMER_WIDTHS = (0.25, 0.5, 1.0)


@dataclass(frozen=True)
class Candidate:
    """One point of the space: a student, how it is trained, how it is deployed."""

    width: float
    depth: float | None  # None for a transformer student: ``layers`` sizes it
    method: str
    alpha: float
    lr: float
    runtime: str
    threads: int
    temperature: float | None = None
    layers: int | None = None  # transformer students: the blocks kept

    def student(self, base: StudentSpec) -> StudentSpec:
        """The system's student spec at this size (explicit sizes give way to the fractions;
        a transformer's ``layers`` and ``width`` to a fresh student of the teacher)."""
        if self.layers is not None:
            update: dict[str, Any] = {"layers": self.layers, "init": "auto", "pretrained": None}
        else:
            update = {"depth": self.depth}
        return StudentSpec.model_validate(
            {**base.model_dump(), **update, "width": self.width, "hidden": None,
             "target_params": None}
        )  # fmt: skip

    def methods(self) -> list[MethodSpec]:
        """The distillation terms (none from scratch); ``alpha`` 0.5 is the study's 1 : 1."""
        if self.method == SCRATCH:
            return []
        params = {_TEMPERATURE: self.temperature} if self.temperature is not None else {}
        return [MethodSpec(name=self.method, weight=2 * self.alpha, params=params)]

    @property
    def label_weight(self) -> float:
        return 1.0 if self.method == SCRATCH else 2 * (1 - self.alpha)

    def params(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _has_temperature(method: str) -> bool:
    return method != SCRATCH and any(p.name == _TEMPERATURE for p in method_info(method).params)


@dataclass(frozen=True)
class SearchSpace:
    """The ranges of one system; ``suggest`` draws a :class:`Candidate` from an Optuna trial."""

    methods: tuple[str, ...]
    runtimes: tuple[str, ...]
    threads: tuple[int, ...]
    min_width: float = 0.05
    lr: tuple[float, float] = (3e-4, 1e-2)
    alpha: tuple[float, float] = (0.1, 0.9)
    temperature: tuple[float, float] = (1.0, 8.0)
    #: The teacher's transformer layers (a transformer teacher; None otherwise).
    teacher_layers: int | None = None
    transformer_widths: tuple[float, ...] = TRANSFORMER_WIDTHS

    def suggest(self, trial: Any) -> Candidate:
        method = trial.suggest_categorical("method", list(self.methods))
        temperature = None
        if _has_temperature(method):
            temperature = trial.suggest_float("temperature", *self.temperature)
        alpha = 0.5 if method == SCRATCH else trial.suggest_float("alpha", *self.alpha)
        return Candidate(
            **self._size(trial),
            method=method,
            alpha=alpha,
            lr=trial.suggest_float("lr", *self.lr, log=True),
            runtime=trial.suggest_categorical("runtime", list(self.runtimes)),
            threads=trial.suggest_categorical("threads", list(self.threads)),
            temperature=temperature,
        )

    def _size(self, trial: Any) -> dict[str, Any]:
        """MLP/CNN/budget students: width and depth fractions; a transformer's: the layers
        kept (fewer than the teacher's, so that no candidate is a full-size copy of it) and
        a width among ``transformer_widths``."""
        if self.teacher_layers is None:
            return {
                "width": trial.suggest_float("width", self.min_width, 1.0, log=True),
                "depth": trial.suggest_float("depth", 0.2, 1.0),
            }
        return {
            "width": trial.suggest_categorical("width", list(self.transformer_widths)),
            "depth": None,
            "layers": trial.suggest_int("layers", 1, max(1, self.teacher_layers - 1)),
        }

    def describe(self) -> dict[str, Any]:
        return asdict(self)


def candidate_from(params: Mapping[str, Any]) -> Candidate:
    """A candidate back from a trial's stored parameters (resume, the final choice)."""
    method = str(params["method"])
    return Candidate(
        width=float(params["width"]),
        depth=float(params["depth"]) if "depth" in params else None,
        layers=int(params["layers"]) if "layers" in params else None,
        method=method,
        alpha=float(params.get("alpha", 0.5)),
        lr=float(params["lr"]),
        runtime=str(params["runtime"]),
        threads=int(params["threads"]),
        temperature=float(params["temperature"]) if "temperature" in params else None,
    )


def default_candidate(
    spec: SystemSpec, space: SearchSpace, size: TeacherSize, lr: float, methods: Sequence[str]
) -> Candidate | None:
    """The hand-picked default the study would train: the system's own student size with
    the first distillation method of its grid that the space holds (kd), alpha 0.5 (the
    study's 1 : 1), the study's learning rate, on ONNX Runtime (else the first runtime)
    with one thread. ``None`` when the space holds none of those methods."""
    method = next((m for m in methods if m in space.methods and m != SCRATCH), None)
    if method is None:
        return None
    width, depth, layers = spec.student.width, spec.student.depth, None
    if space.teacher_layers is not None:
        layers = student_layer_count(space.teacher_layers, depth, spec.student.layers)
    elif spec.student.target_params is not None and size.count:
        width = spec.student.target_params / size.count
    width = min(1.0, max(space.min_width, width))
    runtime = "onnx" if "onnx" in space.runtimes else space.runtimes[0]
    temperature = None
    if _has_temperature(method):
        temperature = float(method_info(method).defaults[_TEMPERATURE])
        temperature = min(max(temperature, space.temperature[0]), space.temperature[1])
    return Candidate(
        width=width, depth=None if layers is not None else depth, layers=layers, method=method, alpha=0.5, lr=lr,
        runtime=runtime, threads=min(space.threads), temperature=temperature,
    )  # fmt: skip
