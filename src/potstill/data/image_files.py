"""Reading a user's image files: class folders of PNG/JPEG (Pillow) and .npz arrays.

The readers return numpy arrays and labels; :mod:`potstill.data.images_user` splits them
and makes the task. Nothing here unpickles: an .npz is opened with ``allow_pickle=False``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill.errors import DataError, missing_dependency
from potstill.types import Problem

__all__ = [
    "IMAGE_SUFFIXES",
    "as_nchw",
    "class_folders",
    "label_ids",
    "read_images",
    "read_npz",
    "require",
]

#: File suffixes read from an image folder (anything else there is ignored).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_CHANNELS = (1, 3, 4)
_GREY_MODES = ("1", "L", "LA", "I", "I;16", "F")


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:  # Pillow comes with matplotlib; only a broken install lacks it
        raise missing_dependency("pillow", purpose="reading a folder of images") from exc
    return Image


def class_folders(root: Path, *, min_classes: int = 2) -> dict[str, list[Path]]:
    """Sub-folder name → its image files (sorted), for the sub-folders holding images."""
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
    if len(found) < min_classes:
        raise DataError(
            f"The image folder {root} must hold at least {min_classes} "
            f"sub-folder{'s' if min_classes > 1 else ''} of images (one per class, files "
            f"ending in {', '.join(IMAGE_SUFFIXES)}). Found {len(found)}: {sorted(found)}. "
            "Put each class's images in its own sub-folder."
        )
    return found


def _open(image_mod: Any, f: Path) -> Any:
    try:
        return image_mod.open(f)
    except (OSError, ValueError) as exc:
        raise DataError(f"The image {f} cannot be read: {exc}. Remove or replace it.") from exc


def read_images(
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


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz (``np.savez``), without unpickling."""
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


def as_nchw(X: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
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


def label_ids(
    y: np.ndarray, classes: Sequence[str] | None, problem: Problem | None, path: Path
) -> tuple[np.ndarray, tuple[str, ...], Problem, str]:
    """(ids or targets, class names, problem, a note on the class order)."""
    """Class ids (or regression targets), class names, problem, and a note on the order.

    Integers are the teacher's output columns (``0..K-1``, K = ``len(classes)`` when
    given); strings map through ``classes``, else sort alphabetically (the note says so);
    floats with fractions make a regression."""
    names = None if classes is None else tuple(str(c) for c in classes)
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


def require(arrays: dict[str, np.ndarray], key: str, path: Path, role: str) -> np.ndarray:
    if key not in arrays:
        raise DataError(
            f"{path} has no array '{key}' ({role}); it holds {sorted(arrays)}. Save it with "
            f"np.savez(path, X=images, y=labels)."
        )
    return arrays[key]
