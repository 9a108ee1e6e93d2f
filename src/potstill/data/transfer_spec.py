"""What a transfer set is: the ``transfer`` section of a fleet YAML file (fleet-wide or per
system) and the ``distill --transfer*`` flags.

A transfer set holds inputs without labels that the teacher labels for the student
(Buciluă, Caruana & Niculescu-Mizil 2006, "Model compression"; Ba & Caruana 2014): rows
from a file, or rows synthesised from the training rows. :mod:`potstill.data.transfer`
makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["TRANSFER_KINDS", "TransferSpec"]

TRANSFER_KINDS = ("file", "munge", "mixup", "noise", "augment")

#: The parameters that only one kind reads, and that kind.
_KIND_OF = {"path": "file", "p": "munge", "s": "munge", "alpha": "mixup", "scale": "noise"}


class TransferSpec(BaseModel):
    """Unlabelled rows the teacher labels for the student: a file or synthetic rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["file", "munge", "mixup", "noise", "augment"] = Field(
        description="Where the rows come from: 'file' (unlabelled rows of a CSV/Parquet file "
        "with the training features' columns; for a text system, an unlabelled corpus), "
        "'munge' (MUNGE: each training row with its nearest neighbour's attributes swapped "
        "in, Buciluă et al. 2006), 'mixup' (convex mixes of two training rows), 'noise' "
        "(training rows plus Gaussian noise scaled by each feature's standard deviation), "
        "'augment' (images: random shifts and flips)."
    )
    path: Path | None = Field(
        None,
        description="kind 'file': a CSV or Parquet file holding the feature columns the models "
        "read (the training file's columns for a system whose features are passed as they "
        "are; other columns are ignored, a target column among them). For a text system, a "
        "corpus: a .txt file (one text per line) or a CSV, JSONL or Parquet file with the "
        "training texts' column. Rows (texts) equal to a training, validation or test one, "
        "and repeats, are dropped.",
    )
    size: float | None = Field(
        None,
        gt=0,
        le=100,
        description="Synthetic kinds: rows made, as a multiple of the training rows (default "
        "1.0). kind 'file': at most this multiple of the training rows is kept, the file's first "
        "new ones (default: all).",
    )
    p: float | None = Field(
        None,
        gt=0,
        le=1,
        description="kind 'munge': probability that an attribute is swapped with the nearest "
        "neighbour's (default 0.5).",
    )
    s: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="kind 'munge': local variance; a swapped continuous value is drawn from a "
        "normal around the neighbour's value with sd = |difference| / s (default 1.0).",
    )
    alpha: float | None = Field(
        None,
        gt=0,
        le=100,
        description="kind 'mixup': the Beta(alpha, alpha) mixing weight's parameter (default 0.4).",
    )
    scale: float | None = Field(
        None,
        gt=0,
        le=10,
        description="kind 'noise': noise sd as a multiple of each feature's standard deviation "
        "(default 0.1).",
    )

    @model_validator(mode="after")
    def _parameters_of_kind(self) -> TransferSpec:
        wrong = [
            k for k, kind in _KIND_OF.items() if getattr(self, k) is not None and kind != self.kind
        ]
        if wrong:
            used = ", ".join(f"'{k}' (kind '{_KIND_OF[k]}')" for k in wrong)
            raise ValueError(
                f"{used} do(es) not apply to kind '{self.kind}'; remove it or change the kind"
            )
        if self.kind == "file" and self.path is None:
            raise ValueError(
                "kind 'file' needs 'path': the CSV or Parquet file of unlabelled rows (for a "
                "text system, the corpus of unlabelled texts)"
            )
        return self

    @property
    def multiple(self) -> float:
        """The size multiplier, its default filled in."""
        return 1.0 if self.size is None else self.size

    def parameters(self) -> dict[str, float]:
        """The generator's parameters with their defaults (what the record shows)."""
        defaults = {"munge": {"p": 0.5, "s": 1.0}, "mixup": {"alpha": 0.4}, "noise": {"scale": 0.1}}
        return {
            k: (v if (v := getattr(self, k)) is not None else default)
            for k, default in defaults.get(self.kind, {}).items()
        }
