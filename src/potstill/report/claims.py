"""The paper's claims, quoted, and the one place they live in the code.

The report sets our measurements beside the figures of *The Impact of Model Distillation
on Inference Costs in Enterprise AI Deployments*. Those figures are the paper's, not ours:
they are never used in a computation of ours, only printed (labelled as the paper's) and
compared against what the records measured.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PAPER_CITATION", "PAPER_CLAIMS", "PAPER_TITLE", "Claim"]

PAPER_TITLE = "The Impact of Model Distillation on Inference Costs in Enterprise AI Deployments"
PAPER_CITATION = (
    f"“{PAPER_TITLE}”: study of 47 production AI systems (financial services 18, "
    "healthcare 15, manufacturing 14). Its figures are quoted in this report as the "
    "paper's claims, never as measurements of ours."
)


@dataclass(frozen=True)
class Claim:
    """One figure the paper reports.

    ``kind`` is ``"cost"`` (cost reduction) or ``"retention"``; ``group`` the sector,
    family or ``"overall"``; ``statistic`` ``"range"``, ``"mean"`` or ``"median"``.
    """

    kind: str
    group: str
    statistic: str
    quoted: str  # as the paper states it
    value: float | None = None
    sd: float | None = None
    low: float | None = None
    high: float | None = None


PAPER_CLAIMS: tuple[Claim, ...] = (
    Claim("cost", "overall", "range", "60–80%", low=0.60, high=0.80),
    Claim("cost", "financial", "mean", "72% (±8%)", value=0.72, sd=0.08),
    Claim("cost", "manufacturing", "mean", "68% (±10%)", value=0.68, sd=0.10),
    Claim("cost", "healthcare", "mean", "63% (±12%)", value=0.63, sd=0.12),
    Claim("retention", "overall", "median", "97%", value=0.97),
    Claim("retention", "response", "median", "98%", value=0.98),
    Claim("retention", "feature", "median", "96%", value=0.96),
    Claim("retention", "relation", "median", "95%", value=0.95),
)
