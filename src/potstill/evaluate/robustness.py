"""Robustness: the metric under input perturbations of growing severity, teacher vs student.

A student that matches its teacher on clean data may fall apart on the noisy, incomplete
inputs production sends. Each perturbation is registered for the kinds of data it makes
sense for and maps ``(X, severity, rng, reference)`` to a perturbed copy of ``X``;
severities lie in (0, 1]:

- tabular ``gaussian_noise``: add N(0, (s · std_j)²) to feature j (std of the train split);
  ``missing_features``: each value is missing with probability s and replaced by its
  train mean (0 on potstill's standardised tabular X).
- image ``gaussian_noise`` (per-channel train std), ``blur`` (Gaussian, σ = 2s pixels per
  28 px of image side), ``occlusion`` (a square of side s·min(H, W)/2 at a random place,
  filled with the channel mean).
- text ``token_dropout`` (each whitespace token dropped with probability s) and ``typos``
  (each token gets one random character edit with probability s).

Teacher and student see the very same perturbed rows; every (perturbation, severity)
draws from its own generator seeded by (seed, name, severity index), so results do not
depend on which other perturbations run.
"""

from __future__ import annotations

import string
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from potstill.errors import ConfigError
from potstill.evaluate.metrics import MetricSpec, retention
from potstill.registry import Registry
from potstill.types import Kind, Task

__all__ = [
    "PERTURBATIONS",
    "Perturbation",
    "Reference",
    "get_perturbation",
    "list_perturbations",
    "reference_from_train",
    "register_perturbation",
    "robustness_summary",
]


@dataclass(frozen=True, eq=False)
class Reference:
    """Train-split statistics a perturbation scales by: per feature (tabular) or channel."""

    mean: np.ndarray | None = None
    std: np.ndarray | None = None


PerturbFn = Callable[[np.ndarray, float, np.random.Generator, Reference], np.ndarray]


@dataclass(frozen=True)
class Perturbation:
    """A registered perturbation and the kinds of data it applies to."""

    name: str
    kinds: tuple[Kind, ...]
    fn: PerturbFn
    description: str = ""


#: Registry of perturbations by name. Add one with :func:`register_perturbation`.
PERTURBATIONS: Registry[Perturbation] = Registry("perturbation", plural="perturbations")


def register_perturbation(
    name: str, *, kinds: tuple[Kind, ...], description: str = ""
) -> Callable[[PerturbFn], PerturbFn]:
    """Decorator adding ``fn(X, severity, rng, reference) -> X'`` under ``name``.

    A name may be registered once per kind (e.g. ``gaussian_noise`` for tabular and images).
    """

    def decorator(fn: PerturbFn) -> PerturbFn:
        for kind in kinds:
            PERTURBATIONS.register(f"{kind}:{name}", Perturbation(name, (kind,), fn, description))
        return fn

    return decorator


def list_perturbations(kind: Kind) -> list[str]:
    """Names of the perturbations registered for ``kind``, in registration order."""
    return [p.name for key, p in PERTURBATIONS.items() if key.startswith(f"{kind}:")]


def get_perturbation(name: str, kind: Kind) -> Perturbation:
    """The perturbation ``name`` for ``kind`` data; unknown names list the valid ones."""
    key = f"{kind}:{name}"
    if key not in PERTURBATIONS:
        valid = ", ".join(repr(n) for n in list_perturbations(kind))
        raise ConfigError(
            f"Unknown perturbation {name!r} for {kind} data. Valid perturbations are: {valid}."
        )
    return PERTURBATIONS[key]


def reference_from_train(task: Task) -> Reference:
    """Per-feature (tabular) or per-channel (image) mean and std of the train split."""
    X = task.train.X
    if task.kind == "tabular":  # over the present values: raw features may hold NaN
        data = np.asarray(X, dtype=np.float64)
        present = ~np.isnan(data)
        if present.all():
            return Reference(mean=data.mean(axis=0), std=data.std(axis=0))
        n = np.maximum(present.sum(axis=0), 1)
        mean = np.where(present, data, 0.0).sum(axis=0) / n
        var = (np.where(present, data - mean, 0.0) ** 2).sum(axis=0) / n
        return Reference(mean=mean, std=np.sqrt(var))
    if task.kind == "image":
        data = np.asarray(X, dtype=np.float64)
        axes = (0, *range(2, data.ndim))
        shape = (1, -1) + (1,) * (data.ndim - 2)
        return Reference(
            mean=data.mean(axis=axes).reshape(shape), std=data.std(axis=axes).reshape(shape)
        )
    return Reference()


# --------------------------------------------------------------------------- tabular + image


@register_perturbation(
    "gaussian_noise",
    kinds=("tabular", "image"),
    description="Add N(0, (s * train std)^2) per feature / channel.",
)
def _gaussian_noise(
    X: np.ndarray, s: float, rng: np.random.Generator, ref: Reference
) -> np.ndarray:
    assert ref.std is not None
    noise = rng.standard_normal(X.shape) * (s * ref.std)
    return (X + noise).astype(X.dtype, copy=False)


@register_perturbation(
    "missing_features",
    kinds=("tabular",),
    description="Each value missing with probability s, imputed by its train mean.",
)
def _missing(X: np.ndarray, s: float, rng: np.random.Generator, ref: Reference) -> np.ndarray:
    assert ref.mean is not None
    mask = rng.random(X.shape) < s
    return np.where(mask, np.broadcast_to(ref.mean, X.shape), X).astype(X.dtype, copy=False)


@register_perturbation(
    "blur", kinds=("image",), description="Gaussian blur, sigma = 2s pixels per 28 px of side."
)
def _blur(X: np.ndarray, s: float, rng: np.random.Generator, ref: Reference) -> np.ndarray:
    sigma = 2.0 * s * min(X.shape[-2:]) / 28.0
    spatial = (0.0,) * (X.ndim - 2) + (sigma, sigma)
    return np.asarray(
        gaussian_filter(X.astype(np.float64), sigma=spatial, mode="nearest"), dtype=X.dtype
    )


@register_perturbation(
    "occlusion",
    kinds=("image",),
    description="A random square of side s*min(H, W)/2 set to the channel mean.",
)
def _occlusion(X: np.ndarray, s: float, rng: np.random.Generator, ref: Reference) -> np.ndarray:
    assert ref.mean is not None
    height, width = X.shape[-2:]
    side = max(1, round(s * min(height, width) / 2))
    out = X.copy()
    tops = rng.integers(0, height - side + 1, size=len(X))
    lefts = rng.integers(0, width - side + 1, size=len(X))
    fill = np.broadcast_to(ref.mean, (1, *X.shape[1:-2], 1, 1))[0]
    for i, (top, left) in enumerate(zip(tops, lefts, strict=True)):
        out[i, ..., top : top + side, left : left + side] = fill
    return out


# --------------------------------------------------------------------------- text


@register_perturbation(
    "token_dropout",
    kinds=("text",),
    description="Each whitespace token dropped with probability s.",
)
def _token_dropout(X: np.ndarray, s: float, rng: np.random.Generator, ref: Reference) -> np.ndarray:
    out = np.empty(len(X), dtype=object)
    for i, text in enumerate(X):
        tokens = str(text).split()
        keep = rng.random(len(tokens)) >= s
        out[i] = " ".join(t for t, k in zip(tokens, keep, strict=True) if k)
    return out


def _typo(token: str, rng: np.random.Generator) -> str:
    letters = string.ascii_lowercase
    pos = int(rng.integers(0, len(token)))
    edit = int(rng.integers(0, 4))
    if edit == 0 and len(token) >= 2:  # swap with the next character
        pos = min(pos, len(token) - 2)
        return token[:pos] + token[pos + 1] + token[pos] + token[pos + 2 :]
    if edit == 1 and len(token) >= 2:  # delete
        return token[:pos] + token[pos + 1 :]
    if edit == 2:  # insert
        return token[:pos] + letters[int(rng.integers(0, len(letters)))] + token[pos:]
    others = letters.replace(token[pos].lower(), "")  # substitute by a different letter
    return token[:pos] + others[int(rng.integers(0, len(others)))] + token[pos + 1 :]


@register_perturbation(
    "typos", kinds=("text",), description="Each token gets one character edit with probability s."
)
def _typos(X: np.ndarray, s: float, rng: np.random.Generator, ref: Reference) -> np.ndarray:
    out = np.empty(len(X), dtype=object)
    for i, text in enumerate(X):
        tokens = str(text).split()
        hit = rng.random(len(tokens)) < s
        out[i] = " ".join(_typo(t, rng) if h else t for t, h in zip(tokens, hit, strict=True))
    return out


# --------------------------------------------------------------------------- curves


def robustness_summary(
    task: Task,
    teacher: Callable[[np.ndarray], np.ndarray],
    student: Callable[[np.ndarray], np.ndarray],
    metric: MetricSpec,
    *,
    severities: Sequence[float],
    names: Sequence[str] | None,
    seed: int,
    progress: Callable[[int, str], None] | None = None,
) -> dict[str, Any]:
    """The ``Quality.robustness`` mapping (layout documented on :class:`potstill.types.Quality`).

    ``teacher``/``student`` map X to checked scores; ``names`` defaults to every
    perturbation registered for ``task.kind``. ``robust_retention`` is the mean retention
    over every (perturbation, severity) point where it is defined. ``progress(1, name)``
    is called after each point.
    """
    chosen = list(names) if names is not None else list_perturbations(task.kind)
    perturbations = [get_perturbation(name, task.kind) for name in chosen]
    reference = reference_from_train(task)
    X, y = task.test.X, task.test.y
    curves: dict[str, dict[str, list[float]]] = {}
    ratios: list[float] = []
    for pert in perturbations:
        curve: dict[str, list[float]] = {"severity": [], "teacher": [], "student": []}
        for j, severity in enumerate(severities):
            rng = np.random.default_rng([seed, zlib.crc32(pert.name.encode()), j])
            perturbed = pert.fn(X, float(severity), rng, reference)
            t_value = float(metric.fn(y, teacher(perturbed)))
            s_value = float(metric.fn(y, student(perturbed)))
            curve["severity"].append(float(severity))
            curve["teacher"].append(t_value)
            curve["student"].append(s_value)
            ratios.append(
                float(retention(t_value, s_value, higher_is_better=metric.higher_is_better))
            )
            if progress is not None:
                progress(1, f"{pert.name} {severity:g}")
        curves[pert.name] = curve
    finite = [r for r in ratios if np.isfinite(r)]
    return {
        "metric": metric.name,
        "perturbations": curves,
        "robust_retention": float(np.mean(finite)) if finite else None,
    }
