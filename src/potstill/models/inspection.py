"""What a teacher file holds, before any distillation: ``potstill inspect TEACHER``.

A user bringing a model wants to know what potstill sees in it: its inputs (names, shapes,
dtypes), outputs, classes, what problem it looks like, how many parameters it has, and
what feature and relation methods could tap — the candidate hidden tensors of an ONNX
graph, the layers of a torch module, the trees and leaves of an ensemble. This module
opens the file with :func:`~potstill.models.teacher.load_teacher` (so it refuses exactly
what a study would refuse) and returns a JSON-ready dict; :func:`render_inspection`
prints it for a terminal and ends with the dict as one JSON line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from potstill.errors import ConfigError, ModelError
from potstill.models.backends import SklearnBackend
from potstill.models.gbm import GBMBackend
from potstill.models.hf.model import HFClassifier
from potstill.models.onnx_backend import OnnxBackend
from potstill.models.onnx_taps import candidate_taps
from potstill.models.scripted import script_input_width, script_taps
from potstill.models.teacher import Teacher, load_teacher
from potstill.models.tree_embedding import leaf_support, tree_leaves

__all__ = ["expected_input_shape", "inspect_teacher", "render_inspection"]

_TORCH_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid,
                 nn.LayerNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.Sequential)  # fmt: skip
_NO_TAPS = (
    "No candidate hidden tensors (no activation, linear or convolution output with the "
    "input's batch axis): feature and relation methods do not apply to this graph."
)
_CLASS_ATTRS = ("classlabels_strings", "classlabels_int64s")


def _open(path: Path, trust_pickle: bool) -> Teacher:
    """Load for inspection: as a classifier, else (a regressor refuses that) as a regressor."""
    try:
        return load_teacher(path, problem="classification", trust_pickle=trust_pickle)
    except (ConfigError, ModelError) as first:
        try:
            return load_teacher(path, problem="regression", trust_pickle=trust_pickle)
        except (ConfigError, ModelError):
            raise first from None


def _jsonable(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


# ---------------------------------------------------------------------- ONNX


def _onnx_classes(model: Any) -> list[Any] | None:
    for node in model.graph.node:
        for attr in node.attribute:
            if attr.name in _CLASS_ATTRS:
                if attr.strings:
                    return [s.decode() for s in attr.strings]
                return [int(i) for i in attr.ints]
    for init in model.graph.initializer:  # skl2onnx keeps a classifier's classes here
        if init.name == "classes":
            from onnx import numpy_helper

            return [_jsonable(c) for c in numpy_helper.to_array(init).ravel()]
    for prop in model.metadata_props:
        if "class" in prop.key.lower() or "label" in prop.key.lower():
            try:
                parsed = json.loads(prop.value)
            except json.JSONDecodeError:
                parsed = [part.strip() for part in prop.value.split(",")]
            if isinstance(parsed, dict):
                parsed = [parsed[k] for k in sorted(parsed, key=lambda k: int(k))]
            return list(parsed) if isinstance(parsed, list) else None
    return None


def _io(name: str, shape: Sequence[Any] | None, dtype: str) -> dict[str, Any]:
    return {"name": name, "shape": None if shape is None else list(shape), "dtype": dtype}


def _onnx(backend: OnnxBackend) -> dict[str, Any]:
    import onnx

    model = onnx.load(str(backend.path))
    outputs = [_io(o.name, o.shape, o.type) for o in backend.session.get_outputs()]
    chosen = set(backend.hidden_layer_names())
    hidden = []
    for tap in candidate_taps(model, backend.output_name):
        item: dict[str, Any] = {"name": tap.name, "op": tap.op, "role": tap.role, "kind": tap.kind}
        item |= {"shape": list(tap.shape)}
        item |= {
            "default": tap.name in chosen,
            "embedding": tap.name == backend.embedding_layer_name(),
        }
        hidden.append(item)
    return {
        "inputs": [_io(i.name, i.shape, i.type) for i in backend.session.get_inputs()],
        "outputs": outputs,
        "output_used": backend.output_name,
        "classes": _onnx_classes(model),
        "problem": _problem_from_width(outputs, backend.output_name),
        "hidden": hidden,
        "note": None if hidden else _NO_TAPS,
    }


def _problem_from_width(outputs: list[dict[str, Any]], used: str) -> str:
    if any("int64" in o["dtype"] or "string" in o["dtype"] for o in outputs):
        return "classification"  # a label output
    shape = next((o["shape"] for o in outputs if o["name"] == used), None) or []
    width = shape[-1] if shape and isinstance(shape[-1], int) else None
    return "regression" if width == 1 or len(shape) == 1 else "classification"


# ---------------------------------------------------------------------- torch


def expected_input_shape(
    module: nn.Module, given: tuple[int, ...] | None = None
) -> tuple[int, ...] | None:
    """The per-row input shape a torch teacher takes (``given`` wins), if it can be read."""
    if given is not None:
        return given
    if isinstance(module, HFClassifier):  # token ids and attention mask, (n, 2, L)
        return (2, int(module.max_length))
    spec = getattr(module, "spec", None)
    if callable(spec) and not isinstance(module, torch.jit.ScriptModule):
        s = spec()
        if "in_channels" in s and "input_size" in s:
            return (int(s["in_channels"]), int(s["input_size"]), int(s["input_size"]))
    if isinstance(module, torch.jit.ScriptModule):
        width = script_input_width(module)
        return None if width is None else (width,)
    first = next((m for m in module.modules() if isinstance(m, (nn.Linear, nn.Conv2d))), None)
    return (first.in_features,) if isinstance(first, nn.Linear) else None


def _probe_shapes(module: nn.Module, shape: tuple[int, ...]) -> tuple[dict[str, list[Any]], Any]:
    """Output shape of every named submodule on a batch of 2 rows of ones, and the output."""
    seen: dict[str, list[Any]] = {}
    hooks = []
    for name, sub in module.named_modules():
        if name and not isinstance(module, torch.jit.ScriptModule):
            hooks.append(sub.register_forward_hook(_recorder(seen, name)))
    chain = script_taps(module)
    try:
        with torch.no_grad():
            out = module.eval()(torch.ones((2, *shape)))  # ones: a valid token id and mask
            if chain is not None:  # TorchScript: its chain's steps, run in sequence
                _, steps = chain.run(torch.ones((2, *shape)), set(chain.names))
                seen |= {n: ["batch", *t.shape[1:]] for n, t in steps.items()}
    except (RuntimeError, ValueError) as exc:
        raise ModelError(
            f"The torch teacher does not accept inputs of shape (batch, {', '.join(map(str, shape))})"
            f": {exc}. Give the right --input-shape."
        ) from exc
    finally:
        for hook in hooks:
            hook.remove()
    return seen, out[0] if isinstance(out, (tuple, list)) else out


def _recorder(seen: dict[str, list[Any]], name: str) -> Any:
    def hook(_m: nn.Module, _i: Any, output: Any) -> None:
        first = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(first, torch.Tensor):
            seen[name] = ["batch", *first.shape[1:]]

    return hook


def _hf_classes(module: nn.Module) -> list[Any] | None:
    """A Hugging Face classifier's ``id2label``, unless it is the generic LABEL_i."""
    if not isinstance(module, HFClassifier) or not module.num_labels:
        return None
    id2label = getattr(module.backbone.config, "id2label", None) or {}
    labels = [id2label.get(i, id2label.get(str(i))) for i in range(module.num_labels)]
    generic = all(label == f"LABEL_{i}" for i, label in enumerate(labels))
    return None if generic or None in labels else labels


def _torch(teacher: Teacher, module: nn.Module, given: tuple[int, ...] | None) -> dict[str, Any]:
    shape = expected_input_shape(module, given)
    scripted = isinstance(module, torch.jit.ScriptModule)
    shapes: dict[str, list[Any]] = {}
    out = None
    if shape is not None:
        shapes, out = _probe_shapes(module, shape)
    out_shape = ["batch", *out.shape[1:]] if isinstance(out, torch.Tensor) else None
    width = int(out.shape[-1]) if isinstance(out, torch.Tensor) and out.ndim > 1 else None
    guess = None if width is None else ("regression" if width == 1 else "classification")
    hidden = []
    for name, sub in module.named_modules():
        chosen = name in teacher.hidden_layer_names() or name == teacher.embedding_layer_name()
        if name and (scripted or chosen or isinstance(sub, _TORCH_LAYERS)):
            kind = getattr(sub, "original_name", None) if scripted else type(sub).__name__
            item: dict[str, Any] = {"name": name, "type": str(kind), "shape": shapes.get(name)}
            item |= {"default": name in teacher.hidden_layer_names()}
            hidden.append(item | {"embedding": name == teacher.embedding_layer_name()})
    dtype = "int64 (token ids, attention mask)" if isinstance(module, HFClassifier) else "float32"
    note = None
    if scripted:
        note = (
            "TorchScript: no forward hooks; the hidden layers are the steps of its verified "
            "chain, run in sequence."
            if teacher.hidden_layer_names()
            else "TorchScript: no forward hooks, and its submodules run in sequence do not "
            "reproduce its output, so it exposes logits only."
        )
    elif shape is None:
        note = "Give --input-shape to see the layers' shapes."
    return {
        "inputs": [_io("input", None if shape is None else ["batch", *shape], dtype)],
        "outputs": [_io("output", out_shape, "float32")],
        "classes": _hf_classes(module),
        "problem": getattr(module, "problem", None) or guess,
        "hidden": hidden,
        "note": note,
    }


# ---------------------------------------------------------------------- trees / sklearn


def _trees(backend: SklearnBackend | GBMBackend) -> dict[str, Any] | None:
    model = backend.estimator if isinstance(backend, SklearnBackend) else None
    leaves = tree_leaves(model) if model is not None else backend.leaves
    if leaves is None:
        return None
    counts = np.asarray(leaves.n_leaves)
    per_tree = {"min": int(counts.min()), "mean": float(counts.mean()), "max": int(counts.max())}
    return {
        "library": leaves.library,
        "n_trees": len(counts),
        "leaves": int(counts.sum()),
        "leaves_per_tree": per_tree,
        "embedding_width": backend.leaf_width if backend.leaves is not None else 0,
    }


def _sklearn(backend: SklearnBackend) -> dict[str, Any]:
    est = backend.estimator
    n_in = getattr(est, "n_features_in_", None)
    names = getattr(est, "feature_names_in_", None)
    classes = getattr(est, "classes_", None)
    is_clf = classes is not None and callable(getattr(est, "predict_proba", None))
    inputs = _io("X", None if n_in is None else ["batch", int(n_in)], "float32")
    inputs["features"] = None if names is None else [str(n) for n in names]
    output = _io(
        "predict_proba" if is_clf else "predict",
        ["batch", len(classes)] if classes is not None and is_clf else ["batch"],
        "float64",
    )
    trees = _trees(backend)
    return {
        "inputs": [inputs],
        "outputs": [output],
        "classes": None if classes is None else [_jsonable(c) for c in classes],
        "problem": "classification" if is_clf else "regression",
        "hidden": [],
        "trees": trees,
        "note": None if trees is not None else leaf_support(est),
    }


def _gbm(backend: GBMBackend) -> dict[str, Any]:
    """A GBM file read by its own library: width, objective, classes, trees."""
    is_clf = backend.problem == "classification"
    row = np.zeros((1, backend.n_features), dtype=np.float32)
    width = backend.predict_scores(row, 1).shape[-1] if is_clf else None
    labels = backend.class_labels()
    trees = _trees(backend)
    name = f"{backend.objective} ({'probabilities' if is_clf else 'values'})"
    return {
        "inputs": [_io("X", ["batch", backend.n_features], "float32")],
        "outputs": [_io(name, ["batch", width] if is_clf else ["batch"], "float64")],
        "classes": None if labels is None else list(labels),
        "problem": backend.problem,
        "hidden": [],
        "trees": trees,
        "note": None if trees is not None else "no leaf embedding (a linear booster has no trees)",
    }


def inspect_teacher(
    path: Path, *, trust_pickle: bool = False, input_shape: tuple[int, ...] | None = None
) -> dict[str, Any]:
    """What the teacher file at ``path`` holds, as a JSON-ready dict (see the module doc)."""
    teacher = _open(Path(path), trust_pickle)
    backend = teacher.engine
    if isinstance(backend, OnnxBackend):
        info = _onnx(backend)
    elif isinstance(backend, SklearnBackend):
        info = _sklearn(backend)
    elif isinstance(backend, GBMBackend):
        info = _gbm(backend)
    elif teacher.module is not None:
        info = _torch(teacher, teacher.module, input_shape)
    else:
        raise ModelError(f"potstill inspect cannot describe a {teacher.backend} teacher yet.")
    head = {"path": str(path), "backend": teacher.backend, "params": teacher.describe()["params"]}
    return {**head, **info, "capabilities": sorted(teacher.capabilities)}


def _line(item: dict[str, Any]) -> str:
    shape = item.get("shape")
    shown = (
        "?" if shape is None else "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"
    )
    marks = [m for m in ("default", "embedding") if item.get(m)]
    kind = item.get("op") or item.get("type") or item.get("dtype") or ""
    return f"  {item['name']:<40} {kind:<16} {shown}" + (f"  [{', '.join(marks)}]" if marks else "")


def render_inspection(info: dict[str, Any]) -> str:
    """A readable summary of :func:`inspect_teacher`'s dict, then the dict as one JSON line."""
    params = info["params"]
    lines = [
        f"teacher: {info['path']}  (backend {info['backend']}, problem guess "
        f"{info['problem'] or 'unknown'}, parameters {'—' if params is None else f'{params:,}'})",
        "inputs:", *(_line(i) for i in info["inputs"]),
        "outputs:", *(_line(o) for o in info["outputs"]),
        f"classes: {info['classes'] if info['classes'] is not None else 'not stated in the file'}",
        f"capabilities: {', '.join(info['capabilities'])}",
    ]  # fmt: skip
    if info.get("hidden"):
        lines += [f"candidate hidden layers ({len(info['hidden'])}):"]
        lines += [_line(h) for h in info["hidden"]]
    if info.get("trees"):
        t = info["trees"]
        per = t["leaves_per_tree"]
        lines.append(
            f"trees: {t['n_trees']} ({t['library']}), {t['leaves']} leaves "
            f"(per tree {per['min']}–{per['max']}, mean {per['mean']:.1f}); "
            f"leaf embedding width {t['embedding_width']}"
        )
    if info.get("note"):
        lines.append(f"note: {info['note']}")
    return "\n".join(lines) + "\n" + json.dumps(info, default=str) + "\n"
