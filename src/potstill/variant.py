"""One run of a fleet system when ``seeds`` or ``student.sizes`` expand the fleet: which
system, size and seed it is, its name suffix, and the student spec at that size
(:meth:`potstill.config.FleetConfig.expanded` makes the runs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from potstill.models.students import StudentSpec

__all__ = ["Variant", "size_suffix", "sized"]


class Variant(BaseModel):
    """Which run of a fleet system an expanded system is (``seeds``, ``student.sizes``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    system: str = Field(description="The system's name in the fleet file.")
    size: float | int | None = Field(
        None, description="Student size of this run: a fraction of the teacher or a parameter "
        "target (student.sizes); empty: the system's own student.",
    )  # fmt: skip
    seed: int | None = Field(None, description="Seed of this run (seeds); empty: the fleet's.")


def size_suffix(size: float | int) -> str:
    """``@0.1`` for a fraction of the teacher, ``@20000`` for a parameter target."""
    return f"@{size}" if isinstance(size, int) else f"@{size:g}"


def sized(student: StudentSpec, size: float | int) -> StudentSpec:
    """``student`` at one of its sizes: a fraction sets its width, a whole number its
    parameter target (either replaces explicit hidden widths)."""
    if isinstance(size, int):
        return student.model_copy(update={"target_params": size, "hidden": None, "sizes": None})
    update = {"width": size, "target_params": None, "hidden": None, "sizes": None}
    return student.model_copy(update=update)
