"""Bring a task's inputs to the shape its teacher takes, or refuse naming both shapes.

A teacher file fixes the shape of one input: a flat row of ``d`` values (an MLP, a tree
ensemble) or an image ``(C, H, W)`` (a CNN in PyTorch's (N, C, H, W) layout). The data
may hold the same values in another arrangement — a CSV of 784 pixel columns, an .npz of
(N, 28, 28) images. :func:`conform_inputs` rearranges them only when the arrangement is
unambiguous:

- flat ``d`` → ``(1, H, W)``: a single-channel image's pixels in row-major order;
- ``(1, H, W)`` → flat ``d``: the same order backwards (the task becomes a table of pixels);
- anything else of the same size (several channels flattened, channels-last teachers) is
  refused, naming the teacher's shape, where it came from, and the data's shape.

Images stay in (C, H, W) layout: the students, the robustness perturbations and the
built-in image system all use it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from potstill.errors import DataError
from potstill.types import Kind, Split, Task

__all__ = ["conform_inputs", "format_shape"]

_CHANNELS = (1, 3, 4)


def format_shape(shape: Sequence[int]) -> str:
    """``(1, 28, 28)``; a 1-tuple without the trailing comma: ``(784)``."""
    return "(" + ", ".join(str(int(v)) for v in shape) + ")"


def _refuse(
    task: Task, got: tuple[int, ...], want: tuple[int, ...], source: str, why: str
) -> DataError:
    return DataError(
        f"System '{task.name}': the teacher takes inputs of shape {format_shape(want)} ({source}), "
        f"but the rows of {task.info.source} have shape {format_shape(got)}: {why}"
    )


def _arrangement(got: tuple[int, ...], want: tuple[int, ...]) -> str | None:
    """``"to_image"``, ``"flatten"``, or None when no unambiguous rearrangement exists."""
    if len(got) == 1 and len(want) == 3 and want[0] == 1:
        return "to_image"
    if len(want) == 1 and len(got) == 3 and got[0] == 1:
        return "flatten"
    return None


def _why_not(got: tuple[int, ...], want: tuple[int, ...]) -> str:
    if int(np.prod(got)) != int(np.prod(want)):
        return (
            f"{int(np.prod(got))} values per row, not {int(np.prod(want))}. Check that the data "
            "and the teacher belong together (and the teacher's input_shape)."
        )
    if len(want) == 3 and want[0] not in _CHANNELS and want[-1] in _CHANNELS:
        return (
            "the teacher takes channels-last (H, W, C) images, while potstill passes images as "
            "(C, H, W). Export the teacher with an (N, C, H, W) input (e.g. add a transpose "
            "before its first layer) and give input_shape in that layout."
        )
    if len(got) == 1 or len(want) == 1:
        return (
            "the same number of values, but with several channels the order of a flat row "
            "(channel-first or channel-last) is ambiguous. Save the images as an .npz with 'X' "
            "of shape (N, C, H, W)."
        )
    return (
        "the same number of values in another arrangement, which potstill does not guess. "
        "Give images as (C, H, W) or flat rows, and input_shape as (C, H, W) or (d)."
    )


def _reshaped(split: Split, shape: tuple[int, ...]) -> Split:
    X = np.ascontiguousarray(split.X.reshape(len(split.X), *shape))
    return Split(X=X, y=split.y, sensitive=split.sensitive)


def conform_inputs(task: Task, want: Sequence[int], *, source: str) -> tuple[Task, str]:
    """``task`` with inputs of shape ``want`` (one example, no batch axis), and a note of
    what was rearranged ("" when nothing was). ``source`` says where ``want`` came from."""
    want_ = tuple(int(v) for v in want)
    got = tuple(int(v) for v in task.input_shape)
    if task.kind == "text":
        raise DataError(
            f"System '{task.name}' is a text system: its inputs are token ids, so input_shape "
            f"({format_shape(want_)}, {source}) does not apply. Remove it; use max_length."
        )
    if got == want_:
        return task, ""
    how = _arrangement(got, want_) if np.prod(got) == np.prod(want_) else None
    if how is None:
        raise _refuse(task, got, want_, source, _why_not(got, want_))
    kind: Kind = "image" if how == "to_image" else "tabular"
    note = (
        f"Rows of {format_shape(got)} values reshaped to {format_shape(want_)} images for the "
        f"teacher ({source})."
        if how == "to_image"
        else f"Images {format_shape(got)} flattened to {format_shape(want_)} values per row for a "
        f"teacher that takes flat rows ({source})."
    )
    info = dataclasses.replace(task.info, note=f"{task.info.note} {note}".strip())
    names = () if how == "to_image" else task.feature_names  # pixel columns are not features
    conformed = dataclasses.replace(
        task,
        kind=kind,
        info=info,
        feature_names=names,
        train=_reshaped(task.train, want_),
        val=_reshaped(task.val, want_),
        test=_reshaped(task.test, want_),
    )
    return conformed, note
