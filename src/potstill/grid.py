"""The distillation grid's cells: a label and the weighted methods it combines.

A fleet's ``grid`` (and a system's) is a list of these, written in YAML as a method name
(``kd``), ``scratch``, ``pseudo_label`` or a full entry. Kept apart from the fleet models
(:mod:`potstill.config`) so the grid can be read without them.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from potstill.methods import MethodSpec

__all__ = ["LLM_LOSSES", "GridEntry", "LLMLoss", "default_grid"]

#: How an LLM student is distilled (``potstill.train.llm``): a token-level divergence on the
#: training prompts (``mode: token``), sequence-level KD or on-policy GKD.
LLMLoss = Literal["forward_kl", "reverse_kl", "jsd", "sequence", "on_policy"]
LLM_LOSSES: tuple[str, ...] = get_args(LLMLoss)

#: Shorthand grid cells whose method is classification-only use this on regression systems.
_REGRESSION_COUNTERPART = {"kd": "kd_regression"}

#: Grid labels name folders (students/<system>/<label>): letters, digits, '_', '-', '+', '.',
#: starting with a letter or digit, so no label can be a path ('..', '/x') or hidden file.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+.\-]{0,63}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridEntry(_Model):
    """One cell of the distillation grid: a label and the weighted methods it combines.

    YAML shorthand: ``scratch`` (labels only, no teacher) or a method name such as ``kd``.
    """

    label: str = Field(description="Name of this grid cell in records and reports.")
    methods: list[MethodSpec] = Field(
        default_factory=list,
        description="Weighted distillation terms; empty = trained from scratch on labels.",
    )
    regression_methods: list[MethodSpec] | None = Field(
        None,
        description="Terms used instead for regression and embedding systems (e.g. kd → "
        "kd_regression).",
    )
    transfer: bool = Field(
        True,
        description="Distil on the system's transfer set too, when it has one (see 'transfer' "
        "and dataset.labelled_fraction); false: on the labelled rows only. A cell without "
        "methods (scratch) never uses it.",
    )
    pseudo_label: bool = Field(
        False,
        description="The pseudo-label baseline: no distillation term; the student learns the "
        "true labels plus the teacher's hard labels of the transfer set (YAML shorthand "
        "'pseudo_label'). Tells soft targets from more rows.",
    )

    llm: LLMLoss | None = Field(
        None,
        description="A smaller-LLM student (student.llm) is distilled with this: forward_kl, "
        "reverse_kl or jsd (token-level divergence on the training prompts), sequence "
        "(sequence-level KD on the teacher's generations) or on_policy (GKD). YAML shorthand: "
        "the name alone.",
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value == "pseudo_label":
                return {"label": value, "pseudo_label": True}
            if value in LLM_LOSSES:
                return {"label": value, "llm": value}
            entry: dict[str, Any] = {
                "label": value,
                "methods": [] if value == "scratch" else [{"name": value}],
            }
            if value in _REGRESSION_COUNTERPART:
                entry["regression_methods"] = [{"name": _REGRESSION_COUNTERPART[value]}]
            return entry
        return value

    @field_validator("label")
    @classmethod
    def _safe_label(cls, value: str) -> str:
        if not _LABEL.match(value):
            raise ValueError(
                "must be 1-64 letters, digits, '_', '-', '+' or '.', starting with a letter or "
                f"digit (it names a folder inside the study; got {value!r})"
            )
        return value

    @model_validator(mode="after")
    def _pseudo_label_alone(self) -> GridEntry:
        if self.pseudo_label and (self.methods or self.regression_methods):
            raise ValueError(
                f"grid entry {self.label!r}: pseudo_label trains on hard labels without "
                "distillation terms; remove its methods (or pseudo_label)"
            )
        if self.llm is not None and (self.methods or self.regression_methods or self.pseudo_label):
            raise ValueError(
                f"grid entry {self.label!r}: 'llm' ({self.llm}) distils a smaller LLM on its "
                "own; remove its methods and pseudo_label (or llm)"
            )
        return self

    def for_problem(self, problem: str) -> list[MethodSpec]:
        """The terms for ``problem``: an embedding, like a regression output, is a vector
        to match, so both take ``regression_methods`` when given."""
        if problem in ("regression", "embedding") and self.regression_methods is not None:
            return self.regression_methods
        return self.methods


def default_grid() -> list[GridEntry]:
    """From scratch, then one representative method per family (the paper's comparison)."""
    return [
        GridEntry(label="scratch"),
        GridEntry(
            label="kd",
            methods=[MethodSpec(name="kd")],
            regression_methods=[MethodSpec(name="kd_regression")],
        ),
        GridEntry(label="fitnet", methods=[MethodSpec(name="fitnet")]),
        GridEntry(label="rkd", methods=[MethodSpec(name="rkd")]),
    ]
