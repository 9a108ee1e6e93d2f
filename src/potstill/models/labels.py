"""A teacher's own class labels, in the order of its output columns.

A classifier's output column ``k`` means whatever class the teacher was trained to put
there; scoring it against class ids sorted alphabetically silently inverts a binary
problem. Each kind of deployed model says its order somewhere: ``classes_`` (scikit-learn,
and the scikit-learn wrappers of XGBoost, LightGBM and CatBoost), the label attributes of
an ONNX classifier (ZipMap keys, ``classlabels_*`` of an ``ai.onnx.ml`` node) or its
metadata (``classes``), ``config.id2label`` (Hugging Face), a ``classes``/``class_names``
attribute (torch). These functions read it, as strings (:func:`label_text`), or return
None when the model does not say.

They also let an ONNX classifier exported by skl2onnx run as it is: its first output is
the predicted label, so the probability output is picked by default
(:func:`onnx_default_output`) and a ZipMap's list of dicts becomes a (n, C) array
(:func:`zipmap_to_array`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from potstill.data.tabular import label_text

__all__ = [
    "hf_labels",
    "label_text",
    "labels_from",
    "onnx_default_output",
    "onnx_labels",
    "sklearn_labels",
    "torch_labels",
    "zipmap_to_array",
]

#: The names transformers gives labels nobody named (LABEL_0, LABEL_1, ...).
_DEFAULT_HF_LABEL = re.compile(r"^LABEL_\d+$")
#: Attributes of ai.onnx.ml classifier nodes (and ZipMap) that list the class labels.
_ONNX_LABEL_ATTRS = ("classlabels_strings", "classlabels_int64s")


def labels_from(values: Any) -> tuple[str, ...] | None:
    """A sequence of class values as label strings; None unless it names >= 2 classes."""
    if values is None or isinstance(values, (str, bytes)):
        return None
    try:
        items = list(np.asarray(values).ravel()) if not isinstance(values, list) else values
    except (TypeError, ValueError):
        return None
    labels = tuple(label_text(v.decode() if isinstance(v, bytes) else v) for v in items)
    return labels if len(labels) >= 2 else None


def sklearn_labels(estimator: Any) -> tuple[str, ...] | None:
    """``estimator.classes_`` (a Pipeline answers for its last step)."""
    try:
        classes = getattr(estimator, "classes_", None)
    except AttributeError:  # a Pipeline whose last step has no classes_
        return None
    return labels_from(classes)


def torch_labels(module: Any) -> tuple[str, ...] | None:
    """A module's ``classes`` or ``class_names`` attribute (TorchScript keeps both)."""
    for name in ("classes", "class_names"):
        value = getattr(module, name, None)
        if isinstance(value, (list, tuple)) and all(
            isinstance(v, (str, int, np.integer)) for v in value
        ):
            return labels_from(list(value))
    return None


def hf_labels(config: Any, num_labels: int) -> tuple[str, ...] | None:
    """``config.id2label`` ordered by id; None for transformers' default ``LABEL_k``
    names or when it does not name every output."""
    id2label = getattr(config, "id2label", None)
    if not isinstance(id2label, Mapping) or len(id2label) != num_labels:
        return None
    try:
        pairs = sorted((int(k), str(v)) for k, v in id2label.items())
    except (TypeError, ValueError):
        return None
    if [k for k, _ in pairs] != list(range(num_labels)):
        return None
    names = tuple(v for _, v in pairs)
    if all(_DEFAULT_HF_LABEL.match(n) for n in names):
        return None
    return labels_from(list(names))


def _metadata_labels(text: str) -> tuple[str, ...] | None:
    text = text.strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = [part.strip() for part in text.split(",") if part.strip()]
    return labels_from(parsed if isinstance(parsed, list) else None)


def onnx_labels(path: Path) -> tuple[str, ...] | None:
    """Metadata ``classes`` (a JSON list or a comma list), else the ``classlabels_*``
    attribute of a ZipMap or ai.onnx.ml classifier node in the graph."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    for prop in model.metadata_props:
        if prop.key == "classes":
            return _metadata_labels(prop.value)
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name in _ONNX_LABEL_ATTRS:
                value = onnx.helper.get_attribute_value(attr)
                labels = labels_from(list(value))
                if labels is not None:
                    return labels
    return None


def onnx_default_output(outputs: Sequence[Any], problem: str) -> tuple[str, bool]:
    """(name, holds probabilities) of the output a classifier is scored on: a sequence of
    maps (ZipMap) or a float tensor named like probabilities, before the first output
    (which skl2onnx makes the predicted label)."""
    if problem == "classification":
        for out in outputs:
            kind = str(out.type)
            if kind.startswith("seq(map(") or (
                kind.startswith("tensor(float") and "prob" in out.name.lower()
            ):
                return out.name, True
    return outputs[0].name, False


def zipmap_to_array(result: Any) -> np.ndarray:
    """A ZipMap output (a list of {label: probability}) as (n, C), columns in key order."""
    if isinstance(result, list) and result and isinstance(result[0], Mapping):
        keys = list(result[0].keys())
        return np.asarray([[row[k] for k in keys] for row in result], dtype=np.float32)
    return np.asarray(result)
