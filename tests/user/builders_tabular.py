"""Tabular user teachers: joblib HGB, XGBoost .json, LightGBM .txt, skl2onnx pipeline with an
imputer, a PyTorch MLP exported to ONNX (regression), a traced TorchScript MLP.

Every builder takes a folder and returns a :class:`builders.UserSystem`; none takes more
than a few seconds on one core.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import numpy as np
import torch
from builders import (
    Standardised,
    UserSystem,
    accuracy,
    as_chain,
    export_onnx,
    fit_torch,
    n_params,
    odd_headers,
    onnx_run,
    regression_mlp,
    rmse,
    save_traced,
    split_labels,
    torch_scores,
    user_frame,
    with_blanks,
)
from sklearn import datasets
from torch import nn


def _breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    data = datasets.load_breast_cancer()
    return data.data[:, :10], data.target, list(data.feature_names[:10])


def hgb_joblib(root: Path) -> UserSystem:
    """A HistGradientBoosting "credit" model trained on codes 0 = good, 1 = bad (teacher order
    [good, bad], alphabetical [bad, good]), saved with joblib; a text sensitive column that is
    not listed in ``drop``; a ``Split`` column names the test rows; empty cells (HGB takes NaN)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, target, names = _breast_cancer()
    code = 1 - target  # sklearn: 1 = benign → "good" = code 0
    classes = ("good", "bad")
    split = split_labels(len(X))
    X = with_blanks(X, 6)
    model = HistGradientBoostingClassifier(max_iter=40, random_state=0)
    model.fit(X[split == "train"], code[split == "train"])
    path = root / "credit_hgb.joblib"
    joblib.dump(model, path)
    labels = np.array(classes, dtype=object)[code]
    frame = user_frame(X, labels, odd_headers(names), "Credit Status", "Applicant ID")
    region = np.where(np.arange(len(X)) % 3 == 0, "north", "south")
    frame.insert(1, "Region", region)  # text sensitive attribute, not a feature
    frame["Split"] = split
    frame.to_csv(root / "credit.csv", index=False)
    test = split == "test"
    score = accuracy(np.array(classes)[model.predict(X[test])], labels[test])
    return UserSystem(
        name="credit_hgb", fmt="joblib HistGradientBoosting", problem="classification",
        metric="accuracy", teacher=path, data=root / "credit.csv", target="Credit Status",
        # HistGradientBoosting has no apply(): its leaves cannot be read (documented), so
        # relation methods do not apply to it; XGBoost and LightGBM below expose theirs.
        library_metric=score, n_test=int(test.sum()), classes=classes, relation=False,
        dataset={"drop": ["Applicant ID"], "sensitive": "Region", "classes": list(classes),
                 "split": {"column": "Split"}, "positive_label": "bad"},
        teacher_extra={"trust_pickle": True},
        distill_args=("--trust-pickle", "--drop", "Applicant ID", "--sensitive", "Region",
                      "--split-column", "Split", "--classes", "good,bad",
                      "--positive-label", "bad"),
    )  # fmt: skip


def _wine() -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    data = datasets.load_wine()
    return data.data, data.target, list(data.feature_names), split_labels(len(data.data))


#: Wine cultivars in the teacher's output order (alphabetical: barbera, barolo, grignolino).
CULTIVARS = ("barolo", "grignolino", "barbera")


def xgboost_json(root: Path) -> UserSystem:
    """A multi-class XGBoost model saved in its own ``.json``; the test rows in their own file."""
    import xgboost as xgb

    X, y, names, split = _wine()
    X = with_blanks(X, 5)
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, learning_rate=0.3, random_state=0)
    model.fit(X[split == "train"], y[split == "train"])
    path = root / "wine_xgb.json"
    model.save_model(path)
    labels = np.array(CULTIVARS, dtype=object)[y]
    frame = user_frame(X, labels, odd_headers(names), "Cultivar", "Lot No")
    test = split == "test"
    frame[~test].to_csv(root / "wine_train.csv", index=False)
    frame[test].to_csv(root / "wine_test.csv", index=False)
    score = accuracy(np.array(CULTIVARS)[model.predict(X[test])], labels[test])
    return UserSystem(
        name="wine_xgb", fmt="XGBoost .json", problem="classification", metric="accuracy",
        teacher=path, data=root / "wine_train.csv", target="Cultivar", library_metric=score,
        n_test=int(test.sum()), classes=CULTIVARS, relation=True,
        dataset={"drop": ["Lot No"], "classes": list(CULTIVARS),
                 "split": {"test": str(root / "wine_test.csv")}},
        distill_args=("--drop", "Lot No", "--test-data", str(root / "wine_test.csv"),
                      "--classes", ",".join(CULTIVARS)),
    )  # fmt: skip


def lightgbm_txt(root: Path) -> UserSystem:
    """LightGBM's own ``.txt`` booster trained on sklearn's codes (0 = malignant): teacher order
    [malignant, benign], alphabetical [benign, malignant]."""
    import lightgbm as lgb

    X, y, names = _breast_cancer()
    split = split_labels(len(X))
    X = with_blanks(X, 4)
    params = {"objective": "binary", "num_leaves": 8, "learning_rate": 0.2, "verbose": -1,
              "seed": 0, "num_threads": 1}  # fmt: skip
    booster = lgb.train(params, lgb.Dataset(X[split == "train"], y[split == "train"]), 30)
    path = root / "tumour_lgbm.txt"
    booster.save_model(str(path))
    classes = ("malignant", "benign")
    labels = np.array(classes, dtype=object)[y]
    frame = user_frame(X, labels, odd_headers(names), "Diagnosis", "Patient ID")
    frame["Split"] = split
    frame.to_csv(root / "tumour.csv", index=False)
    test = split == "test"
    pred = (booster.predict(X[test]) > 0.5).astype(int)
    return UserSystem(
        name="tumour_lgbm", fmt="LightGBM .txt", problem="classification", metric="accuracy",
        teacher=path, data=root / "tumour.csv", target="Diagnosis",
        library_metric=accuracy(np.array(classes)[pred], labels[test]), n_test=int(test.sum()),
        classes=classes, relation=True,
        dataset={"drop": ["Patient ID"], "classes": list(classes), "split": {"column": "Split"}},
        distill_args=("--drop", "Patient ID", "--split-column", "Split",
                      "--classes", ",".join(classes)),
    )  # fmt: skip


def skl2onnx_imputer(root: Path) -> UserSystem:
    """An imputer → scaler → logistic-regression pipeline converted by skl2onnx (ZipMap and a
    string label output: the graph knows its classes); empty cells are the graph's to fill."""
    from skl2onnx import to_onnx
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, names = _breast_cancer()
    split = split_labels(len(X))
    X = with_blanks(X, 12, seed=3)
    labels = np.array(["malignant", "benign"], dtype=object)[y]
    pipe = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=500))
    pipe.fit(X[split == "train"], labels[split == "train"].astype(str))
    path = root / "screening_pipeline.onnx"
    path.write_bytes(to_onnx(pipe, X[:1].astype(np.float32)).SerializeToString())
    frame = user_frame(X, labels, odd_headers(names), "Outcome", "Record")
    frame["Split"] = split
    frame.to_csv(root / "screening.csv", index=False)
    test = split == "test"
    pred = onnx_run(path, X[test], output=0)  # the graph's own label output
    return UserSystem(
        name="screening_onnx", fmt="skl2onnx pipeline (imputer)", problem="classification",
        metric="accuracy", teacher=path, data=root / "screening.csv", target="Outcome",
        library_metric=accuracy(pred, labels[test]), n_test=int(test.sum()),
        classes=tuple(str(c) for c in pipe.classes_),
        dataset={"drop": ["Record"], "split": {"column": "Split"}},
        distill_args=("--drop", "Record", "--split-column", "Split"),
    )  # fmt: skip


def onnx_mlp_regression(root: Path) -> UserSystem:
    """A PyTorch MLP (scaler inside) exported to ONNX for a regression (diabetes progression)."""
    data = datasets.load_diabetes()
    X, y = data.data * 100.0, data.target.astype(np.float32)  # raw-looking units
    split = split_labels(len(X))
    train = split == "train"
    model, final = regression_mlp(X[train], y[train], [64, 32], epochs=60, lr=3e-3)
    path = root / "progression_mlp.onnx"
    export_onnx(final, torch.zeros(1, X.shape[1]), path)
    frame = user_frame(X, y, odd_headers(data.feature_names), "Progression", "Visit ID")
    frame["Split"] = split
    frame.to_csv(root / "progression.csv", index=False)
    test = split == "test"
    pred = onnx_run(path, X[test]).reshape(-1)
    return UserSystem(
        name="progression_onnx", fmt="PyTorch MLP → ONNX (regression)", problem="regression",
        metric="rmse", teacher=path, data=root / "progression.csv", target="Progression",
        library_metric=rmse(pred, y[test]), n_test=int(test.sum()),
        teacher_params=n_params(model), hidden=True, relation=True,
        dataset={"drop": ["Visit ID"], "split": {"column": "Split"}},
        distill_args=("--drop", "Visit ID", "--split-column", "Split"),
    )  # fmt: skip


def torchscript_mlp(root: Path) -> UserSystem:
    """A traced TorchScript MLP on wine, cultivar names in the teacher's order: an
    ``nn.Sequential`` whose first layer is the scaler folded into a Linear, the chain whose
    hidden layers potstill can read from TorchScript."""
    X, y, names, split = _wine()
    train = split == "train"
    torch.manual_seed(0)
    trained = Standardised(X[train], [64, 64], 3)
    fit_torch(trained, X[train], y[train], nn.functional.cross_entropy, epochs=60)
    model = as_chain(trained)
    path = root / "wine_mlp.pt"
    save_traced(model, torch.zeros(1, X.shape[1]), path)
    labels = np.array(CULTIVARS, dtype=object)[y]
    frame = user_frame(X, labels, odd_headers(names), "Cultivar", "Lot No")
    frame["Split"] = split
    frame.to_csv(root / "wine_lots.csv", index=False)
    test = split == "test"
    pred = torch_scores(model, X[test]).argmax(1)
    return UserSystem(
        name="wine_torchscript", fmt="traced TorchScript MLP", problem="classification",
        metric="accuracy", teacher=path, data=root / "wine_lots.csv", target="Cultivar",
        library_metric=accuracy(np.array(CULTIVARS)[pred], labels[test]), n_test=int(test.sum()),
        teacher_params=n_params(model), classes=CULTIVARS, hidden=True, relation=True,
        dataset={"drop": ["Lot No"], "classes": list(CULTIVARS), "split": {"column": "Split"}},
        distill_args=("--drop", "Lot No", "--split-column", "Split",
                      "--classes", ",".join(CULTIVARS)),
    )  # fmt: skip
