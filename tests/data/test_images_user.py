"""A user's own images: .npz arrays, a folder per class, and the reshape to a teacher's input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from potstill.data import conform_inputs, load_image_arrays, load_image_folder, load_table
from potstill.data.split import SplitSpec
from potstill.errors import DataError
from potstill.types import DatasetInfo, Split, Task


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """sklearn's 8x8 digits as (N, 1, 8, 8) floats in [0, 1], and their labels."""
    d = load_digits()
    return (d.images[:, None] / 16.0).astype(np.float32), d.target.astype(np.int64)


@pytest.mark.parametrize(
    ("layout", "note"),
    [
        (lambda X: X, "(N, C, H, W) as given"),
        (lambda X: X.transpose(0, 2, 3, 1), "(N, H, W, C) given"),
        (lambda X: X[:, 0], "(N, H, W) given"),
    ],
)
def test_npz_layouts_all_become_nchw(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray], layout: object, note: str
) -> None:
    X, y = digits
    np.savez(tmp_path / "d.npz", X=layout(X), y=y)  # type: ignore[operator]
    task = load_image_arrays(tmp_path / "d.npz", seed=0)
    assert task.kind == "image" and task.problem == "classification" and task.n_classes == 10
    assert task.input_shape == (1, 8, 8) and task.train.X.dtype == np.float32
    assert len(task.train) + len(task.val) + len(task.test) == len(y)
    assert note in task.info.note
    # values as stored: the rows are the original images, in the original order per split
    rows = np.sort(np.concatenate([task.train.X, task.val.X, task.test.X]).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(rows, np.sort(X.sum(axis=(1, 2, 3))), rtol=1e-6)


def test_npz_string_labels_follow_the_classes_array(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    X = rng.random((60, 3, 4, 4)).astype(np.float32)
    y = np.array(["dog", "cat", "bird"] * 20)
    np.savez(tmp_path / "a.npz", X=X, y=y, classes=np.array(["dog", "cat", "bird"]))
    task = load_image_arrays(tmp_path / "a.npz")
    assert task.class_names == ("dog", "cat", "bird")  # the teacher's order, not sorted
    assert task.input_shape == (3, 4, 4)
    np.savez(tmp_path / "b.npz", X=X, y=y)
    alphabetical = load_image_arrays(tmp_path / "b.npz")
    assert alphabetical.class_names == ("bird", "cat", "dog")
    assert "sorted alphabetically" in alphabetical.info.note
    np.savez(tmp_path / "c.npz", X=X, y=y, classes=np.array(["dog", "cat"]))
    with pytest.raises(DataError, match=r"label 'bird', which is not in its 'classes'"):
        load_image_arrays(tmp_path / "c.npz")


def test_npz_float_targets_make_a_regression(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "r.npz", X=rng.random((50, 1, 4, 4)), age=rng.random(50) * 80)
    task = load_image_arrays(tmp_path / "r.npz", labels="age")
    assert task.problem == "regression" and task.metric == "rmse" and task.n_classes == 0
    np.savez(tmp_path / "i.npz", X=rng.random((50, 1, 4, 4)), y=rng.integers(18, 90, 50))
    years = load_image_arrays(tmp_path / "i.npz", problem="regression")  # whole years
    assert years.problem == "regression" and years.train.y.dtype == np.float32
    with pytest.raises(DataError, match="holds fractions; a class id is an integer"):
        load_image_arrays(tmp_path / "r.npz", labels="age", problem="classification")


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"y": np.zeros(4)}, r"has no array 'X' \(the images\)"),
        ({"X": np.zeros((4, 1, 2, 2)), "y": np.zeros(3)}, "4 images in 'X' but 3 labels"),
        ({"X": np.zeros((4, 5, 6, 7)), "y": np.zeros(4)}, "channel axis is unknown"),
        ({"X": np.zeros((4, 4)), "y": np.zeros(4)}, r"Got shape \(4, 4\)"),
        ({"X": np.zeros((4, 1, 2, 2)), "y": np.array([0, 1, -1, 0])}, "class id -1"),
        ({"X": np.full((4, 1, 2, 2), np.nan), "y": np.zeros(4)}, "NaN or infinite"),
        ({"X": np.zeros((4, 1, 2, 2)), "y": np.array([0, 1, 2, None])}, "does not unpickle"),
    ],
)
def test_bad_npz_files_are_refused(tmp_path: Path, arrays: dict, message: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        load_image_arrays(path)


def _folder(root: Path, digits: tuple[np.ndarray, np.ndarray], n: int, size: int = 8) -> Path:
    X, y = digits
    for i in range(n):
        folder = root / f"digit_{y[i]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (X[i, 0] * 255).round().astype(np.uint8)
        Image.fromarray(pixels).resize((size, size)).save(folder / f"{i}.png")
    return root


def test_a_folder_per_class_reads_grey_pngs(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    root = _folder(tmp_path / "imgs", digits, 150)
    (root / "digit_0" / "notes.txt").write_text("not an image")
    task = load_image_folder(root, seed=0)
    assert task.kind == "image" and task.input_shape == (1, 8, 8)
    assert task.class_names == tuple(f"digit_{k}" for k in range(10))  # sorted folder names
    assert task.train.X.min() >= 0.0 and task.train.X.max() <= 1.0
    assert len(task.train) + len(task.val) + len(task.test) == 150
    bigger = load_image_folder(root, size=(16, 12))
    assert bigger.input_shape == (1, 16, 12) and "resized to 16x12" in bigger.info.note


def test_a_folder_of_rgb_and_mixed_sizes(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    root = _folder(tmp_path / "imgs", digits, 60)
    Image.new("RGB", (10, 10), (255, 0, 0)).save(root / "digit_1" / "red.png")
    with pytest.raises(DataError, match=r"2 sizes \(8x8, 10x10"):
        load_image_folder(root)
    task = load_image_folder(root, size=(8, 8))
    assert task.input_shape == (3, 8, 8)  # one colour image: all are read as RGB
    grey = load_image_folder(root, size=(8, 8), channels=1)  # a greyscale teacher's channels
    assert grey.input_shape == (1, 8, 8)
    luma = np.tensordot([0.299, 0.587, 0.114], task.train.X, axes=([0], [1]))  # ITU-R 601
    np.testing.assert_allclose(grey.train.X[:, 0], luma, atol=1.01 / 255)


def test_a_folder_without_class_folders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "absent")
    (tmp_path / "only").mkdir()
    Image.new("L", (4, 4)).save(tmp_path / "only" / "a.png")
    with pytest.raises(DataError, match=r"at least 2 sub-folders of images.*Found 1"):
        load_image_folder(tmp_path)


def test_conform_reshapes_flat_pixels_to_images_and_back(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits
    frame = {f"p{i}": X[:200].reshape(200, -1)[:, i] for i in range(64)}
    pd.DataFrame({**frame, "label": y[:200]}).to_csv(tmp_path / "d.csv", index=False)
    table = load_table(tmp_path / "d.csv", "label", encode=False)
    images, note = conform_inputs(table, (1, 8, 8), source="teacher.input_shape")
    assert images.kind == "image" and images.input_shape == (1, 8, 8)
    assert "(64) values reshaped to (1, 8, 8)" in note and images.feature_names == ()
    np.testing.assert_array_equal(images.test.X.reshape(len(images.test), -1), table.test.X)
    flat, note = conform_inputs(images, (64,), source="the ONNX file")
    assert flat.kind == "tabular" and "flattened" in note
    np.testing.assert_array_equal(flat.train.X, table.train.X)
    same, note = conform_inputs(images, (1, 8, 8), source="x")
    assert same is images and note == ""


def _task(shape: tuple[int, ...]) -> Task:
    """A task whose rows have ``shape``: images when (C, H, W), a table when flat."""
    splits = [Split(X=np.zeros((6, *shape), np.float32), y=np.arange(6) % 2) for _ in range(3)]
    kind = "image" if len(shape) == 3 else "tabular"
    return Task(name="s", sector="other", kind=kind, problem="classification", train=splits[0],
                val=splits[1], test=splits[2], metric="accuracy", n_classes=2,
                info=DatasetInfo("d", "data.npz", "unknown"))  # fmt: skip


@pytest.mark.parametrize(
    ("data_shape", "want", "message"),
    [
        ((64,), (1, 8, 7), r"shape \(1, 8, 7\) \(teacher.input_shape\), but the rows of data.npz "
         r"have shape \(64\): 64 values per row, not 56"),
        ((48,), (3, 4, 4), r"order of a flat row .* is ambiguous"),
        ((1, 8, 8), (8, 8, 1), r"channels-last \(H, W, C\)"),
        ((3, 4, 4), (48,), "is ambiguous"),
        ((1, 8, 8), (8, 8), "does not guess"),
    ],
)  # fmt: skip
def test_conform_refuses_naming_both_shapes(
    data_shape: tuple[int, ...], want: tuple[int, ...], message: str
) -> None:
    with pytest.raises(DataError, match=message):
        conform_inputs(_task(data_shape), want, source="teacher.input_shape")


def test_a_folder_in_the_teacher_s_class_order_with_a_test_folder(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    train = _folder(tmp_path / "train", digits, 150)
    X, y = digits
    test = _folder(tmp_path / "test", (X[150:210], y[150:210]), 60)
    order = [f"digit_{k}" for k in (9, 8, 7, 6, 5, 4, 3, 2, 1, 0)]  # the teacher's outputs
    task = load_image_folder(train, classes=order, split=SplitSpec(test=test), seed=0)
    assert task.class_names == tuple(order)
    assert len(task.test) == 60 and len(task.train) + len(task.val) == 150
    np.testing.assert_array_equal(np.sort(task.test.y), np.sort(9 - y[150:210]))
    assert task.info.split["how"] == "test_file" and task.info.split["rows"]["test"] == 60
    with pytest.raises(DataError, match=r"sub-folder 'digit_0' that is not among the classes"):
        load_image_folder(train, classes=order[:-1])


def test_an_npz_split_by_a_column_or_a_second_file(
    tmp_path: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    X, y = digits
    part = np.array(["train"] * 120 + ["val"] * 40 + ["test"] * 40)
    np.savez(tmp_path / "a.npz", X=X[:200], y=y[:200], part=part)
    task = load_image_arrays(tmp_path / "a.npz", split=SplitSpec(column="part"))
    assert (len(task.train), len(task.val), len(task.test)) == (120, 40, 40)
    np.testing.assert_array_equal(task.test.y, y[160:200])  # the named rows, in order
    np.savez(tmp_path / "b.npz", X=X[200:260].transpose(0, 2, 3, 1), y=y[200:260])
    two = load_image_arrays(tmp_path / "a.npz", split=SplitSpec(test=tmp_path / "b.npz"))
    assert len(two.test) == 60 and two.info.split["how"] == "test_file"
    np.testing.assert_array_equal(two.test.X, X[200:260])  # channels-last test file, moved
    np.savez(tmp_path / "c.npz", X=X[:200], y=y[:200], part=np.array(["train", "other"] * 100))
    with pytest.raises(DataError, match="must hold train, val or test in every row; image 1"):
        load_image_arrays(tmp_path / "c.npz", split=SplitSpec(column="part"))
