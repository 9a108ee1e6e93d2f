"""ONNX export, INT8 dynamic quantization and the agreement check that gates timing.

A faster runtime only counts if it computes the same function. So every exported graph
is compared with eager PyTorch on real example rows *before* it is timed: the largest
absolute output difference must stay within ``atol + rtol * max|eager|`` and the
predictions (argmax, or value within that tolerance for single-output models) must agree
on at least ``min_agreement`` of the rows. INT8 is *not* gated here — quantization is
expected to move outputs; its accuracy is re-measured by the evaluate box.

Export uses the torch.export-based exporter (``dynamo=True``, the default since torch 2.9),
which works offline; the batch axis is dynamic so one file serves every batch size. A
TorchScript module goes through the TorchScript-based exporter, the only one that reads it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from potstill.costs.target import LogitsOnly
from potstill.errors import BenchError, ModelError

__all__ = [
    "EXPORT_SETTINGS",
    "INT8_SETTINGS",
    "PRE_PROCESS_KEY",
    "TRACE_ROWS",
    "check_agreement",
    "compare_outputs",
    "export_onnx",
    "int8_settings",
    "quantize_int8",
]

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: Graphs above this many parameter bytes are written with external data (protobuf 2 GB cap).
_EXTERNAL_DATA_BYTES = 1_800_000_000
#: Example rows that trace the graph.
TRACE_ROWS = 2
#: What :func:`export_onnx` does, for the export cache's key (change it with the export).
EXPORT_SETTINGS: dict[str, Any] = {
    "exporter": "torch.onnx.export(dynamo=True); TorchScript modules dynamo=False",
    "wrapper": "LogitsOnly",
    "input_names": ["input"],
    "output_names": ["output"],
    "dynamic_axes": {"input": [0], "output": [0]},
    "external_data_bytes": _EXTERNAL_DATA_BYTES,
    "trace_rows": TRACE_ROWS,
}
#: The INT8 file's metadata key that says why ``quant_pre_process`` was skipped.
PRE_PROCESS_KEY = "potstill.pre_process"
#: What :func:`quantize_int8` does: recorded with each INT8 file, part of its cache key.
INT8_SETTINGS: dict[str, str] = {
    "method": "onnxruntime.quantization.quantize_dynamic",
    "weight_type": "QInt8",
    "activations": "quantized dynamically per call (uint8)",
    "pre_process": "quant_pre_process (shape inference + optimisation)",
}


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's known third-party noise for the duration of one export.

    - torch's own use of a deprecated pytree API raises a FutureWarning on torch 2.13;
    - the op registry logs one warning per torchvision op when torchvision is absent.
    Both are restored on exit; nothing else is filtered.
    """
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:  # onnxscript also logs "Evaluation failed" during constant folding
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning
            )
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_onnx(module: nn.Module, example: np.ndarray, path: Path) -> Path:
    """Export ``module`` (eval mode, logits only) to ``path`` with a dynamic batch axis.

    ``example`` is real input rows (float32); two of them trace the graph. The graph has
    one input "input" and one output "output". Raises ``ModelError`` if export fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    rows = np.ascontiguousarray(example[: min(TRACE_ROWS, len(example))], dtype=np.float32)
    if rows.ndim < 2 or len(rows) == 0:
        raise ModelError(
            f"export_onnx needs example rows shaped (n, ...). Got shape {example.shape} instead."
        )
    wrapped = LogitsOnly(module).eval()
    param_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    batch = torch.export.Dim("batch", min=1)
    try:
        if isinstance(module, torch.jit.ScriptModule):
            _export_torchscript(module, torch.from_numpy(rows), path)
            return path
        with _quiet_exporter(), torch.no_grad():
            torch.onnx.export(
                wrapped,
                (torch.from_numpy(rows),),
                str(path),
                dynamo=True,
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=({0: batch},),
                external_data=param_bytes > _EXTERNAL_DATA_BYTES,
                verbose=False,
            )
    except Exception as exc:  # the exporter raises many unrelated types; all mean "cannot"
        first_line = _ANSI.sub("", str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelError(
            f"Cannot export {type(module).__name__} to ONNX at '{path}': "
            f"{type(exc).__name__}: {first_line} "
            "Skip the 'onnx' runtimes for this model or make its forward exportable."
        ) from exc
    return path


def _export_torchscript(module: nn.Module, rows: torch.Tensor, path: Path) -> None:
    """A TorchScript module through the TorchScript-based exporter, the one that reads it
    (torch.export rejects a ScriptModule); its deprecation notices are torch's, not the
    user's to fix, and are silenced for this call only."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", message=r".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message=r".*The feature will be removed")
        warnings.filterwarnings("ignore", message=r"no signature found for")
        torch.onnx.export(
            module,
            (rows,),
            str(path),
            dynamo=False,
            input_names=["input"],
            output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )


def quantize_int8(fp32_path: Path, out_path: Path) -> dict[str, Any]:
    """Dynamic INT8 quantization (weights QInt8, activations quantized at run time).

    The graph is shape-inferred and optimised first (``quant_pre_process``), as ONNX
    Runtime recommends. Returns what was done, for the record.

    Both steps run with a fresh temporary directory as the working directory: ONNX
    Runtime's symbolic shape inference saves ``sym_shape_infer_temp.onnx`` into the
    *current* directory when it cannot infer every shape, and nothing may be written
    outside the output folder (the directory goes with everything in it).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    fp32_path, out_path = Path(fp32_path).resolve(), Path(out_path).resolve()
    with tempfile.TemporaryDirectory(prefix="potstill-int8-") as work, contextlib.chdir(work):
        pre_path = Path(work) / "pre.onnx"
        skipped = _pre_process(quant_pre_process, fp32_path, pre_path)
        try:
            source = fp32_path if skipped else pre_path
            with _without_pre_process_advice():
                quantize_dynamic(str(source), str(out_path), weight_type=QuantType.QInt8)
        except Exception as exc:  # onnxruntime raises bare Exceptions from C++
            raise BenchError(
                f"Cannot quantize '{fp32_path}' to INT8: {type(exc).__name__}: {exc}. "
                "Remove 'onnx-int8' from the runtimes for this model."
            ) from exc
    if skipped:
        _set_metadata(out_path, PRE_PROCESS_KEY, skipped)
    return int8_settings(out_path)


@contextlib.contextmanager
def _without_pre_process_advice() -> Iterator[None]:
    """ONNX Runtime logs "Please consider to run pre-processing before quantization" on the
    root logger for a graph quantised as exported; potstill records that, and why, in the
    file and the record, so the advice is kept off the user's console."""

    def keep(record: logging.LogRecord) -> bool:
        return "consider to run pre-processing" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _pre_process(run: Any, source: Path, dest: Path) -> str | None:
    """``quant_pre_process`` of ``source`` into ``dest``; None when it worked, else why it
    did not. It is an optimisation ONNX Runtime recommends, not a requirement: its symbolic
    shape inference fails on some valid graphs (e.g. a tree ensemble's), and the graph is
    then quantised as exported, which the file's metadata and the record say."""
    try:
        run(str(source), str(dest))
    except Exception as exc:  # symbolic shape inference raises plain Python errors
        reason = f"{type(exc).__name__}: {exc}".strip()
        log.info(
            "quant_pre_process failed on %s (%s); quantising the graph as exported", source, reason
        )
        return f"skipped (shape inference failed: {reason})"
    return None


def _set_metadata(path: Path, key: str, value: str) -> None:
    model = onnx.load(str(path))
    onnx.helper.set_model_props(
        model, {**{p.key: p.value for p in model.metadata_props}, key: value}
    )
    onnx.save(model, str(path))


def int8_settings(path: Path) -> dict[str, str]:
    """What :func:`quantize_int8` did for the INT8 file at ``path``: :data:`INT8_SETTINGS`,
    with ``pre_process`` replaced by why it was skipped when it was (kept in the file)."""
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return {
        **INT8_SETTINGS,
        **({"pre_process": props[PRE_PROCESS_KEY]} if PRE_PROCESS_KEY in props else {}),
    }


def compare_outputs(
    reference: np.ndarray, candidate: np.ndarray, *, atol: float, rtol: float
) -> dict[str, Any]:
    """Max abs difference and prediction agreement of ``candidate`` against ``reference``;
    ``BenchError`` when either holds no numbers (a saved graph whose first output is the
    class labels), which cannot be compared."""
    for what, values in (("reference", reference), ("candidate", candidate)):
        kind = np.asarray(values).dtype
        if not (np.issubdtype(kind, np.number) or np.issubdtype(kind, np.bool_)):
            raise BenchError(
                f"The {what} runtime's first output holds {kind} values (class labels?), not "
                "numbers, so the two runtimes' outputs cannot be compared. Save the graph with "
                "the scores or probabilities as its first output to measure this runtime."
            )
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise BenchError(
            f"Runtime output shape {cand.shape} differs from the eager output shape {ref.shape}."
        )
    ref = ref.reshape(len(ref), -1)
    cand = cand.reshape(len(cand), -1)
    diff = np.abs(ref - cand)
    tolerance = atol + rtol * float(np.abs(ref).max(initial=0.0))
    if ref.shape[1] >= 2:
        agree = ref.argmax(axis=1) == cand.argmax(axis=1)
        rule = "argmax equal"
    else:
        agree = diff[:, 0] <= tolerance
        rule = "value within tolerance"
    return {
        "max_abs_diff": float(diff.max(initial=0.0)),
        "tolerance": tolerance,
        "agreement": float(agree.mean()) if len(agree) else 1.0,
        "agreement_rule": rule,
        "n_rows": len(ref),
    }


def check_agreement(report: dict[str, Any], *, min_agreement: float, where: str) -> None:
    """Raise ``BenchError`` unless ``report`` (from :func:`compare_outputs`) passes."""
    problems = []
    if not report["max_abs_diff"] <= report["tolerance"]:
        problems.append(
            f"max abs difference {report['max_abs_diff']:.3g} > tolerance {report['tolerance']:.3g}"
        )
    if report["agreement"] < min_agreement:
        problems.append(
            f"prediction agreement {report['agreement']:.4f} < required {min_agreement:.4f}"
        )
    if problems:
        raise BenchError(
            f"{where} failed validation against eager PyTorch on {report['n_rows']} example rows: "
            + "; ".join(problems)
            + ". The exported graph does not compute the same function; it was not timed. "
            "Check the model for data-dependent Python control flow, or loosen onnx_atol / "
            "onnx_rtol / onnx_min_agreement if the difference is acceptable."
        )
