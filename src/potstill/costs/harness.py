"""``measure``: every target on every applicable runtime, the way MLPerf would.

One call of :func:`measure` builds each model × runtime (exporting and validating ONNX
first), records its in-process cold start, warms it up, then times

1. *single-stream*: batch-1 latency, all lanes interleaved in blocks until each meets
   both stopping rules (``min_calls`` and ``min_seconds``);
2. *offline*: throughput at each batch size of the sweep (interleaved the same way, with
   the sweep's own rules); the best batch size gives ``throughput``;
3. *server*: the Poisson-queue replay of the batch-1 samples (:mod:`.server`);

and adds the footprint (parameters, bytes, FLOPs), energy, and — in a fresh process per
model × runtime — peak memory and the honest cold start. A runtime that cannot be built
or fails validation is skipped with its reason in ``settings['skipped_runtimes']`` of the
target's other profiles, or raises ``BenchError`` (``on_runtime_failure='raise'``).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from potstill.costs.config import BenchConfig
from potstill.costs.contention import BlockGuard
from potstill.costs.environment import environment, thread_limits
from potstill.costs.export_cache import ExportCache
from potstill.costs.footprint import RaplMeter, count_params, energy_estimate, flops_per_sample
from potstill.costs.intervals import MIN_BLOCKS, with_blocks
from potstill.costs.memory import export_pt2, export_torchscript, fresh_process_probe
from potstill.costs.runtimes import BuildContext, Built, applicable_runtimes, create_runtime
from potstill.costs.server import server_scenario
from potstill.costs.stats import StopRule, latency_stats, samples_summary
from potstill.costs.target import BenchTarget, check_targets
from potstill.costs.timing import CallProgress, Lane, cpu_timer, cuda_timer, run_interleaved
from potstill.errors import BenchError, PotstillError
from potstill.events import Stage
from potstill.models.onnx_backend import onnx_params
from potstill.types import CostProfile

__all__ = ["measure"]


@dataclass
class _Session:
    target: BenchTarget
    runtime: str
    built: Built
    first_call_ms: float

    @property
    def label(self) -> str:
        return f"{self.target.name}/{self.runtime}"

    def batch(self, size: int) -> np.ndarray:
        return np.ascontiguousarray(self.target.example[:size])


@contextlib.contextmanager
def _workdir(export_dir: Path | None) -> Iterator[Path]:
    if export_dir is not None:
        Path(export_dir).mkdir(parents=True, exist_ok=True)
        yield Path(export_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="potstill-bench-") as tmp:
            yield Path(tmp)


def measure(
    targets: Sequence[BenchTarget],
    config: BenchConfig,
    *,
    stage: Stage | None = None,
    exports: ExportCache | None = None,
) -> list[CostProfile]:
    """Measure every target on every applicable runtime; one profile per model × runtime.

    Torch modules are put in eval mode. Threads are set to ``config.threads`` for the
    duration and restored afterwards. Profiles come in rotation order (runtime-major).
    ``stage`` hears of each build, the timed calls done of those the stopping rules plan
    (more are made while a lane is short of ``min_seconds``) and each memory probe.
    ``exports`` keeps the ONNX and INT8 files across calls (:mod:`.export_cache`): a
    conversion, not a measurement; everything timed or probed runs again.
    """
    check_targets(targets, max(config.batch_sizes))
    if config.device == "cuda" and not torch.cuda.is_available():
        raise BenchError("BenchConfig.device is 'cuda' but no CUDA device is available.")
    with thread_limits(config.threads), _workdir(config.export_dir) as workdir:
        env = environment(config.device, config.threads)
        ctx = BuildContext(workdir, config.threads, config.device, config.onnx_atol,
                           config.onnx_rtol, config.onnx_min_agreement, exports=exports)  # fmt: skip
        sessions, skipped = _build_sessions(targets, config, ctx, stage)
        timer = cuda_timer if config.device == "cuda" else cpu_timer
        rapl = RaplMeter()
        guard = BlockGuard(config.contention, check_cpu=config.device != "cuda")
        for s in sessions:
            for _ in range(config.warmup):
                s.built.predict(s.batch(1))
        lanes = [Lane(s.label, s.built.predict, s.batch(1)) for s in sessions]
        least = MIN_BLOCKS * config.block_calls
        rule = StopRule(max(config.min_calls, least), config.min_seconds, config.max_seconds)
        calls = CallProgress(stage, lanes, rule, config.block_calls, "single-stream")
        schedule = run_interleaved(lanes, rule, config.block_calls, timer, rapl, calls, guard)
        sweep, blocks = _offline_sweep(sessions, lanes, config, timer, rapl, guard, stage)
        flops = {t.name: _flops(t) for t in targets if t.module is not None}
        profiles = []
        for i, (s, lane) in enumerate(zip(sessions, lanes, strict=True)):
            if stage is not None and config.memory:
                stage.update(i, len(sessions), unit="memory probe", detail=s.label)
            settings = {
                **config.model_dump(mode="json"),
                "interleave": schedule,
                "skipped_runtimes": skipped.get(s.target.name, {}),
                "timer": "cuda_event" if config.device == "cuda" else "perf_counter_ns",
                "input_shape": list(s.target.example.shape[1:]),
            }
            profile = _profile(
                s, lane, sweep[s.label], flops.get(s.target.name), config, env, settings, rapl,
                workdir,
            )  # fmt: skip
            contention = guard.summary([lane.label], config.threads)
            latency_blocks = lane.block_ms_per_prediction()
            profiles.append(with_blocks(profile, latency_blocks, blocks[s.label], contention))
    return profiles


def _build_sessions(
    targets: Sequence[BenchTarget],
    config: BenchConfig,
    ctx: BuildContext,
    stage: Stage | None = None,
) -> tuple[list[_Session], dict[str, dict[str, str]]]:
    """Build every applicable runtime, runtime-major so teacher and students alternate."""
    plan = [(t, r) for t in targets for r in applicable_runtimes(t, config.runtimes)]
    order = ["native", *config.runtimes]
    plan.sort(key=lambda tr: order.index(tr[1]))  # stable: keeps target order per runtime
    sessions: list[_Session] = []
    skipped: dict[str, dict[str, str]] = {}
    for i, (target, runtime) in enumerate(plan):
        if stage is not None:
            stage.update(i, len(plan), unit="build", detail=f"{target.name}/{runtime}")
        try:
            built = create_runtime(runtime, target, ctx)
        except PotstillError as exc:
            if config.on_runtime_failure == "raise" or runtime in ("eager", "native"):
                raise BenchError(f"Runtime {runtime!r} of '{target.name}': {exc}") from exc
            skipped.setdefault(target.name, {})[runtime] = str(exc)
            continue
        x = np.ascontiguousarray(target.example[:1])
        start = time.perf_counter()
        try:
            built.predict(x)
        except Exception as exc:  # the user's model failed: say which and on what
            raise BenchError(
                f"'{target.name}' failed on runtime {runtime!r} with an input of shape "
                f"{x.shape}: {type(exc).__name__}: {exc}."
            ) from exc
        sessions.append(_Session(target, runtime, built, (time.perf_counter() - start) * 1e3))
    return sessions, skipped


def _offline_sweep(
    sessions: list[_Session],
    lanes: list[Lane],
    config: BenchConfig,
    timer: Any,
    rapl: RaplMeter,
    guard: BlockGuard,
    stage: Stage | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[int, list[float]]]]:
    """Throughput of every session at every batch size (batch 1 reuses single-stream),
    and each one's blocks (ms per prediction) at every batch size."""
    sweep: dict[str, list[dict[str, Any]]] = {s.label: [] for s in sessions}
    blocks: dict[str, dict[int, list[float]]] = {s.label: {} for s in sessions}
    least = MIN_BLOCKS * config.block_calls
    rule = StopRule(
        max(config.sweep_min_calls, least), config.sweep_min_seconds, config.max_seconds
    )
    for size in config.batch_sizes:
        if size == 1:
            point_lanes = lanes
        else:
            point_lanes = [Lane(s.label, s.built.predict, s.batch(size)) for s in sessions]
            for lane in point_lanes:
                for _ in range(max(3, config.warmup // 5)):
                    lane.predict(lane.x)
            calls = CallProgress(stage, point_lanes, rule, config.block_calls, f"batch {size}")
            run_interleaved(point_lanes, rule, config.block_calls, timer, rapl, calls, guard)
        for lane in point_lanes:
            blocks[lane.label][size] = lane.block_ms_per_prediction()
            samples = lane.samples_ms()
            sweep[lane.label].append(
                {
                    "batch_size": size,
                    "throughput": size * lane.calls / lane.seconds
                    if lane.seconds > 0
                    else math.inf,
                    "p50_ms": float(np.median(samples)),
                    "calls": lane.calls,
                    "seconds": lane.seconds,
                    "energy_joules": lane.energy_joules if rapl.available else None,
                }
            )
    return sweep, blocks


def _profile(
    s: _Session,
    lane: Lane,
    sweep: list[dict[str, Any]],
    flops: dict[str, Any] | None,
    config: BenchConfig,
    env: dict[str, Any],
    settings: dict[str, Any],
    rapl: RaplMeter,
    workdir: Path,
) -> CostProfile:
    samples = lane.samples_ms()
    flags = ("max_seconds",) if lane.stop_reason == "max_seconds" else ()
    best = max(sweep, key=lambda p: p["throughput"])
    module = s.target.module
    extra = _profile_extra(s, lane, samples, sweep, best, flops, config, rapl)
    peak: float | None = None
    if config.memory:
        peak = _memory(s, config, workdir, extra)
    if config.device == "cuda" and module is not None and s.runtime in ("eager", "compile"):
        extra["cuda_memory"] = _cuda_memory(s, max(config.batch_sizes))
    return CostProfile(
        model=s.target.name,
        runtime=s.runtime,
        batch_size=1,
        latency=latency_stats(samples, extra_flags=flags),
        throughput=float(best["throughput"]),
        throughput_batch=int(best["batch_size"]),
        peak_memory_mb=peak,
        params=count_params(module) if module is not None else _onnx_params(s),
        bytes_on_disk=s.built.bytes_on_disk,
        flops_per_sample=float(flops["flops"]) if flops and flops["flops"] is not None else None,
        environment=env,
        settings=settings,
        extra=extra,
    )


def _profile_extra(
    s: _Session,
    lane: Lane,
    samples: np.ndarray,
    sweep: list[dict[str, Any]],
    best: dict[str, Any],
    flops: dict[str, Any] | None,
    config: BenchConfig,
    rapl: RaplMeter,
) -> dict[str, Any]:
    """A profile's ``extra``: sample summary, sweep, energy, cold start, server scenario,
    FLOPs and the kept artefact (the memory probe adds its own keys after)."""
    extra: dict[str, Any] = {
        "samples": samples_summary(samples),
        "stop_reason": lane.stop_reason,
        "timed_seconds": lane.seconds,
        "offline_sweep": sweep,
        "runtime_notes": s.built.notes,
        "energy": _energy(best, config, rapl),
        "cold_start": {
            "in_process": {"create_s": s.built.create_s, "first_call_ms": s.first_call_ms}
        },
    }
    if config.server:
        extra["server"] = server_scenario(
            samples, slo_ms=config.slo_ms, target_qps=config.target_qps, seed=config.seed
        )
    if flops is not None:
        extra["flops"] = {
            **flops,
            "note": "int8 runs the same MACs in integer arithmetic"
            if s.runtime == "onnx-int8"
            else "",
        }
    if config.export_dir is not None and s.built.artefact_kind == "onnx":
        extra["artefact"] = str(s.built.artefact)  # kept: the deployable file that was timed
    if s.target.module is None:
        extra["params_note"] = "not countable for a black-box predict callable; 0 recorded"
    return extra


def _energy(best: dict[str, Any], config: BenchConfig, rapl: RaplMeter) -> dict[str, Any]:
    if rapl.available and best["energy_joules"] is not None and best["calls"] > 0:
        predictions = best["calls"] * best["batch_size"]
        return {
            "joules_per_1000": 1000.0 * best["energy_joules"] / predictions,
            "method": "rapl",
            "assumption": "CPU package counters over the best offline batch; includes "
            "whatever else ran on the package meanwhile",
        }
    return energy_estimate(best["throughput"], config.threads, config.cpu_tdp_watts)


def _memory(s: _Session, config: BenchConfig, workdir: Path, extra: dict[str, Any]) -> float | None:
    """Fresh-process probe; where there is none, the reason is recorded and the peak is None."""
    cold = extra["cold_start"]
    artefact, kind, module = s.built.artefact, s.built.artefact_kind, s.target.module
    cold["fresh_process"] = None
    if s.runtime not in config.memory_runtimes and s.runtime not in ("compile", "native"):
        cold["fresh_process_error"] = (
            f"not probed: runtime {s.runtime!r} is not in bench.memory_runtimes "
            f"{list(config.memory_runtimes)}"
        )
        return None
    if s.runtime in ("compile", "native"):
        cold["fresh_process_error"] = (
            f"not probed for runtime {s.runtime!r}: no artefact a fresh process could load "
            "without executing the caller's code"
        )
        return None
    stem = workdir / s.label.replace("/", "_")
    try:
        if artefact is None and kind == "pt2" and module is not None:
            artefact = export_pt2(module, s.batch(1), stem.with_suffix(".pt2"))
        elif artefact is None and kind == "torchscript" and module is not None:
            artefact = export_torchscript(module, stem.with_suffix(".torchscript.pt"))
        if artefact is None or kind is None:
            raise BenchError("no artefact to load in a fresh process")
        probe = fresh_process_probe(
            kind, artefact, s.batch(1), workdir, threads=config.threads, calls=config.memory_calls
        )
    except Exception as exc:  # any failure is recorded as "not measured", never raised
        first = str(exc).splitlines()[0] if str(exc) else ""
        if not isinstance(exc, PotstillError):  # torch.export/jit raise many types
            first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
        cold["fresh_process_error"] = f"not measured: {first}"
        return None
    cold["fresh_process"] = probe
    return float(probe["peak_rss_mb"])


def _flops(target: BenchTarget) -> dict[str, Any]:
    """FLOPs per sample of a module target; the counter's failure is recorded, not raised."""
    assert target.module is not None
    try:
        return flops_per_sample(target.module, target.example)
    except (RuntimeError, TypeError, NotImplementedError) as exc:
        return {"flops": None, "error": f"flop counter failed: {type(exc).__name__}: {exc}"}


def _cuda_memory(s: _Session, batch: int) -> dict[str, Any]:
    """Peak allocated/reserved CUDA memory over a few calls at the largest batch."""
    torch.cuda.synchronize()
    baseline = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    for _ in range(5):
        s.built.predict(s.batch(batch))
    torch.cuda.synchronize()
    return {
        "batch_size": batch,
        "baseline_allocated_mb": baseline / 2**20,
        "peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20,
        "peak_reserved_mb": torch.cuda.max_memory_reserved() / 2**20,
        "note": "process-wide: includes every model loaded on the device",
    }


def _onnx_params(s: _Session) -> int:
    """Learned values of a saved ONNX graph (:func:`~potstill.models.onnx_backend.
    onnx_params`: initialisers and ai.onnx.ml coefficients); 0 for other black boxes."""
    if s.target.kind != "onnx" or s.target.path is None:
        return 0
    return onnx_params(s.target.path)
