"""potstill.costs — the cost instrument: measure inference cost, then price it.

The harness (:func:`measure`) times every model × runtime the way MLPerf does — warm-up,
interleaved blocks, both stopping rules, reliability-guarded percentiles, single-stream,
offline and server scenarios — and records footprint, energy, cold start and peak memory.
The cost model (:func:`cost_of`, :func:`waterfall`) turns a profile and a price-catalog
entry (:class:`PriceCatalog`) into $ per 1M predictions, instances at a load, monthly cost,
and what distillation, the runtime and quantization each saved.
"""

from __future__ import annotations

from potstill.costs.bench import (
    bench_paths,
    json_line,
    onnx_file_problem,
    render_bench,
    render_prices,
    render_table,
)
from potstill.costs.config import PRESETS, BenchConfig
from potstill.costs.costmodel import (
    HOURS_PER_MONTH,
    RUNTIME_LABELS,
    Step,
    capacity_per_instance,
    cost_of,
    runtime_label,
    usd_per_million,
    waterfall,
    waterfall_of,
)
from potstill.costs.export_cache import ExportCache
from potstill.costs.harness import measure
from potstill.costs.onnx_export import export_onnx, quantize_int8
from potstill.costs.prices import PriceCatalog, PriceEntry
from potstill.costs.runtimes import (
    create_runtime,
    register_runtime,
    runtime_names,
    runtime_predictor,
    saved_predictor,
)
from potstill.costs.stats import MIN_SAMPLES, StopRule, difference_interval, latency_stats
from potstill.costs.target import BenchTarget

__all__ = [
    "HOURS_PER_MONTH",
    "MIN_SAMPLES",
    "PRESETS",
    "RUNTIME_LABELS",
    "BenchConfig",
    "BenchTarget",
    "ExportCache",
    "PriceCatalog",
    "PriceEntry",
    "Step",
    "StopRule",
    "bench_paths",
    "capacity_per_instance",
    "cost_of",
    "create_runtime",
    "difference_interval",
    "export_onnx",
    "json_line",
    "latency_stats",
    "measure",
    "onnx_file_problem",
    "quantize_int8",
    "register_runtime",
    "render_bench",
    "render_prices",
    "render_table",
    "runtime_label",
    "runtime_names",
    "runtime_predictor",
    "saved_predictor",
    "usd_per_million",
    "waterfall",
    "waterfall_of",
]
