"""The runtimes a model can be served on, as a registry of builders.

Each runtime turns a :class:`BenchTarget` into a numpy-in, numpy-out predictor (so every
runtime pays the same conversion costs) plus what the record needs: the artefact a fresh
process would load, its bytes on disk, and notes such as the validation report. New
runtimes register with ``@register_runtime(name, applies=...)``; ``create_runtime`` builds
one by name and lists the valid names when asked for an unknown one.

ONNX (FP32) and ``torch.compile`` are validated against eager before they may be timed
(:mod:`potstill.costs.onnx_export`); INT8 is recorded, not gated — its accuracy is
re-measured through :func:`runtime_predictor`, never assumed.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill.costs.export_cache import ExportCache, file_key, int8_key, module_key
from potstill.costs.footprint import bytes_on_disk, safetensors_bytes
from potstill.costs.onnx_export import (
    EXPORT_SETTINGS,
    INT8_SETTINGS,
    TRACE_ROWS,
    check_agreement,
    compare_outputs,
    export_onnx,
    int8_settings,
    quantize_int8,
)
from potstill.costs.target import BenchTarget, as_logits
from potstill.errors import BenchError
from potstill.registry import Registry
from potstill.types import CostProfile

__all__ = [
    "BuildContext",
    "Built",
    "Predictor",
    "applicable_runtimes",
    "create_runtime",
    "register_runtime",
    "runtime_names",
    "runtime_predictor",
    "saved_predictor",
]

Predictor = Callable[[np.ndarray], np.ndarray]
#: Rows of the example used to validate a runtime against eager.
_VALIDATION_ROWS = 256


@dataclass
class BuildContext:
    """What a runtime builder needs besides the target."""

    workdir: Path
    threads: int = 1
    device: str = "cpu"
    atol: float = 1e-4
    rtol: float = 1e-3
    min_agreement: float = 0.99
    #: target name → (FP32 export, its validation report against eager)
    onnx_files: dict[str, tuple[Path, dict[str, Any]]] = field(default_factory=dict)
    #: Exported files kept across benchmarks (:mod:`.export_cache`); None: export anew.
    exports: ExportCache | None = None
    #: target name → (its FP32 export's cache key, the cache's answer: hit/miss/corrupt)
    export_keys: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass
class Built:
    """A ready predictor and what the record keeps about it."""

    predict: Predictor
    create_s: float = 0.0  # seconds to build (export / compile / session creation)
    artefact: Path | None = None  # what a fresh process loads for the memory probe
    artefact_kind: str | None = None  # "onnx" | "potstill" | "pt2" | "torchscript"
    bytes_on_disk: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[BenchTarget, BuildContext], Built]
_REGISTRY: Registry[tuple[Callable[[BenchTarget], bool], Builder]] = Registry(
    "runtime", error=BenchError, plural="runtimes"
)


def register_runtime(
    name: str, *, applies: Callable[[BenchTarget], bool]
) -> Callable[[Builder], Builder]:
    """Register ``builder`` as runtime ``name`` for the targets ``applies`` accepts."""

    def decorator(builder: Builder) -> Builder:
        _REGISTRY.register(name, (applies, builder))
        return builder

    return decorator


def runtime_names() -> tuple[str, ...]:
    """Every registered runtime name."""
    return tuple(_REGISTRY)


def applicable_runtimes(target: BenchTarget, configured: tuple[str, ...]) -> list[str]:
    """The configured runtimes that apply to ``target`` ("native" for black boxes)."""
    names = ("native", *configured)
    return [n for n in dict.fromkeys(names) if n in _REGISTRY and _REGISTRY[n][0](target)]


def create_runtime(name: str, target: BenchTarget, ctx: BuildContext) -> Built:
    """Build runtime ``name`` for ``target``; ``BenchError`` if unknown or inapplicable."""
    applies, builder = _REGISTRY.lookup(name)
    if not applies(target):
        raise BenchError(
            f"Runtime {name!r} does not apply to target '{target.name}' (a {target.kind} "
            "target): torch modules run on eager/compile/onnx/onnx-int8, black-box predict "
            "callables on native, saved .onnx files on onnx/onnx-int8."
        )
    start = time.perf_counter()
    built = builder(target, ctx)
    built.create_s = time.perf_counter() - start
    return built


def runtime_predictor(
    target: BenchTarget, runtime: str, *, threads: int = 1, device: str = "cpu"
) -> Predictor:
    """A numpy-in, numpy-out predictor of ``target`` on ``runtime`` (outputs: logits).

    The evaluate box calls this to re-measure the accuracy of the ONNX and INT8 variants.
    FP32 ONNX is validated against eager first (``BenchError`` if it disagrees). Exported
    files live in a temporary folder only while the session is created.
    """
    with tempfile.TemporaryDirectory(prefix="potstill-runtime-") as tmp:
        ctx = BuildContext(workdir=Path(tmp), threads=threads, device=device)
        return create_runtime(runtime, target, ctx).predict


def saved_predictor(profile: CostProfile, threads: int = 1) -> Predictor | None:
    """A predictor on the very ONNX file ``profile`` timed (kept when the bench had an
    ``export_dir``), so re-scoring a runtime does not export the model again; None when
    the profile names no file that still exists."""
    artefact = profile.extra.get("artefact")
    if not isinstance(artefact, str) or not Path(artefact).is_file():
        return None
    return _ort_predictor(Path(artefact), threads, "cpu")


# --------------------------------------------------------------------------- predictors


def _torch_predictor(module: torch.nn.Module, device: str) -> Predictor:
    dev = torch.device(device)

    def predict(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = as_logits(module(torch.from_numpy(x).to(dev)))
            return out.detach().cpu().numpy()

    return predict


def _ort_predictor(path: Path, threads: int, device: str) -> Predictor:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BenchError(
                "ONNX Runtime has no CUDAExecutionProvider in this environment; install "
                "onnxruntime-gpu or benchmark with device='cpu'."
            )
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(str(path), options, providers=providers)
    input_name = session.get_inputs()[0].name

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {input_name: x})[0])

    return predict


def _validation_rows(target: BenchTarget) -> np.ndarray:
    return np.ascontiguousarray(target.example[:_VALIDATION_ROWS])


def _eager_module(target: BenchTarget, device: str) -> torch.nn.Module:
    assert target.module is not None
    module = target.module.eval()
    return copy.deepcopy(module).to(device) if device != "cpu" else module


def _fp32_onnx(target: BenchTarget, ctx: BuildContext) -> tuple[Path, dict[str, Any] | str]:
    """The target's validated FP32 ONNX file and its validation report.

    A saved ``.onnx`` is used as given (no torch reference to validate against). A module
    is exported once per build context and checked against eager; a failed check raises
    ``BenchError`` here, so INT8 is never built from an export that computes something else.
    """
    if target.module is None:
        assert target.path is not None
        return target.path, "none: no torch reference for a saved .onnx"
    if target.name not in ctx.onnx_files:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in target.name)
        path = _export(target, ctx, ctx.workdir / f"{safe}.onnx")
        rows = _validation_rows(target)
        reference = _torch_predictor(_eager_module(target, ctx.device), ctx.device)(rows)
        candidate = _ort_predictor(path, ctx.threads, ctx.device)(rows)
        report = compare_outputs(reference, candidate, atol=ctx.atol, rtol=ctx.rtol)
        ctx.onnx_files[target.name] = (path, report)
    path, report = ctx.onnx_files[target.name]
    check_agreement(
        report, min_agreement=ctx.min_agreement, where=f"ONNX export of '{target.name}'"
    )
    return path, report


def _export(target: BenchTarget, ctx: BuildContext, dest: Path) -> Path:
    """:func:`export_onnx` of the target's module to ``dest``, copied from the export cache
    when it holds this module's export (its key and the cache's answer: ``ctx.export_keys``)."""
    assert target.module is not None
    module = target.module.eval()
    if ctx.exports is None:
        return export_onnx(module, target.example, dest)
    key = module_key(module, target.example[:TRACE_ROWS], EXPORT_SETTINGS)
    status = ctx.exports.fetch(key, "fp32", dest)
    if status != "hit":
        export_onnx(module, target.example, dest)
        ctx.exports.store(key, "fp32", dest)
    ctx.export_keys[target.name] = (key, status)
    return dest


def _quantize(target: BenchTarget, ctx: BuildContext, fp32: Path, out: Path) -> str:
    """:func:`quantize_int8` of ``fp32`` to ``out``, copied from the export cache when it
    holds it; returns the cache's answer ("hit", "miss", "corrupt"; "off" without one)."""
    if ctx.exports is None:
        quantize_int8(fp32, out)
        return "off"
    base = ctx.export_keys[target.name][0] if target.name in ctx.export_keys else file_key(fp32)
    key = int8_key(base, INT8_SETTINGS)
    status = ctx.exports.fetch(key, "int8", out)
    if status != "hit":
        quantize_int8(fp32, out)
        ctx.exports.store(key, "int8", out)
    return status


def _export_cache_note(target: BenchTarget, ctx: BuildContext) -> str:
    """What the export cache did for the target's FP32 file (a given file: "given file")."""
    if target.module is None:
        return "given file"
    return ctx.export_keys[target.name][1] if target.name in ctx.export_keys else "off"


def _has_module(target: BenchTarget) -> bool:
    return target.module is not None


def _onnx_capable(target: BenchTarget) -> bool:
    return target.module is not None or target.kind == "onnx"


# --------------------------------------------------------------------------- runtimes


@register_runtime("eager", applies=_has_module)
def _build_eager(target: BenchTarget, ctx: BuildContext) -> Built:
    module = _eager_module(target, ctx.device)
    size = bytes_on_disk(target.path) if target.path is not None else None
    notes = {"bytes_on_disk_source": "artefact" if size is not None else "safetensors in memory"}
    if size is None:
        size = safetensors_bytes(module)
    saved_dir = target.path if target.path is not None and target.path.is_dir() else None
    scripted = isinstance(target.module, torch.jit.ScriptModule)
    return Built(
        _torch_predictor(module, ctx.device),
        artefact=saved_dir,
        artefact_kind="potstill" if saved_dir else ("torchscript" if scripted else "pt2"),
        bytes_on_disk=size,
        notes=notes,
    )


@register_runtime("compile", applies=_has_module)
def _build_compile(target: BenchTarget, ctx: BuildContext) -> Built:
    module = _eager_module(target, ctx.device)
    rows = _validation_rows(target)
    reference = _torch_predictor(module, ctx.device)(rows)
    try:
        compiled = torch.compile(module)
        predict = _torch_predictor(compiled, ctx.device)  # type: ignore[arg-type]
        candidate = predict(rows)
    except Exception as exc:  # inductor raises many types (no compiler, unsupported op…)
        raise BenchError(
            f"torch.compile is not usable for '{target.name}' on this platform: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}."
        ) from exc
    report = compare_outputs(reference, candidate, atol=ctx.atol, rtol=ctx.rtol)
    check_agreement(
        report, min_agreement=ctx.min_agreement, where=f"torch.compile of '{target.name}'"
    )
    size = bytes_on_disk(target.path) if target.path is not None else safetensors_bytes(module)
    return Built(predict, bytes_on_disk=size, notes={"validation": report, "backend": "inductor"})


@register_runtime("onnx", applies=_onnx_capable)
def _build_onnx(target: BenchTarget, ctx: BuildContext) -> Built:
    path, report = _fp32_onnx(target, ctx)
    predict = _ort_predictor(path, ctx.threads, ctx.device)
    exporter = "torch.onnx.export(dynamo=True)" if target.module is not None else "given file"
    notes: dict[str, Any] = {"exporter": exporter, "validation": report,
                             "export_cache": _export_cache_note(target, ctx)}  # fmt: skip
    return Built(
        predict, artefact=path, artefact_kind="onnx", bytes_on_disk=bytes_on_disk(path), notes=notes
    )


@register_runtime("onnx-int8", applies=_onnx_capable)
def _build_int8(target: BenchTarget, ctx: BuildContext) -> Built:
    fp32, fp32_report = _fp32_onnx(target, ctx)
    out = ctx.workdir / f"{fp32.stem}.int8.onnx"
    cache = _quantize(target, ctx, fp32, out)
    notes: dict[str, Any] = {"quantization": int8_settings(out), "export_cache": cache}
    predict = _ort_predictor(out, ctx.threads, ctx.device)
    rows = _validation_rows(target)
    if target.module is not None:
        reference = _torch_predictor(_eager_module(target, ctx.device), ctx.device)(rows)
        against = "eager"
    else:
        reference, against = _ort_predictor(fp32, ctx.threads, ctx.device)(rows), "onnx fp32"
    report = compare_outputs(reference, predict(rows), atol=ctx.atol, rtol=ctx.rtol)
    notes["agreement_vs_" + against.replace(" ", "_")] = {**report, "gated": False}
    notes["fp32_validation"] = fp32_report
    notes["fp32_bytes"] = bytes_on_disk(fp32)
    return Built(
        predict, artefact=out, artefact_kind="onnx", bytes_on_disk=bytes_on_disk(out), notes=notes
    )


@register_runtime("native", applies=lambda t: t.module is None and t.predict is not None)
def _build_native(target: BenchTarget, ctx: BuildContext) -> Built:
    fn = target.predict
    assert fn is not None

    def predict(x: np.ndarray) -> np.ndarray:
        return np.asarray(fn(x))

    size = bytes_on_disk(target.path) if target.path is not None else None
    return Built(predict, bytes_on_disk=size, notes={"runtime": "the given predict callable"})
