"""The registry of built-in datasets: one name → one spec + one loader.

timm-style: a loader registers itself with ``@register_dataset(BuiltinSpec(...))`` and is
found by name through :func:`load_builtin`. The spec is data (it can be listed, printed
and checked without loading anything or importing the optional package that carries the
rows); the loader does the work only when asked. Unknown names are refused with the list
of valid ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from potstill._validation import check_scalar
from potstill.registry import Registry
from potstill.types import Kind, Problem, Sector, Task

__all__ = [
    "BuiltinSpec",
    "DatasetLoader",
    "builtin_spec",
    "list_builtin",
    "load_builtin",
    "register_dataset",
]


class BuiltinSpec(BaseModel):
    """What a built-in system is, before anything is loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Registry name, e.g. 'credit_scoring'.")
    sector: Sector = Field(description="Industry sector the system stands for in the study.")
    kind: Kind = Field(description="Input modality: tabular, text or image.")
    problem: Problem = Field(description="classification, regression or embedding.")
    metric: str = Field(
        description="Primary metric: accuracy, or roc_auc when the event is rarer than 15 %; "
        "rmse for regression."
    )
    package: str = Field(description="What must be installed to load the rows.")
    description: str = Field(description="One sentence on what is predicted from what.")
    target: str = Field(description="Source column the task predicts.")
    positive_label: str | None = Field(
        default=None, description="Binary problems: the class mapped to 1 (the event)."
    )
    sensitive: str | None = Field(
        default=None, description="Sensitive attribute the system declares, or None."
    )
    sensitive_is_feature: bool = Field(
        default=False, description="Whether the sensitive attribute is also a model input."
    )
    drop: tuple[str, ...] = Field(
        default=(), description="Source columns never used as features: identifiers and leaks."
    )


class DatasetLoader(Protocol):
    """Builds the task of one spec; ``max_rows`` subsamples (stratified) before splitting."""

    def __call__(self, spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task: ...


_REGISTRY: Registry[tuple[BuiltinSpec, DatasetLoader]] = Registry("built-in dataset")


def register_dataset(spec: BuiltinSpec) -> Callable[[DatasetLoader], DatasetLoader]:
    """Decorator: register ``loader`` under ``spec.name``; names must be unique."""

    def decorate(loader: DatasetLoader) -> DatasetLoader:
        _REGISTRY.register(spec.name, (spec, loader))
        return loader

    return decorate


def list_builtin() -> list[BuiltinSpec]:
    """The specs of every registered built-in dataset, sorted by name."""
    return [_REGISTRY[name][0] for name in _REGISTRY.names()]


def _lookup(name: str) -> tuple[BuiltinSpec, DatasetLoader]:
    return _REGISTRY.lookup(name)


def builtin_spec(name: str) -> BuiltinSpec:
    """The spec registered under ``name`` (sector, metric, sensitive attribute, ...)."""
    return _lookup(name)[0]


def load_builtin(name: str, *, seed: int = 0, max_rows: int | None = None) -> Task:
    """Load the built-in dataset ``name`` as a task with seeded splits.

    ``max_rows`` keeps at most that many rows (stratified for classification) before the
    split; quick runs use it. A missing optional package raises
    :class:`~potstill.errors.MissingDependencyError` with the command that installs it.
    """
    spec, loader = _lookup(name)
    check_scalar(seed, "seed", owner="load_builtin", ge=0, integer=True)
    if max_rows is not None:
        check_scalar(max_rows, "max_rows", owner="load_builtin", gt=0, integer=True)
    return loader(spec, seed=seed, max_rows=max_rows)
