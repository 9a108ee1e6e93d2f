"""Teacher files in their libraries' own formats (XGBoost, LightGBM, CatBoost, skops) and
pickles whose library is missing: loaded safely, scored as the library scores them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import catboost
import joblib
import lightgbm
import numpy as np
import pytest
import skops.io as sio
import torch
import xgboost
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from potstill.config import load_fleet
from potstill.errors import ConfigError, MissingDependencyError, ModelError, UnsafeModelError
from potstill.models.arch.mlp import MLP
from potstill.models.backends import PROBA_EPS
from potstill.models.formats import unpickle
from potstill.models.predict import predict_scores
from potstill.models.teacher import load_teacher
from potstill.types import DatasetInfo, Split, Task
from potstill.zoo import TeacherSpec, get_teacher

RNG = np.random.default_rng(0)
X = RNG.normal(size=(160, 5)).astype(np.float32)
Y3 = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0.5).astype(np.int64)  # 3 classes
Y2 = (X[:, 0] + X[:, 2] > 0).astype(np.int64)
YR = (3 * X[:, 0] + X[:, 1] ** 2).astype(np.float32)


def _same(teacher_scores: np.ndarray, library: np.ndarray) -> None:
    np.testing.assert_allclose(teacher_scores, library, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_xgboost_files_give_the_library_probabilities(tmp_path: Path, suffix: str) -> None:
    model = xgboost.XGBClassifier(n_estimators=6, max_depth=3).fit(X, Y3)
    path = tmp_path / f"model{suffix}"
    model.save_model(path)
    teacher = load_teacher(path, problem="classification")
    assert (teacher.backend, teacher.module) == ("xgboost", None)
    assert teacher.capabilities == {"logits", "embedding"}  # logits and leaf membership
    _same(teacher.predict_scores(X, batch_size=50), model.predict_proba(X))
    logits = teacher.outputs(torch.from_numpy(X[:4])).logits
    expected = np.log(np.clip(model.predict_proba(X[:4]), PROBA_EPS, 1.0))
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5)
    desc = teacher.describe()
    arch = desc["architecture"]
    assert arch["objective"] == "multi:softprob" and 1 <= arch["max_depth"] <= 3
    trees = desc["trees"]  # the tree ensemble's size: no parameters, its trees
    assert desc["params"] is None and trees["trees"] == 18  # 6 rounds × 3 classes
    assert trees["leaves"] == trees["splits"] + 18 and trees["learned"] > 18
    assert teacher.class_labels() is None
    json.dumps(desc)


def test_xgboost_uses_the_best_iteration_early_stopping_kept(tmp_path: Path) -> None:
    model = xgboost.XGBClassifier(n_estimators=60, early_stopping_rounds=2, learning_rate=0.9)
    model.fit(X[:100], Y2[:100], eval_set=[(X[100:], Y2[100:])], verbose=False)
    assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    model.save_model(tmp_path / "m.json")
    teacher = load_teacher(tmp_path / "m.json", problem="classification")
    _same(teacher.predict_scores(X), model.predict_proba(X))
    every_tree = model.get_booster().inplace_predict(X)
    assert not np.allclose(teacher.predict_scores(X)[:, 1], every_tree)


@pytest.mark.parametrize("objective", ["binary:logitraw", "multi:softmax"])
def test_xgboost_margin_objectives_become_probabilities(tmp_path: Path, objective: str) -> None:
    y = Y2 if objective.startswith("binary") else Y3
    booster = xgboost.train(
        {"objective": objective, "max_depth": 2, **({"num_class": 3} if "multi" in objective else {})},
        xgboost.DMatrix(X, label=y), num_boost_round=4,
    )  # fmt: skip
    booster.save_model(tmp_path / "m.ubj")
    margin = booster.predict(xgboost.DMatrix(X), output_margin=True)
    expected = (
        np.stack([1 / (1 + np.exp(margin)), 1 / (1 + np.exp(-margin))], axis=1)
        if margin.ndim == 1
        else np.exp(margin) / np.exp(margin).sum(axis=1, keepdims=True)
    )
    scores = load_teacher(tmp_path / "m.ubj", problem="classification").predict_scores(X)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_xgboost_regression_and_problem_mismatch(tmp_path: Path) -> None:
    model = xgboost.XGBRegressor(n_estimators=5).fit(X, YR)
    model.save_model(tmp_path / "r.json")
    teacher = load_teacher(tmp_path / "r.json", problem="regression")
    _same(teacher.predict_scores(X), model.predict(X))
    assert teacher.outputs(torch.from_numpy(X[:3])).logits.shape == (3, 1)
    with pytest.raises(ModelError, match=r"'reg:squarederror', a regression objective.*"
                       r"task is classification.*dataset\.problem: regression"):  # fmt: skip
        load_teacher(tmp_path / "r.json", problem="classification")
    xgboost.XGBClassifier(n_estimators=2).fit(X, Y2).save_model(tmp_path / "c.json")
    with pytest.raises(ModelError, match="classification objective, but this system's task is"):
        load_teacher(tmp_path / "c.json", problem="regression")


def test_json_that_is_not_xgboost_and_wrong_widths_are_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"layers": [3, 2]}))
    with pytest.raises(ModelError, match=r"not an XGBoost model: it has no 'learner' section"):
        load_teacher(tmp_path / "config.json", problem="classification")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ModelError, match="is not valid JSON"):
        load_teacher(tmp_path / "broken.json", problem="classification")
    (tmp_path / "junk.ubj").write_bytes(b"\x00junk")
    with pytest.raises(ModelError, match="XGBoost cannot load"):
        load_teacher(tmp_path / "junk.ubj", problem="classification")
    xgboost.XGBClassifier(n_estimators=2).fit(X, Y2).save_model(tmp_path / "m.json")
    teacher = load_teacher(tmp_path / "m.json", problem="classification")
    with pytest.raises(ModelError, match="takes 5 feature columns, but the data has 3"):
        teacher.predict_scores(X[:, :3])


@pytest.mark.parametrize("labels", [Y2, Y3])
def test_lightgbm_text_model_gives_the_library_probabilities(
    tmp_path: Path, labels: np.ndarray
) -> None:
    model = lightgbm.LGBMClassifier(n_estimators=8, num_leaves=5, verbose=-1).fit(X, labels)
    model.booster_.save_model(tmp_path / "model.txt")
    teacher = load_teacher(tmp_path / "model.txt", problem="classification")
    assert teacher.backend == "lightgbm" and teacher.class_labels() is None
    _same(teacher.predict_scores(X), model.predict_proba(X))
    trees = teacher.describe()["trees"]
    assert trees["trees"] == model.booster_.num_trees() and trees["leaves"] <= 5 * trees["trees"]
    assert teacher.describe()["architecture"]["max_depth"] >= 1


def test_lightgbm_regression_mismatch_and_other_text_files(tmp_path: Path) -> None:
    model = lightgbm.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, YR)
    model.booster_.save_model(tmp_path / "r.txt")
    _same(
        load_teacher(tmp_path / "r.txt", problem="regression").predict_scores(X), model.predict(X)
    )
    with pytest.raises(ModelError, match="objective 'regression', a regression objective"):
        load_teacher(tmp_path / "r.txt", problem="classification")
    (tmp_path / "notes.txt").write_text("feature list\n")
    with pytest.raises(ModelError, match="is not a LightGBM model"):
        load_teacher(tmp_path / "notes.txt", problem="classification")


def test_catboost_model_keeps_its_class_order(tmp_path: Path) -> None:
    names = np.array(["good", "bad"])[Y2]
    model = catboost.CatBoostClassifier(
        iterations=6, depth=3, verbose=0, class_names=["good", "bad"], allow_writing_files=False
    )
    model.fit(X, names)
    model.save_model(str(tmp_path / "m.cbm"))
    teacher = load_teacher(tmp_path / "m.cbm", problem="classification")
    assert teacher.backend == "catboost"
    assert teacher.class_labels() == ("good", "bad") == tuple(model.classes_)
    _same(teacher.predict_scores(X), model.predict_proba(X))
    desc = teacher.describe()
    assert (desc["architecture"]["max_depth"], desc["architecture"]["objective"]) == (3, "Logloss")
    assert (desc["trees"]["trees"], desc["trees"]["leaves"]) == (6, 6 * 2**3)  # oblivious trees
    with pytest.raises(ModelError, match="'Logloss', a classification objective"):
        load_teacher(tmp_path / "m.cbm", problem="regression")


def test_catboost_regression(tmp_path: Path) -> None:
    model = catboost.CatBoostRegressor(
        iterations=5, depth=2, verbose=0, allow_writing_files=False
    ).fit(X, YR)
    model.save_model(str(tmp_path / "r.cbm"))
    teacher = load_teacher(tmp_path / "r.cbm", problem="regression")
    _same(teacher.predict_scores(X), model.predict(X))
    assert teacher.class_labels() is None


def test_skops_loads_trusted_types_and_lists_the_others(tmp_path: Path) -> None:
    plain = LogisticRegression().fit(X, Y3)
    sio.dump(plain, tmp_path / "lr.skops")
    teacher = load_teacher(tmp_path / "lr.skops", problem="classification")
    assert teacher.backend == "sklearn"
    _same(teacher.predict_scores(X), plain.predict_proba(X))
    hgb = HistGradientBoostingClassifier(max_iter=5).fit(X, Y3)
    sio.dump(hgb, tmp_path / "hgb.skops")
    with pytest.raises(UnsafeModelError, match=r"does not trust by default: sklearn\.ensemble\."
                       r"_hist_gradient_boosting\.predictor\.TreePredictor.*--trust-pickle"):  # fmt: skip
        load_teacher(tmp_path / "hgb.skops", problem="classification")
    trusted = load_teacher(tmp_path / "hgb.skops", problem="classification", trust_pickle=True)
    _same(trusted.predict_scores(X), hgb.predict_proba(X))
    assert trusted.describe()["trees"]["trees"] == 15  # HistGradientBoosting: 5 rounds × 3
    assert teacher.describe()["trees"] is None  # a linear model has no trees
    (tmp_path / "junk.skops").write_bytes(b"junk")
    with pytest.raises(ModelError, match="not a readable skops file"):
        load_teacher(tmp_path / "junk.skops", problem="classification")


def test_a_pickle_whose_module_is_gone_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "acme_scoring.py").write_text(
        "class Model:\n    def predict(self, X):\n        return X[:, 0]\n"
    )
    monkeypatch.syspath_prepend(str(code))
    import acme_scoring  # type: ignore[import-not-found]

    joblib.dump(acme_scoring.Model(), tmp_path / "model.joblib")
    monkeypatch.delitem(sys.modules, "acme_scoring")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(code)])
    with pytest.raises(MissingDependencyError, match=r"needs the Python module 'acme_scoring'"):
        load_teacher(tmp_path / "model.joblib", problem="regression", trust_pickle=True)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("lightgbm.sklearn", r"package 'lightgbm'.*pip install 'potstill\[formats\]'"),
        ("catboost.core", r"package 'catboost'.*potstill\[formats\]"),
        ("xgboost.sklearn", r"package 'xgboost'.*potstill\[formats\]"),
        ("sklearn.ensemble._gb", r"package 'scikit-learn'.*pip install scikit-learn"),
    ],
)
def test_missing_libraries_map_to_their_pip_package(module: str, expected: str) -> None:
    def load() -> None:
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    with pytest.raises(MissingDependencyError, match=expected):
        unpickle(Path("teacher.joblib"), load)


@pytest.mark.parametrize(("suffix", "package"), [(".txt", "lightgbm"), (".cbm", "catboost")])
def test_a_missing_extra_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, package: str
) -> None:
    (tmp_path / f"m{suffix}").write_bytes(b"tree\n")
    monkeypatch.setitem(sys.modules, package, None)  # import raises ImportError
    with pytest.raises(MissingDependencyError, match=rf"'{package}' is not installed.*formats"):
        load_teacher(tmp_path / f"m{suffix}", problem="classification")


def test_weights_only_teacher_takes_its_architecture_from_a_json_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = MLP(5, [6], 3).eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    (tmp_path / "spec.json").write_text(json.dumps(model.spec()))
    (tmp_path / "fleet.yaml").write_text(
        "systems:\n  - name: own\n    dataset: {path: data.csv, target: y}\n"
        "    teacher: {path: weights.pt, architecture: spec.json}\n"
    )
    spec = load_fleet(tmp_path / "fleet.yaml").systems[0].teacher
    assert spec.architecture == tmp_path / "spec.json"  # relative to the YAML file
    split = Split(X, Y3)
    task = Task(
        name="own", sector="other", kind="tabular", problem="classification", train=split,
        val=split, test=split, metric="accuracy", n_classes=3, info=DatasetInfo("own", "", ""),
    )  # fmt: skip
    teacher, _ = get_teacher("own", task, spec, seed=0, train_cfg=None)
    _same(teacher.predict_scores(X), predict_scores(model, X, problem="classification"))
    (tmp_path / "spec.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match=r"'.*spec\.json' must hold a JSON object with a 'type'"):
        get_teacher("own", task, spec, seed=0, train_cfg=None)
    bare = TeacherSpec(path=tmp_path / "weights.pt")
    with pytest.raises(ModelError, match=r"teacher\.architecture: spec\.json"):
        get_teacher("own", task, bare, seed=0, train_cfg=None)
