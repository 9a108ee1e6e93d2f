"""Settings of a cost-aware search (``potstill select``, a fleet's ``auto:`` section): one
validated object.

Every knob is a pydantic field with its help text; the CLI's option help is read from
these descriptions, so the two cannot drift. It sits below the fleet config (which holds
it as ``auto:``), apart from the search itself (:mod:`potstill.auto`), which runs above
the study.
"""

from __future__ import annotations

import itertools

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["SelectConfig"]


class SelectConfig(BaseModel):
    """How the search for the cheapest student that passes every gate runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trials: int = Field(
        24, ge=1, le=10_000, description="Candidate students sampled (each trained at rung 0)."
    )
    timeout: float | None = Field(
        None,
        gt=0,
        description="Seconds after which no new candidate is sampled (the rungs of those "
        "already sampled still finish). None: no limit.",
    )
    rung_epochs: tuple[int, ...] = Field(
        (4, 12, 30),
        min_length=1,
        description="Successive halving: the training epochs of each rung, increasing. A "
        "candidate promoted to the next rung is trained on from its weights.",
    )
    eta: float = Field(
        3.0,
        gt=1,
        description="Successive halving: about 1/eta of a rung's candidates go on (never "
        "fewer than its non-dominated ones, plus 'margin').",
    )
    margin: int = Field(
        1, ge=0, description="Candidates promoted beyond the non-dominated ones and n/eta."
    )
    sampler: str = Field(
        "tpe",
        description="Optuna sampler: 'tpe' (multi-objective TPE with the gates as "
        "constraints) or 'random' (the baseline the benchmark compares with).",
    )
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the sampler.")
    threads: tuple[int, ...] = Field(
        (1, 2), min_length=1, description="Thread counts a deployment may use (searched)."
    )
    min_retention: float = Field(
        0.97,
        gt=0,
        le=1,
        description="The retention floor of a system whose gates set no min_retention: the "
        "search's constraint and the chosen record's gate (a system's own "
        "gates.min_retention wins). Without a floor the cheapest student is chosen at any "
        "retention.",
    )
    min_width: float = Field(
        0.05, gt=0, le=1, description="Smallest student width (fraction of the teacher's)."
    )
    eval_resamples: int = Field(
        200,
        ge=50,
        description="Bootstrap resamples of a candidate's validation quality (the final "
        "choice uses the study's own setting on the test split).",
    )
    remeasure_blocks: int = Field(
        30,
        ge=4,
        description="Interleaved blocks of the front's re-measurement against the default "
        "student; the cost reduction's confidence interval is a bootstrap over them.",
    )

    @field_validator("rung_epochs")
    @classmethod
    def _increasing(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(e < 1 for e in value) or any(b <= a for a, b in itertools.pairwise(value)):
            raise ValueError(f"must be increasing positive epochs. Got {list(value)!r} instead.")
        return value

    @field_validator("sampler")
    @classmethod
    def _sampler(cls, value: str) -> str:
        if value not in ("tpe", "random"):
            raise ValueError(f"must be 'tpe' or 'random'. Got {value!r} instead.")
        return value

    @field_validator("threads")
    @classmethod
    def _threads(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(t < 1 for t in value) or len(set(value)) != len(value):
            raise ValueError(f"must be distinct positive counts. Got {list(value)!r} instead.")
        return tuple(sorted(value))

    @classmethod
    def quick(cls, **overrides: object) -> SelectConfig:
        """Short rungs for tests and ``--quick``; figures are indicative only."""
        return cls(
            **{"trials": 8, "rung_epochs": (2, 6), "threads": (1,), "remeasure_blocks": 10,
               **overrides}
        )  # fmt: skip
