"""A student is sized from its teacher and never larger than it unless asked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from torch import nn

from potstill.errors import ConfigError
from potstill.models import StudentSpec, Teacher, count_params, load_teacher
from potstill.models.onnx_backend import onnx_params
from potstill.models.sizing import UNKNOWN_TEACHER_SIZE, sized_student, teacher_size
from potstill.models.trees import count_trees, onnx_tree_count


def _onnx_teacher(path: Path, hidden: int = 48, d_in: int = 10) -> Path:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, 2)).eval()
    torch.onnx.export(net, (torch.zeros(2, d_in),), str(path), input_names=["x"],
                      dynamic_axes={"x": {0: "n"}}, dynamo=False)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def onnx_teacher(tmp_path_factory: pytest.TempPathFactory) -> Teacher:
    path = _onnx_teacher(tmp_path_factory.mktemp("onnx") / "teacher.onnx")
    return load_teacher(path, problem="classification")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_blackbox_onnx_student_is_at_most_width_times_the_teacher(onnx_teacher: Teacher) -> None:
    size = teacher_size(onnx_teacher)
    assert size.count == 10 * 48 + 48 + 48 * 2 + 2 == onnx_teacher.describe()["params"]
    assert "initialisers" in size.source
    for width in (0.25, 0.5):
        spec = StudentSpec(width=width)
        student, sizing = sized_student(onnx_teacher, spec, input_shape=(10,), n_outputs=2)
        assert count_params(student) == sizing["params"] <= width * size.count
        assert sizing["rule"].startswith(f"width {width:g} × {size.count:,} teacher parameters")
        assert "warning" not in sizing
    small = sized_student(onnx_teacher, StudentSpec(width=0.25), input_shape=(10,), n_outputs=2)
    large = sized_student(onnx_teacher, StudentSpec(width=1.0), input_shape=(10,), n_outputs=2)
    assert count_params(small[0]) < count_params(large[0])  # --width acts on a black box


def test_a_larger_student_is_refused_unless_allowed(onnx_teacher: Teacher) -> None:
    spec = StudentSpec(target_params=20_000)
    with pytest.raises(ConfigError, match=r"more than its teacher's 626 parameters") as info:
        sized_student(onnx_teacher, spec, input_shape=(10,), n_outputs=2)
    assert "student.allow_larger: true" in str(info.value) and "--width" in str(info.value)
    allowed = StudentSpec(target_params=20_000, allow_larger=True)
    student, sizing = sized_student(onnx_teacher, allowed, input_shape=(10,), n_outputs=2)
    assert count_params(student) > 626
    assert "accepted because student.allow_larger is true" in sizing["warning"]


def test_tree_ensembles_are_sized_by_their_learned_numbers() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((300, 6)), rng.integers(0, 2, 300)
    hgb = HistGradientBoostingClassifier(max_iter=20, max_leaf_nodes=8, random_state=0).fit(X, y)
    forest = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    for model in (hgb, forest):
        trees = count_trees(model)
        assert trees is not None and trees.leaves == trees.splits + trees.trees  # binary trees
        teacher = Teacher.from_sklearn(model, problem="classification")
        size = teacher_size(teacher)
        assert size.unit == "learned tree numbers" and size.count == trees.learned
        student, sizing = sized_student(teacher, StudentSpec(width=0.5), input_shape=(6,),
                                        n_outputs=2)  # fmt: skip
        assert count_params(student) <= 0.5 * trees.learned and "note" not in sizing
    assert count_trees(object()) is None


def test_a_teacher_of_unknown_size_gets_the_documented_fallback() -> None:
    class Opaque:
        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            return np.tile([0.3, 0.7], (len(X), 1))

    teacher = Teacher.from_sklearn(Opaque(), problem="classification")
    size = teacher_size(teacher)
    assert size.count is None and size.unit == "unknown"
    _, sizing = sized_student(teacher, StudentSpec(width=0.25), input_shape=(4,), n_outputs=2)
    assert sizing["budget"] == 0.25 * UNKNOWN_TEACHER_SIZE and "cannot be read" in sizing["rule"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_tree_ensembles_are_counted(tmp_path: Path) -> None:
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 4)).astype(np.float32), rng.integers(0, 2, 200)
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    onx = skl2onnx.convert_sklearn(forest, initial_types=[("x", FloatTensorType([None, 4]))])
    path = tmp_path / "forest.onnx"
    path.write_bytes(onx.SerializeToString())
    assert onnx_tree_count(path) == count_trees(forest)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_skl2onnx_linear_pipeline_counts_its_coefficients(tmp_path: Path) -> None:
    """An imputer → scaler → logistic regression keeps its learned values as node attributes
    (no initialisers): they are its size, not 0 and not the 40,000 fallback."""
    skl2onnx = pytest.importorskip("skl2onnx")
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 4)).astype(np.float32), rng.integers(0, 3, 200)
    pipe = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression()).fit(X, y)
    onx = skl2onnx.convert_sklearn(pipe, initial_types=[("x", FloatTensorType([None, 4]))])
    path = tmp_path / "pipe.onnx"
    path.write_bytes(onx.SerializeToString())
    # 4 fill values + 4 offsets + 4 scales + 3 × 4 coefficients + 3 intercepts
    assert onnx_params(path) == 4 + 4 + 4 + 12 + 3
    size = teacher_size(load_teacher(path, problem="classification"))
    assert (size.count, size.unit) == (27, "parameters") and "ai.onnx.ml" in size.source


def test_config_help_says_how_the_default_is_computed() -> None:
    from potstill.api import config_help

    rows = {row[0]: row[3] for row in _rows(config_help())}
    help_text = rows["systems[].student.target_params"]
    assert (
        "width × the teacher's parameters" in help_text and "2 × split nodes + leaves" in help_text
    )
    assert "systems[].student.allow_larger" in rows


def _rows(table: object) -> list[tuple[str, ...]]:
    columns = table.columns  # type: ignore[attr-defined]
    cells = [list(c._cells) for c in columns]
    return list(zip(*cells, strict=True))
