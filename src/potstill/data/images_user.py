"""A user's own images as a :class:`~potstill.types.Task`: a folder of class folders, or an .npz.

Two documented inputs, both ending as float32 images (N, C, H, W) — the layout of the
built-in image system and of the student CNNs:

- **a folder with one sub-folder per class** (``cats/``, ``dogs/``…), each holding PNG or
  JPEG files (any format Pillow reads). Class ids follow ``classes`` when given (the
  teacher's output order), else the sorted sub-folder names (torchvision's
  ``ImageFolder``). Images are read as greyscale or RGB (``channels``, else greyscale when
  every one is); resized to ``size`` (H, W) when given, else they must share one size.
  Pixels are scaled to [0, 1] (``ToTensor``'s convention).
- **an .npz file** holding ``X`` and ``y`` (``np.savez``; no pickles are read). ``X`` is
  (N, C, H, W), (N, H, W, C) or (N, H, W); a 4-D array is read as (N, C, H, W) when its
  second axis has 1, 3 or 4 entries, else as (N, H, W, C). Values are kept as stored (cast
  to float32): save them the way your teacher takes them. ``y`` holds integer class ids
  (the teacher's output columns) or strings; ``classes`` (the argument, else an array in
  the file) names the ids in the teacher's output order. Float targets with fractions
  make a regression task.

The rows are split as ``split`` says (:class:`~potstill.data.split.SplitSpec`): fractions
drawn with a seed (stratified), a second source of the same kind holding the test images
(``test``: another folder or .npz), or — for an .npz — an array of train/val/test values
(``column``). The task's ``info.split`` says how, like a table's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from potstill._validation import check_choice
from potstill.data.image_files import (
    as_nchw,
    class_folders,
    label_ids,
    read_images,
    read_npz,
    require,
)
from potstill.data.split import (
    SplitSpec,
    column_parts,
    split_indices,
    split_summary,
    subsample_indices,
)
from potstill.data.tabular import default_metric, named_parts
from potstill.errors import DataError
from potstill.types import DatasetInfo, Problem, Sector, Split, Task

__all__ = ["image_problem", "load_image_arrays", "load_image_folder"]

Parts = tuple[np.ndarray, np.ndarray, np.ndarray]


def _parts(
    y: np.ndarray, named: Mapping[str, np.ndarray] | None, split: SplitSpec, *, seed: int,
    stratify: bool, class_names: Sequence[str], max_rows: int | None,
) -> Parts:  # fmt: skip
    """Train/val/test row indices into ``y``: drawn by fractions, or the rows the user named
    (val drawn from train when none is named); ``max_rows`` caps the rows that are drawn
    from (all rows, or train + val), never the named test rows."""
    if named is None:
        rows = np.arange(len(y))
        if max_rows is not None and max_rows < len(y):
            rows = subsample_indices(y, max_rows, seed=seed, stratify=stratify)
        parts = split_indices(y[rows], seed=seed, val_size=split.val_share,
                              test_size=split.test_share, stratify=stratify,
                              class_names=class_names)  # fmt: skip
        return rows[parts[0]], rows[parts[1]], rows[parts[2]]
    return named_parts(y, named, split, seed=seed, stratify=stratify,
                       class_names=class_names, max_rows=max_rows)  # fmt: skip


def _named_by_test_source(n_main: int, n_test: int) -> dict[str, np.ndarray]:
    return {"train": np.arange(n_main), "test": np.arange(n_main, n_main + n_test)}


def _folder_labels(
    folders: dict[str, list[Path]], names: tuple[str, ...], root: Path
) -> tuple[list[Path], np.ndarray]:
    unknown = [f for f in folders if f not in names]
    if unknown:
        raise DataError(
            f"The image folder {root} has a class sub-folder {unknown[0]!r} that is not among "
            f"the classes {list(names)}. Rename or remove it, or list it in 'classes'."
        )
    files = [f for fs in folders.values() for f in fs]
    ids = [names.index(k) for k, fs in folders.items() for _ in fs]
    return files, np.asarray(ids, dtype=np.int64)


def load_image_folder(
    root: Path,
    *,
    size: Sequence[int] | None = None,
    channels: int | None = None,
    classes: Sequence[str] | None = None,
    split: SplitSpec | None = None,
    name: str | None = None,
    sector: Sector = "other",
    seed: int = 0,
    max_rows: int | None = None,
) -> Task:
    """A folder with one sub-folder of images per class → an image classification task.

    ``size`` (H, W) resizes every image (bilinear); ``channels`` (1 or 3) converts them to
    greyscale or RGB; ``classes`` orders the class folders as the teacher's outputs;
    ``split.test`` names a second folder of the same classes holding the test images;
    ``max_rows`` subsamples (stratified) before the pixels are read. Pixels are in [0, 1].
    """
    check_choice(channels, "channels", owner="load_image_folder", choices=(None, 1, 3))
    root, split = Path(root), split or SplitSpec()
    folders = class_folders(root)
    names = tuple(classes) if classes else tuple(folders)
    files, y = _folder_labels(folders, names, root)
    named = None
    if split.test is not None:
        test_files, y_test = _folder_labels(
            class_folders(split.test, min_classes=1), names, split.test
        )
        named = _named_by_test_source(len(files), len(test_files))
        files, y = [*files, *test_files], np.concatenate([y, y_test])
    seed = seed if split.seed is None else split.seed
    stratify = True if split.stratify is None else split.stratify
    parts = _parts(y, named, split, seed=seed, stratify=stratify, class_names=names,
                   max_rows=max_rows)  # fmt: skip
    rows = np.concatenate(parts)  # only the images of the splits are decoded, in this order
    hw = None if size is None else (int(size[0]), int(size[1]))
    X = read_images([files[i] for i in rows], hw, channels).astype(np.float32) / 255.0
    bounds = np.cumsum([0, *(len(p) for p in parts)])
    local = (np.arange(bounds[0], bounds[1]), np.arange(bounds[1], bounds[2]),
             np.arange(bounds[2], bounds[3]))  # fmt: skip
    note = (
        f"{len(rows)} of {len(y)} images read from {len(folders)} class folders (class ids "
        + ("follow 'classes'" if classes else "follow the sorted folder names")
        + "); pixels scaled to [0, 1]" + (f", resized to {hw[0]}x{hw[1]}" if hw else "") + "."
    )  # fmt: skip
    info = DatasetInfo(name=name or root.name, source=str(root), licence="unknown (user files)",
                       note=note)  # fmt: skip
    summary = split_summary(split, parts, [0, 0, 0], seed=seed, stratify=stratify,
                            source=str(split.test or ""))  # fmt: skip
    return _image_task(X, y[rows], local, names, "classification", info, sector, summary)


def _npz_named(
    arrays: dict[str, np.ndarray], split: SplitSpec, n: int, path: Path
) -> dict[str, np.ndarray] | None:
    if split.column is None:
        return None
    values = np.asarray(require(arrays, split.column, path, "each image's split")).ravel()
    if len(values) != n:
        raise DataError(f"'{split.column}' in {path} has {len(values)} entries for {n} images.")
    return column_parts(pd.Series(values, name=split.column), lambda i: f"image {i} of {path}")


def _npz_source(
    path: Path, labels: str, sensitive: str | None
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, str, np.ndarray | None]:
    """(arrays, X as (N, C, H, W), raw labels, layout note, sensitive groups) of one .npz."""
    arrays = read_npz(path)
    X_raw = np.asarray(require(arrays, "X", path, "the images"))
    y_raw = np.asarray(require(arrays, labels, path, "the labels")).ravel()
    if len(X_raw) != len(y_raw):
        raise DataError(
            f"{path} holds {len(X_raw)} images in 'X' but {len(y_raw)} labels in '{labels}'. "
            "Save one label per image."
        )
    if not np.issubdtype(X_raw.dtype, np.number):
        raise DataError(f"The 'X' array of {path} has dtype {X_raw.dtype}; images are numbers.")
    X, layout = as_nchw(X_raw, path)
    if not np.isfinite(X).all():
        bad = int(np.argwhere(~np.isfinite(X))[0][0])
        raise DataError(f"The 'X' array of {path} holds NaN or infinite values (image {bad}).")
    sens = None
    if sensitive is not None:
        sens = np.asarray(require(arrays, sensitive, path, "the sensitive groups")).astype(str)
        if len(sens) != len(y_raw):
            raise DataError(
                f"'{sensitive}' in {path} has {len(sens)} entries for {len(y_raw)} images."
            )
    return arrays, X, y_raw, f"'X' {X_raw.shape}: {layout}", sens


def load_image_arrays(
    path: Path,
    *,
    labels: str = "y",
    sensitive: str | None = None,
    problem: Problem | None = None,
    classes: Sequence[str] | None = None,
    split: SplitSpec | None = None,
    name: str | None = None,
    sector: Sector = "other",
    seed: int = 0,
    max_rows: int | None = None,
) -> Task:
    """An .npz of images ``X`` and labels ``labels`` → an image task.

    ``classes`` (else the file's ``classes`` array) orders the labels as the teacher's
    outputs; ``sensitive`` names an array of one group per image for the fairness checks;
    ``split.test`` names a second .npz holding the test images, ``split.column`` an array of
    train/val/test values.
    """
    path, split = Path(path), split or SplitSpec()
    arrays, X, y_raw, layout, sens = _npz_source(path, labels, sensitive)
    named = _npz_named(arrays, split, len(y_raw), path)
    if split.test is not None:
        _, X_t, y_t, _, sens_t = _npz_source(split.test, labels, sensitive)
        named = _named_by_test_source(len(y_raw), len(y_t))
        if X_t.shape[1:] != X.shape[1:]:
            raise DataError(
                f"The test images of {split.test} have shape {X_t.shape[1:]}, those of {path} "
                f"{X.shape[1:]}. Save both in one shape."
            )
        X, y_raw = np.concatenate([X, X_t]), np.concatenate([y_raw, y_t])
        sens = None if sens is None or sens_t is None else np.concatenate([sens, sens_t])
    order = classes if classes else arrays.get("classes")
    y, names, problem_, order_note = label_ids(
        y_raw, None if order is None else [str(c) for c in np.ravel(order)], problem, path
    )
    seed = seed if split.seed is None else split.seed
    stratify = problem_ == "classification" if split.stratify is None else split.stratify
    parts = _parts(y, named, split, seed=seed, stratify=stratify, class_names=names,
                   max_rows=max_rows)  # fmt: skip
    n_used = sum(len(p) for p in parts)
    note = f"{n_used} of {len(y)} images from {layout}; values as stored.{order_note}"
    info = DatasetInfo(name=name or path.stem, source=str(path), licence="unknown (user file)",
                       note=note)  # fmt: skip
    summary = split_summary(split, parts, [0, 0, 0], seed=seed, stratify=stratify,
                            source=str(split.test or ""))  # fmt: skip
    return _image_task(X, y, parts, names, problem_, info, sector, summary,
                       sensitive=sens, sensitive_name=sensitive)  # fmt: skip


def image_problem(path: Path, *, labels: str = "y", problem: Problem | None = None) -> Problem:
    """The problem an .npz of images poses: ``problem`` when given, else what its labels
    say (classification unless they hold fractions)."""
    if problem is not None:
        return problem
    y = np.asarray(require(read_npz(Path(path)), labels, Path(path), "the labels")).ravel()
    return (
        "regression" if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0) else "classification"
    )


def _image_task(
    X: np.ndarray, y: np.ndarray, parts: Parts, class_names: tuple[str, ...], problem: Problem,
    info: DatasetInfo, sector: Sector, summary: dict[str, Any], *,
    sensitive: np.ndarray | None = None, sensitive_name: str | None = None,
) -> Task:  # fmt: skip
    train, val, test = (
        Split(X=np.ascontiguousarray(X[idx]), y=y[idx],
              sensitive=None if sensitive is None else sensitive[idx])
        for idx in parts
    )  # fmt: skip
    used = np.concatenate(parts)
    return Task(
        name=info.name, sector=sector, kind="image", problem=problem, train=train, val=val,
        test=test, metric=default_metric(problem, y[used], len(class_names)),
        n_classes=len(class_names), class_names=class_names,
        sensitive_name=sensitive_name if sensitive is not None else None,
        info=DatasetInfo(
            name=info.name, source=info.source, licence=info.licence, note=info.note,
            n_rows=len(used), n_features=int(np.prod(X.shape[1:])), split=summary,
        ),
    )  # fmt: skip
