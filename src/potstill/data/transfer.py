"""Transfer sets: inputs without labels, which the teacher labels for the student.

The literature's answer to "when does distillation pay": on rows the labels do not cover
(Ba & Caruana 2014). They come from a file of unlabelled rows or are synthesised from the
training rows:

- **MUNGE** (Buciluă, Caruana & Niculescu-Mizil 2006): each training row's nearest
  neighbour is found; each attribute is swapped with probability ``p``. A swapped
  continuous value is drawn from a normal around the neighbour's value with
  ``sd = |difference| / s``, and kept within the attribute's training range; a nominal
  attribute (a column with at most two values in the training rows, e.g. one-hot) takes
  the neighbour's value, all of a row's nominal columns together, so a one-hot group stays
  one-hot. (The original also changes the neighbour; here only the row itself.)
- **mixup**: ``λ·x_i + (1-λ)·x_j`` with ``λ ~ Beta(alpha, alpha)`` and ``j`` drawn at random.
- **noise**: ``x + scale · sd_feature · N(0, 1)``.
- **augment** (images): a random shift of up to 2 pixels and a horizontal flip per row.

Every generator is seeded: the same rows, seed and parameters give the same transfer set.

A transfer **file** (:func:`file_rows`) is read by the feature columns and then cleaned:
a row equal to a training, validation or test row, or to an earlier row of the file, is
dropped and counted (:func:`potstill.data.unseen.unseen_rows`, the text corpus's rule).
Synthetic rows are not compared: they are made from training rows, so they can equal a
test row exactly only where they copy a training row unchanged (a MUNGE row none of whose
attributes were swapped, a mixup of a row with itself, a noise row on constant columns)
and that training row is itself also a test row, i.e. the dataset repeats a row across
its splits, which the split, not the transfer set, would have to fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sklearn.neighbors import NearestNeighbors

from potstill.data.columns import read_table, type_feature
from potstill.data.transfer_spec import TransferSpec
from potstill.data.unseen import unseen_rows
from potstill.errors import DataError

__all__ = [
    "augment_rows",
    "file_rows",
    "make_transfer",
    "mixup_rows",
    "munge_rows",
    "noise_rows",
    "read_rows",
]


def _rows_needed(n: int, multiple: float) -> int:
    return max(1, round(n * multiple))


def _nominal_columns(X: np.ndarray) -> np.ndarray:
    """Columns with at most two distinct values among the rows (one-hot, binary flags)."""
    return np.array([len(np.unique(X[~np.isnan(X[:, j]), j])) <= 2 for j in range(X.shape[1])])


def munge_rows(
    X: np.ndarray, n_out: int, *, p: float = 0.5, s: float = 1.0, seed: int = 0
) -> np.ndarray:
    """``n_out`` MUNGE rows made from the 2-D table ``X`` (see the module docstring)."""
    if X.ndim != 2 or len(X) < 2:
        raise DataError(
            f"MUNGE needs a table of at least 2 rows (2-D features); got shape {X.shape}. "
            "Use kind 'noise', 'mixup' or 'augment' for images."
        )
    rng = np.random.default_rng(seed)
    Xf = np.asarray(X, dtype=np.float64)
    filled = np.where(np.isnan(Xf), np.nanmedian(Xf, axis=0), Xf)
    filled = np.nan_to_num(filled)
    neighbour = NearestNeighbors(n_neighbors=2).fit(filled).kneighbors(filled)[1][:, 1]
    nominal = _nominal_columns(Xf)
    low, high = np.nanmin(Xf, axis=0), np.nanmax(Xf, axis=0)
    passes = []
    for _ in range(math.ceil(n_out / len(X))):
        other = Xf[neighbour]
        swap = rng.random(Xf.shape) < p
        swap[:, nominal] = (rng.random(len(Xf)) < p)[:, None]  # a row's nominal block together
        sd = np.nan_to_num(np.abs(Xf - other) / s)
        drawn = np.clip(rng.normal(np.nan_to_num(other), sd), low, high)
        drawn = np.where(np.isnan(other), np.nan, drawn)
        value = np.where(nominal, other, drawn)
        passes.append(np.where(swap, value, Xf))
    return np.concatenate(passes)[:n_out].astype(np.float32)


def mixup_rows(X: np.ndarray, n_out: int, *, alpha: float = 0.4, seed: int = 0) -> np.ndarray:
    """``n_out`` convex mixes of two rows of ``X`` (any shape after the first axis)."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(X), n_out)
    j = rng.integers(0, len(X), n_out)
    lam = rng.beta(alpha, alpha, n_out).reshape((-1,) + (1,) * (X.ndim - 1))
    return (lam * X[i] + (1 - lam) * X[j]).astype(np.float32)


def noise_rows(X: np.ndarray, n_out: int, *, scale: float = 0.1, seed: int = 0) -> np.ndarray:
    """``n_out`` rows of ``X`` (drawn with replacement beyond one pass) plus Gaussian noise
    of ``scale`` times each feature's standard deviation."""
    rng = np.random.default_rng(seed)
    base = X[_picks(len(X), n_out, rng)]
    sd = np.nan_to_num(np.nanstd(X, axis=0))
    return (base + scale * sd * rng.standard_normal(base.shape)).astype(np.float32)


def augment_rows(X: np.ndarray, n_out: int, *, seed: int = 0) -> np.ndarray:
    """``n_out`` images (N, C, H, W) shifted by up to 2 pixels, half of them flipped."""
    if X.ndim != 4:
        raise DataError(
            f"Transfer kind 'augment' is for images (N, C, H, W); got inputs of shape {X.shape}. "
            "Use 'munge', 'mixup' or 'noise' for a table."
        )
    rng = np.random.default_rng(seed)
    base = X[_picks(len(X), n_out, rng)]
    h, w = X.shape[2], X.shape[3]
    padded = np.pad(base, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
    out = np.empty_like(base)
    for k, (dy, dx, flip) in enumerate(
        zip(*rng.integers(0, 5, (2, n_out)), rng.random(n_out) < 0.5, strict=True)
    ):
        img = padded[k, :, dy : dy + h, dx : dx + w]
        out[k] = img[..., ::-1] if flip else img
    return out.astype(np.float32)


def _picks(n: int, n_out: int, rng: np.random.Generator) -> np.ndarray:
    """Every row once per full pass (shuffled), then a random part of a last pass."""
    passes = [rng.permutation(n) for _ in range(math.ceil(n_out / n))]
    return np.concatenate(passes)[:n_out]


def read_rows(
    path: Path,
    feature_names: Sequence[str],
    *,
    max_rows: int | None = None,
    dtype: npt.DTypeLike = np.float32,
) -> np.ndarray:
    """The columns ``feature_names`` of a CSV/Parquet file as ``dtype`` (n, d), read like
    the training table's columns; other columns are ignored. A missing or non-numeric
    column is refused, naming the file and column."""
    frame, where = read_table(path)
    missing = [c for c in feature_names if c not in frame.columns]
    if missing:
        shown = ", ".join(repr(c) for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise DataError(
            f"The transfer file {path} lacks {len(missing)} of the {len(feature_names)} feature "
            f"column(s) the models read: {shown}. Expected the feature columns of the "
            "training rows as the teacher reads them (see docs/transfer.md). Add the columns "
            "or pick another file."
        )
    columns = []
    for name in feature_names:
        typed = type_feature(frame[name], where, categorical=False)
        if typed.dtype == object:
            raise DataError(
                f"Column '{name}' of the transfer file {path} holds text (e.g. "
                f"{str(typed.dropna().iloc[0])!r}); the models read it as a number. Give the "
                "column as numbers, as in the training rows."
            )
        columns.append(typed.to_numpy(dtype=np.float64))
    rows = np.stack(columns, axis=1).astype(dtype)
    return rows[:max_rows] if max_rows is not None else rows


def file_rows(
    spec: TransferSpec, splits: Mapping[str, np.ndarray], feature_names: Sequence[str]
) -> tuple[np.ndarray, dict[str, int]]:
    """(the rows of the transfer file ``spec`` names that no split holds, the record's
    account of what was read, dropped and kept).

    ``splits`` are the task's feature matrices by name (``train`` with every training row,
    labelled or not, ``val``, ``test``): the file's rows are read in their dtype and
    compared with theirs bit for bit. A row equal to a validation or test row is dropped:
    a student given the teacher's outputs on the very rows it is scored on would be
    compared on unlike terms. A row equal to a training row is dropped too, as for a text
    corpus: it adds no input (a distilled cell already sees the teacher's outputs on its
    training rows, and the unlabelled ones are in the transfer set), it would only weigh
    that row twice. A repeat within the file is dropped for the same reason. ``size`` then
    keeps the first ``size`` × training rows of what is left. A file with no row left is
    refused, with the counts."""
    assert spec.kind == "file" and spec.path is not None  # the spec's validator requires it
    train = splits["train"]
    if train.ndim != 2:
        raise DataError(
            f"Transfer kind 'file' reads a table; these inputs have shape {train.shape[1:]}. "
            "Use kind 'augment', 'mixup' or 'noise' for images."
        )
    rows = read_rows(spec.path, feature_names, dtype=train.dtype)
    keep, dropped = unseen_rows(rows, splits)
    if len(keep) == 0:
        counts = ", ".join(f"{n} {name}" for name, n in dropped.items())
        raise DataError(
            f"None of the {len(rows)} rows of the transfer file {spec.path} is new: each "
            f"equals a row the system already holds or an earlier row of the file ({counts}; "
            "compared as the models read them). Give rows the system does not train, "
            "validate or test on."
        )
    cap = None if spec.size is None else _rows_needed(len(train), spec.size)
    over = 0 if cap is None else max(0, len(keep) - cap)
    keep = keep[:cap]
    info = {f"in_{name}": n for name, n in dropped.items() if name != "repeated"}
    info = {"rows": len(rows), **info, "repeated": dropped["repeated"]}
    return rows[keep], {**info, "over_size": over, "kept": len(keep)}


def make_transfer(spec: TransferSpec, X: np.ndarray, *, seed: int) -> np.ndarray:
    """The synthetic transfer rows ``spec`` asks for, made from the training rows ``X``
    (a transfer file is read, and cleaned of known rows, by :func:`file_rows`)."""
    assert spec.kind != "file", "a transfer file is read by file_rows"
    n_out = _rows_needed(len(X), spec.multiple)
    params = spec.parameters()
    if spec.kind == "munge":
        return munge_rows(X, n_out, p=params["p"], s=params["s"], seed=seed)
    if spec.kind == "mixup":
        return mixup_rows(X, n_out, alpha=params["alpha"], seed=seed)
    if spec.kind == "noise":
        return noise_rows(X, n_out, scale=params["scale"], seed=seed)
    return augment_rows(X, n_out, seed=seed)
