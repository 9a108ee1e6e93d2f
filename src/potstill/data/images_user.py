"""A user's own images as a :class:`~potstill.types.Task`: a folder of class folders, or an .npz.

Two documented inputs, both ending as float32 images (N, C, H, W) — the layout of the
built-in image system and of the student CNNs:

- **a folder with one sub-folder per class** (``cats/``, ``dogs/``…), each holding PNG or
  JPEG files (any format Pillow reads). Class ids follow the sorted sub-folder names (the
  convention of torchvision's ``ImageFolder``). Images are read as greyscale when every
  one is, else as RGB; resized to ``size`` (H, W) when given, else they must share one size.
  Pixels are scaled to [0, 1] (``ToTensor``'s convention).
- **an .npz file** holding ``X`` and ``y`` (``np.savez``; no pickles are read). ``X`` is
  (N, C, H, W), (N, H, W, C) or (N, H, W); a 4-D array is read as (N, C, H, W) when its
  second axis has 1, 3 or 4 entries, else as (N, H, W, C). Values are kept as stored (cast
  to float32): save them the way your teacher takes them. ``y`` holds integer class ids
  (the teacher's output columns) or strings; an optional ``classes`` array names the ids
  in the teacher's output order (without it, string labels are sorted, and the note says
  so). Float targets with fractions make a regression task.

The splits are seeded and stratified like every other task (60/20/20).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill._validation import check_choice
from potstill.data.tabular import default_metric, split_indices, subsample_indices
from potstill.errors import DataError, missing_dependency
from potstill.types import DatasetInfo, Problem, Sector, Split, Task

__all__ = ["IMAGE_SUFFIXES", "load_image_arrays", "load_image_folder"]

#: File suffixes read from an image folder (anything else there is ignored and counted).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_CHANNELS = (1, 3, 4)
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # Pillow comes with matplotlib; only a broken install lacks it
        raise missing_dependency("pillow", purpose="reading a folder of images") from exc
    return Image


def _class_folders(root: Path) -> dict[str, list[Path]]:
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise DataError(
            f"The image folder {root} {what}. Give a folder with one sub-folder of images "
            "per class (e.g. images/cat/1.png, images/dog/2.png)."
        )
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            found[sub.name] = files
    if len(found) < 2:
        raise DataError(
            f"The image folder {root} must hold at least 2 sub-folders of images (one per "
            f"class, files ending in {', '.join(IMAGE_SUFFIXES)}). Found {len(found)}: "
            f"{sorted(found)}. Put each class's images in its own sub-folder."
        )
    return found


def _open(image_mod: Any, f: Path) -> Any:
    try:
        return image_mod.open(f)
    except (OSError, ValueError) as exc:
        raise DataError(f"The image {f} cannot be read: {exc}. Remove or replace it.") from exc


def _read_images(
    files: Sequence[Path], size: tuple[int, int] | None, channels: int | None
) -> np.ndarray:
    """uint8 (N, C, H, W): ``channels`` 1 (greyscale) or 3 (RGB), by default greyscale when
    every file is, else RGB; resized to ``size``."""
    image_mod = _pil()
    headers = []
    for f in files:  # headers only: the pixels are decoded once, below
        with _open(image_mod, f) as im:
            headers.append((im.mode, im.size))
    grey = channels == 1 or (channels is None and all(m in _GREY_MODES for m, _ in headers))
    mode = "L" if grey else "RGB"
    sizes = {s for _, s in headers}
    if size is None and len(sizes) > 1:
        shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
        raise DataError(
            f"The images under {files[0].parent.parent} have {len(sizes)} sizes ({shown}…). "
            "Give dataset.image_size: [H, W] (or the teacher's input_shape) to resize them."
        )
    pixels = []
    for f in files:
        with _open(image_mod, f) as im:
            try:
                im = im.convert(mode)
            except (OSError, ValueError) as exc:
                raise DataError(f"The image {f} cannot be decoded: {exc}.") from exc
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), image_mod.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
        pixels.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
    return np.stack(pixels)


def load_image_folder(
    root: Path,
    *,
    size: Sequence[int] | None = None,
    channels: int | None = None,
    name: str | None = None,
    sector: Sector = "other",
    seed: int = 0,
    max_rows: int | None = None,
) -> Task:
    """A folder with one sub-folder of images per class → an image classification task.

    ``size`` (H, W) resizes every image (bilinear); ``channels`` (1 or 3) converts them to
    greyscale or RGB; ``max_rows`` subsamples (stratified) before reading the pixels.
    Pixels are scaled to [0, 1].
    """
    check_choice(channels, "channels", owner="load_image_folder", choices=(None, 1, 3))
    root = Path(root)
    classes = _class_folders(root)
    files = [f for fs in classes.values() for f in fs]
    y = np.concatenate(
        [np.full(len(fs), k, dtype=np.int64) for k, fs in enumerate(classes.values())]
    )
    rows = np.arange(len(y))
    if max_rows is not None and max_rows < len(y):
        rows = subsample_indices(y, max_rows, seed=seed)
    hw = None if size is None else (int(size[0]), int(size[1]))
    X = _read_images([files[i] for i in rows], hw, channels).astype(np.float32) / 255.0
    title = name or root.name
    note = (
        f"{len(rows)} of {len(y)} images read from {len(classes)} class folders (class ids "
        "follow the sorted folder names); pixels scaled to [0, 1]"
        + (f", resized to {hw[0]}x{hw[1]}" if hw else "")
        + "."
    )
    info = DatasetInfo(name=title, source=str(root), licence="unknown (user files)", note=note)
    return _image_task(X, y[rows], tuple(classes), "classification", title, sector, info, seed)


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DataError(f"The data file {path} does not exist. Check the path.")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except ValueError as exc:  # an object array needs pickle, which is never enabled
        raise DataError(
            f"{path} holds an array of Python objects, which potstill does not unpickle: {exc}. "
            "Save strings as a fixed-width array: np.savez(path, X=X, y=np.asarray(y, dtype=str))."
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} cannot be read as an .npz file (np.savez): {exc}.") from exc


def _as_nchw(X: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    """(N, C, H, W) float32 from (N, C, H, W), (N, H, W, C) or (N, H, W); and what was done."""
    if X.ndim == 3:
        return X[:, None].astype(np.float32), "(N, H, W) given; a channel axis was added"
    if X.ndim != 4:
        raise DataError(
            f"The 'X' array of {path} must have shape (N, C, H, W), (N, H, W, C) or (N, H, W). "
            f"Got shape {X.shape} instead. Reshape it before saving."
        )
    if X.shape[1] in _CHANNELS:
        return X.astype(np.float32), "(N, C, H, W) as given"
    if X.shape[3] in _CHANNELS:
        return X.transpose(0, 3, 1, 2).astype(
            np.float32
        ), "(N, H, W, C) given; moved to (N, C, H, W)"
    raise DataError(
        f"The 'X' array of {path} has shape {X.shape}: neither its second nor its last axis "
        f"has {', '.join(map(str, _CHANNELS))} entries, so the channel axis is unknown. Save "
        "it as (N, C, H, W)."
    )


def _labels(
    y: np.ndarray, classes: np.ndarray | None, problem: Problem | None, path: Path
) -> tuple[np.ndarray, tuple[str, ...], Problem, str]:
    """(ids or targets, class names, problem, a note on the class order)."""
    names = None if classes is None else tuple(str(c) for c in classes.ravel())
    fractions = y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0)
    if problem == "regression" or (fractions and problem is None):
        if y.dtype.kind not in "iuf":
            raise DataError(
                f"The 'y' array of {path} has dtype {y.dtype}; a regression needs numbers."
            )
        return y.astype(np.float32), (), "regression", ""
    if fractions:
        raise DataError(f"The 'y' array of {path} holds fractions; a class id is an integer.")
    if y.dtype.kind in "iuf":
        ids = y.astype(np.int64)
        k = len(names) if names is not None else int(ids.max()) + 1
        bad = ids[(ids < 0) | (ids >= k)]
        if len(bad):
            raise DataError(
                f"The 'y' array of {path} holds class id {bad[0].item()}, outside 0..{k - 1}"
                + (f" (the {k} entries of 'classes')." if names else ".")
                + " Integer labels are the teacher's output columns 0..K-1."
            )
        return ids, names or tuple(str(i) for i in range(k)), "classification", ""
    values = y.astype(str)
    if names is None:
        names = tuple(sorted(set(values.tolist())))
        return (
            _ids(values, names, path),
            names,
            "classification",
            (
                " String labels sorted alphabetically: add a 'classes' array in the teacher's output "
                "order if it differs."
            ),
        )
    return _ids(values, names, path), names, "classification", ""


def _ids(values: np.ndarray, names: tuple[str, ...], path: Path) -> np.ndarray:
    index = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(values.tolist()) - set(index))
    if unknown:
        raise DataError(
            f"The 'y' array of {path} holds label {unknown[0]!r}, which is not in its 'classes' "
            f"array {list(names)}. Add it to 'classes' or fix the label."
        )
    return np.asarray([index[v] for v in values.tolist()], dtype=np.int64)


def _require(arrays: dict[str, np.ndarray], key: str, path: Path, role: str) -> np.ndarray:
    if key not in arrays:
        raise DataError(
            f"{path} has no array '{key}' ({role}); it holds {sorted(arrays)}. Save it with "
            f"np.savez(path, X=images, y=labels)."
        )
    return arrays[key]


def load_image_arrays(
    path: Path,
    *,
    labels: str = "y",
    sensitive: str | None = None,
    problem: Problem | None = None,
    name: str | None = None,
    sector: Sector = "other",
    seed: int = 0,
    max_rows: int | None = None,
) -> Task:
    """An .npz of images ``X`` and labels ``labels`` (optional ``classes``) → an image task.

    ``sensitive`` names an array of one group per image for the fairness checks.
    """
    path = Path(path)
    arrays = _read_npz(path)
    X_raw = _require(arrays, "X", path, "the images")
    y_raw = np.asarray(_require(arrays, labels, path, "the labels")).ravel()
    if len(X_raw) != len(y_raw):
        raise DataError(
            f"{path} holds {len(X_raw)} images in 'X' but {len(y_raw)} labels in '{labels}'. "
            "Save one label per image."
        )
    if not np.issubdtype(X_raw.dtype, np.number):
        raise DataError(f"The 'X' array of {path} has dtype {X_raw.dtype}; images are numbers.")
    X, layout = _as_nchw(np.asarray(X_raw), path)
    if not np.isfinite(X).all():
        bad = int(np.argwhere(~np.isfinite(X))[0][0])
        raise DataError(f"The 'X' array of {path} holds NaN or infinite values (image {bad}).")
    y, names, problem_, order = _labels(y_raw, arrays.get("classes"), problem, path)
    sens = None
    if sensitive is not None:
        sens = np.asarray(_require(arrays, sensitive, path, "the sensitive groups")).astype(str)
        if len(sens) != len(y):
            raise DataError(f"'{sensitive}' in {path} has {len(sens)} entries for {len(y)} images.")
    rows = np.arange(len(y))
    if max_rows is not None and max_rows < len(y):
        rows = subsample_indices(y, max_rows, seed=seed, stratify=problem_ == "classification")
    title = name or path.stem
    note = f"{len(rows)} of {len(y)} images from 'X' {X_raw.shape}: {layout}; values as stored."
    info = DatasetInfo(
        name=title, source=str(path), licence="unknown (user file)", note=note + order
    )
    return _image_task(
        X[rows], y[rows], names, problem_, title, sector, info, seed,
        sensitive=None if sens is None else sens[rows], sensitive_name=sensitive,
    )  # fmt: skip


def _image_task(
    X: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    problem: Problem,
    name: str,
    sector: Sector,
    info: DatasetInfo,
    seed: int,
    *,
    sensitive: np.ndarray | None = None,
    sensitive_name: str | None = None,
) -> Task:
    stratify = problem == "classification"
    parts = split_indices(y, seed=seed, stratify=stratify, class_names=class_names)
    train, val, test = (
        Split(X=np.ascontiguousarray(X[idx]), y=y[idx],
              sensitive=None if sensitive is None else sensitive[idx])
        for idx in parts
    )  # fmt: skip
    return Task(
        name=name,
        sector=sector,
        kind="image",
        problem=problem,
        train=train,
        val=val,
        test=test,
        metric=default_metric(problem, y, len(class_names)),
        n_classes=len(class_names),
        class_names=class_names,
        sensitive_name=sensitive_name if sensitive is not None else None,
        info=DatasetInfo(
            name=info.name, source=info.source, licence=info.licence, note=info.note,
            n_rows=len(y), n_features=int(np.prod(X.shape[1:])),
        ),
    )  # fmt: skip
