"""evaluate_pair end to end: layout, intervals, determinism, inversion, refusals."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import numpy as np
import pytest

from potstill.errors import ConfigError, DataError, ModelError
from potstill.evaluate import EvalConfig, evaluate_pair
from potstill.types import Split, Task, to_jsonable

QUICK = EvalConfig.quick()
Predict = Callable[[np.ndarray], np.ndarray]


def test_layout_matches_quality_docstring(
    tabular_task: Task, teacher: Predict, student: Predict
) -> None:
    q = evaluate_pair(tabular_task, teacher, student, QUICK)
    assert q.metric == "accuracy" and q.higher_is_better and q.n_test == 200
    assert set(q.secondary) == {"accuracy", "roc_auc", "f1", "log_loss"}
    assert set(q.secondary["roc_auc"]) == {"teacher", "student"}
    assert set(q.fidelity) == {"agreement", "kl", "js"}
    assert q.calibration is not None and q.calibration["n_bins"] == 15
    assert q.calibration["temperature"] is not None
    assert q.fairness is not None and q.fairness["attribute"] == "sex"
    assert set(q.fairness["groups"]) == {"F", "M"}
    assert sum(g["n"] for g in q.fairness["groups"].values()) == 200
    assert q.robustness is not None
    assert set(q.robustness["perturbations"]) == {"gaussian_noise", "missing_features"}
    assert q.robustness["perturbations"]["gaussian_noise"]["severity"] == [0.25, 1.0]
    # plain JSON, no NaN
    json.dumps(to_jsonable(q), allow_nan=False)


def test_point_values_and_intervals(tabular_task: Task, teacher: Predict, student: Predict) -> None:
    q = evaluate_pair(tabular_task, teacher, student, QUICK)
    y = tabular_task.test.y
    t_acc = float(np.mean(teacher(tabular_task.test.X).argmax(1) == y))
    s_acc = float(np.mean(student(tabular_task.test.X).argmax(1) == y))
    assert q.teacher.value == pytest.approx(t_acc)
    assert q.student.value == pytest.approx(s_acc)
    assert q.retention.value == pytest.approx(s_acc / t_acc)
    assert q.difference.value == pytest.approx(s_acc - t_acc)
    for est in (q.teacher, q.student, q.retention, q.difference, *q.fidelity.values()):
        assert est.low is not None and est.high is not None
        assert est.low <= est.value <= est.high
        assert est.n == 200 and est.level == 0.95
    # paired: the difference interval is much narrower than either model's own interval
    assert q.difference.high is not None and q.difference.low is not None
    assert q.teacher.high is not None and q.teacher.low is not None
    assert q.difference.high - q.difference.low < q.teacher.high - q.teacher.low


def test_same_seed_identical_other_seed_differs(
    tabular_task: Task, teacher: Predict, student: Predict
) -> None:
    a = to_jsonable(evaluate_pair(tabular_task, teacher, student, QUICK))
    b = to_jsonable(evaluate_pair(tabular_task, teacher, student, QUICK))
    c = to_jsonable(evaluate_pair(tabular_task, teacher, student, EvalConfig.quick(seed=1)))
    assert a == b
    assert a["retention"]["value"] == c["retention"]["value"]
    # continuous statistics: another seed draws other resamples and other noise
    assert a["fidelity"]["kl"]["low"] != c["fidelity"]["kl"]["low"]
    assert a["robustness"]["perturbations"] != c["robustness"]["perturbations"]


def test_identical_models(tabular_task: Task, teacher: Predict) -> None:
    q = evaluate_pair(tabular_task, teacher, teacher, QUICK)
    assert q.retention.value == 1.0 and (q.retention.low, q.retention.high) == (1.0, 1.0)
    assert q.fidelity["agreement"].value == 1.0 and q.fidelity["kl"].value == 0.0
    assert q.fairness is not None and q.fairness["gap_increase"] == 0.0
    assert q.robustness is not None and q.robustness["robust_retention"] == pytest.approx(1.0)


def _regression_task() -> Task:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 2)).astype(np.float32)
    y = (X[:, 0] * 3).astype(np.float32)
    split = Split(X, y)
    return Task("reg", "manufacturing", "tabular", "regression", split, split, split, "rmse", 0)


def test_retention_is_inverted_for_rmse() -> None:
    task = _regression_task()
    teacher = lambda X: X[:, 0] * 3 + 1.0  # noqa: E731  rmse 1
    student = lambda X: (X[:, 0] * 3 + 2.0)[:, None]  # noqa: E731  rmse 2, (n, 1) accepted
    q = evaluate_pair(task, teacher, student, QUICK)
    assert not q.higher_is_better
    assert q.teacher.value == pytest.approx(1.0) and q.student.value == pytest.approx(2.0)
    assert q.retention.value == pytest.approx(0.5)  # teacher / student
    assert (q.retention.low, q.retention.high) == pytest.approx((0.5, 0.5))
    assert q.difference.value == pytest.approx(1.0)
    assert q.fidelity["pearson"].value == pytest.approx(1.0)
    assert q.fidelity["mad"].value == pytest.approx(1.0)
    assert q.calibration is None and q.fairness is None
    assert set(q.secondary) == {"rmse", "mae", "r2"}


def test_no_bootstrap_no_robustness() -> None:
    task = _regression_task()
    config = EvalConfig(n_resamples=0, robustness=False)
    q = evaluate_pair(task, lambda X: X[:, 0] * 3, lambda X: X[:, 0] * 3, config)
    assert q.retention.low is None and q.retention.level is None and q.retention.n == 50
    assert q.robustness is None


def _never_called(X: np.ndarray) -> np.ndarray:
    raise AssertionError("the predictor must not run before the data is checked")


def test_declared_sensitive_attribute_missing_is_refused(make_task: Callable[..., Task]) -> None:
    task = make_task(sensitive=False)
    task = Task(**{**task.__dict__, "sensitive_name": "sex"})
    with pytest.raises(
        DataError,
        match=r"'sex' is declared but the test split of task "
        r"'toy-credit' carries no sensitive values",
    ):
        evaluate_pair(task, _never_called, _never_called, QUICK)


def test_single_group_is_refused(tabular_task: Task) -> None:
    test = tabular_task.test
    one_group = Split(test.X, test.y, np.full(len(test), "F", dtype=object))
    task = Task(**{**tabular_task.__dict__, "test": one_group})
    with pytest.raises(DataError, match="single group"):
        evaluate_pair(task, _never_called, _never_called, QUICK)
    # with fairness off the same task is evaluated
    evaluate_pair(
        task,
        lambda X: np.full((len(X), 2), 0.5),
        lambda X: np.full((len(X), 2), 0.5),
        EvalConfig(n_resamples=0, robustness=False, fairness=False),
    )


def test_bad_metric_and_bad_predictions(tabular_task: Task, teacher: Predict) -> None:
    wrong = Task(**{**tabular_task.__dict__, "metric": "rmse"})
    with pytest.raises(ConfigError, match="'rmse' of task 'toy-credit' is a regression metric"):
        evaluate_pair(wrong, teacher, teacher, QUICK)
    logits = lambda X: np.asarray(X[:, :2], dtype=np.float64) * 3  # noqa: E731
    with pytest.raises(ModelError, match="student predictions for task 'toy-credit'"):
        evaluate_pair(tabular_task, teacher, logits, QUICK)
    with pytest.raises(ConfigError, match="Unknown perturbation 'blur' for tabular"):
        evaluate_pair(
            tabular_task, teacher, teacher, EvalConfig(n_resamples=0, perturbations=("blur",))
        )


def test_image_and_text_tasks_run() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 8, 8)).astype(np.float32)
    y = (X.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)

    def bright(X: np.ndarray) -> np.ndarray:
        p = 1 / (1 + np.exp(-40 * (X.mean(axis=(1, 2, 3)) - 0.5)))
        return np.stack([1 - p, p], axis=1)

    split = Split(X, y)
    task = Task("img", "benchmark", "image", "classification", split, split, split, "accuracy", 2)
    q = evaluate_pair(task, bright, bright, QUICK)
    assert q.robustness is not None
    assert set(q.robustness["perturbations"]) == {"gaussian_noise", "blur", "occlusion"}

    texts = np.array(["good day", "bad day", "good", "so bad"] * 5, dtype=object)
    labels = np.array([1, 0, 1, 0] * 5)

    def words(X: np.ndarray) -> np.ndarray:
        p = np.array([0.8 if "good" in t else 0.2 for t in X])
        return np.stack([1 - p, p], axis=1)

    tsplit = Split(texts, labels)
    ttask = Task("txt", "benchmark", "text", "classification", tsplit, tsplit, tsplit, "f1", 2)
    tq = evaluate_pair(ttask, words, words, QUICK)
    assert tq.teacher.value == 1.0
    assert tq.robustness is not None and set(tq.robustness["perturbations"]) == {
        "token_dropout",
        "typos",
    }
    assert math.isclose(tq.robustness["robust_retention"], 1.0)
