"""The library behind ``potstill bench MODEL...`` and ``potstill prices``.

``bench_paths`` turns saved models (potstill model directories and ``.onnx`` files) into
benchmark targets and measures them together (interleaved, as the study does);
``render_bench`` gives the pretty table followed by one JSON line for scripts. Saved models
carry no data, so they are timed on seeded standard-normal rows of their input shape —
fine for latency, which does not depend on the values for these architectures.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from potstill.costs.config import BenchConfig
from potstill.costs.harness import measure
from potstill.costs.prices import PriceCatalog
from potstill.costs.target import BenchTarget
from potstill.errors import BenchError
from potstill.models.export import load_model, load_model_info
from potstill.types import CostProfile, to_jsonable

__all__ = [
    "bench_paths",
    "json_line",
    "onnx_file_problem",
    "render_bench",
    "render_prices",
    "render_table",
]


def _onnx_input_shape(path: Path) -> tuple[int, ...]:
    import onnx

    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:  # protobuf's DecodeError and friends: a truncated or foreign file
        raise BenchError(
            f"'{path}' cannot be read as an ONNX model ({type(exc).__name__}: {exc}). The file "
            "may be truncated or not ONNX; export it again."
        ) from None
    initializers = {init.name for init in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise BenchError(
            f"'{path}' has {len(inputs)} graph inputs; potstill bench needs exactly 1."
        )
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        raise BenchError(
            f"The input of '{path}' is not float32; potstill bench feeds float32 rows."
        )
    dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim][1:]
    if any(d is None or d < 1 for d in dims):
        raise BenchError(
            f"The input of '{path}' has non-fixed dimensions beyond the batch axis ({dims}); "
            "pass input_shape explicitly."
        )
    return tuple(int(d) for d in dims if d is not None)


def onnx_file_problem(path: Path, input_shape: Sequence[int]) -> str | None:
    """Why the bench's own ONNX Runtime session cannot time ``path`` on float32 rows of
    ``input_shape`` at every batch size (None when it can): the study then times an ONNX
    teacher through its own session instead, and says so."""
    import onnx

    try:
        shape = _onnx_input_shape(path)
    except BenchError as exc:
        return str(exc)
    if shape != tuple(input_shape):
        return f"its input shape {shape} is not the data's {tuple(input_shape)}"
    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {init.name for init in graph.initializer}
    first = next(i for i in graph.input if i.name not in initializers).type.tensor_type.shape.dim
    if first and first[0].HasField("dim_value") and first[0].dim_value >= 1:
        return f"its batch size is fixed to {first[0].dim_value}"
    return None


def _model_dir_input_shape(directory: Path, meta: dict[str, Any]) -> tuple[int, ...] | None:
    """The input shape a potstill model directory records, if any."""
    for holder in (meta, meta.get("extra", {}), meta.get("spec", {})):
        shape = holder.get("input_shape") if isinstance(holder, dict) else None
        if shape:
            return tuple(int(v) for v in shape)
    in_features = meta.get("spec", {}).get("in_features")
    return (int(in_features),) if in_features else None


#: The largest batch of example inputs the bench makes (float32 bytes).
MAX_EXAMPLE_BYTES = 2 * 1024**3


def _check_example_size(path: Path, rows: int, shape: tuple[int, ...]) -> None:
    """Refuse, before allocating, an input shape whose example batch would not fit."""
    need = rows * 4 * math.prod(shape)
    if need > MAX_EXAMPLE_BYTES:
        raise BenchError(
            f"The input shape {shape} of '{path}' makes a {rows}-row example batch of "
            f"{need / 1024**3:,.1f} GiB (float32), over the {MAX_EXAMPLE_BYTES / 1024**3:g} GiB "
            "the bench allows. Check --input-shape: it is the shape of ONE input, without the "
            "batch axis (e.g. 1,28,28)."
        )


def _target_for(
    path: Path, input_shape: tuple[int, ...] | None, rows: int, seed: int
) -> BenchTarget:
    path = Path(path)
    if path.is_dir() and (path / "model.json").is_file():
        module = load_model(path)
        shape = input_shape or _model_dir_input_shape(path, load_model_info(path))
        kind: dict[str, Any] = {"module": module}
    elif path.is_file() and path.suffix == ".onnx":
        shape = input_shape or _onnx_input_shape(path)
        kind = {}
    else:
        raise BenchError(
            f"Cannot benchmark '{path}': expected a potstill model directory (with model.json "
            "and safetensors weights) or an .onnx file."
        )
    if shape is None:
        raise BenchError(
            f"'{path}' does not record its input shape; pass it explicitly "
            "(e.g. input_shape=(1, 28, 28) for images)."
        )
    _check_example_size(path, rows, shape)
    example = np.random.default_rng(seed).standard_normal((rows, *shape)).astype(np.float32)
    return BenchTarget(name=str(path), example=example, path=path, **kind)


def bench_paths(
    paths: Sequence[Path],
    config: BenchConfig,
    *,
    input_shape: tuple[int, ...] | None = None,
    seed: int = 0,
) -> list[CostProfile]:
    """Benchmark saved models together (``potstill bench MODEL [MODEL ...]``)."""
    rows = max(max(config.batch_sizes), 64)
    targets = [_target_for(Path(p), input_shape, rows, seed) for p in paths]
    return measure(targets, config)


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "—" if value is None else format(value, spec)


def render_table(profiles: Sequence[CostProfile]) -> str:
    """A rich table of the profiles as plain text († unreliable percentile, ! flagged CV)."""
    table = Table(title="potstill bench", header_style="bold")
    for column in (
        "model",
        "runtime",
        "p50 ms",
        "p99 ms",
        "CV",
        "throughput/s",
        "batch",
        "peak MB",
        "params",
        "bytes",
        "FLOPs/sample",
    ):
        table.add_column(column, justify="left" if column in ("model", "runtime") else "right")
    for p in profiles:
        lat = p.latency
        table.add_row(
            p.model,
            p.runtime,
            _fmt(lat.p50_ms, ".4g"),
            _fmt(lat.p99_ms, ".4g") + (" †" if "p99" in lat.unreliable else ""),
            f"{lat.cv:.1%}" + (" !" if "cv>10%" in lat.flags else ""),
            _fmt(p.throughput, ",.0f"),
            str(p.throughput_batch),
            _fmt(p.peak_memory_mb, ",.0f"),
            f"{p.params:,}",
            _fmt(p.bytes_on_disk, ","),
            _fmt(p.flops_per_sample, ".3g"),
        )
    buffer = io.StringIO()
    Console(file=buffer, width=160, color_system=None, force_terminal=False).print(table)
    notes = "† fewer samples than the percentile needs (p99: 662); ! CV above 10 %"
    return buffer.getvalue() + notes + "\n"


def json_line(profiles: Sequence[CostProfile]) -> str:
    """Every profile as one line of JSON (NaN/inf as null), for scripts."""
    return json.dumps(to_jsonable(list(profiles)), separators=(",", ":"), allow_nan=False)


def render_bench(profiles: Sequence[CostProfile]) -> str:
    """What ``potstill bench`` prints: the table, then the final JSON line."""
    return render_table(profiles) + json_line(profiles) + "\n"


def render_prices(catalog: PriceCatalog) -> str:
    """The price catalog as a table (``potstill prices``), with its date and sources."""
    table = Table(title=f"potstill prices (on-demand list prices as of {catalog.prices_as_of})")
    for column in ("id", "provider", "region", "$/h", "vCPUs", "GiB", "accelerator", "date"):
        table.add_column(column, justify="right" if column in ("$/h", "vCPUs", "GiB") else "left")
    for e in catalog.entries:
        accel = f"{e.accelerator_count}× {e.accelerator}" if e.accelerator else "—"
        table.add_row(
            e.id,
            e.provider,
            e.region,
            f"{e.usd_per_hour:.4f}",
            str(e.vcpus),
            f"{e.memory_gib:g}",
            accel,
            e.date.isoformat(),
        )
    buffer = io.StringIO()
    Console(file=buffer, width=140, color_system=None, force_terminal=False).print(table)
    sources = sorted({e.source for e in catalog.entries})
    return (
        buffer.getvalue()
        + "Sources: "
        + ", ".join(sources)
        + "\n"
        + ("Files: " + ", ".join(catalog.sources) + ". List prices; override with your own.\n")
    )
