"""Contention: was a timed block measured while other work took the CPU from it?

Two readings are taken around every interleaved block:

- **CPU / wall**: this process's CPU time over the block's wall time. A block that kept
  its core runs at about 1 (more with several busy threads); one that waited for the
  CPU runs far below. A block under ``min_cpu_ratio`` is *contended*: it is timed again,
  at most ``retries`` times, and one still contended after that is kept and counted.
  (Not applied on CUDA, where the host may legitimately wait for the device.)
- **1-minute load** (``os.getloadavg``): other work's load is the load minus our own
  threads; when it exceeds the cores our threads leave free — that is, the load exceeds
  the CPU count — the measurement is flagged ``load>cores``. A one-minute average cannot
  change within a block, so the load flags a measurement but never triggers a re-time.

The record keeps how many blocks were re-measured, how many stayed contended, and the
load and CPU/wall ratios seen.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BlockGuard",
    "ContentionConfig",
    "LaneContention",
    "cpu_count",
    "load_exceeds",
    "read_load",
]


class ContentionConfig(BaseModel):
    """When a timed block counts as measured under contention, and how often it is re-timed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_cpu_ratio: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="A block whose process CPU time / wall time falls below this waited for "
        "the CPU (contended) and is timed again. 0 disables the check.",
    )
    retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Most re-timings of one contended block; one still contended after them "
        "is kept and counted in the record.",
    )


def read_load() -> float | None:
    """The machine's 1-minute load average, or None where the OS has none."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):  # Windows has no getloadavg
        return None


def cpu_count() -> int:
    """Logical CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_exceeds(load: float | None, cores: int) -> bool:
    """Other work's load (``load`` minus our threads) exceeds the cores our threads leave
    free, i.e. the load exceeds the CPU count."""
    return load is not None and load > cores


@dataclass
class LaneContention:
    """What the guard saw of one lane: per-block load and CPU/wall, and the re-timings."""

    loads: list[float] = field(default_factory=list)
    cpu_ratios: list[float] = field(default_factory=list)
    remeasured: int = 0
    kept_contended: int = 0


@dataclass
class BlockGuard:
    """Times a block with its CPU/wall reading and re-times it while contended.

    ``cpu_clock`` and ``wall_clock`` are seconds; tests pass their own.
    """

    config: ContentionConfig
    check_cpu: bool = True
    cpu_clock: Callable[[], float] = time.process_time
    wall_clock: Callable[[], float] = time.perf_counter
    lanes: dict[str, LaneContention] = field(default_factory=dict)

    def run(self, label: str, block: Callable[[], Any]) -> Any:
        """``block()``, re-run while its CPU/wall ratio says it waited for the CPU."""
        seen = self.lanes.setdefault(label, LaneContention())
        load = read_load()
        if load is not None:
            seen.loads.append(load)
        for attempt in range(self.config.retries + 1):
            cpu0, wall0 = self.cpu_clock(), self.wall_clock()
            result = block()
            wall = self.wall_clock() - wall0
            ratio = (self.cpu_clock() - cpu0) / wall if wall > 0 else 1.0
            if not self.check_cpu or ratio >= self.config.min_cpu_ratio:
                break
            if attempt < self.config.retries:
                seen.remeasured += 1
            else:
                seen.kept_contended += 1
        seen.cpu_ratios.append(ratio)
        return result

    def summary(self, labels: Sequence[str], threads: int) -> dict[str, Any]:
        """The record's ``contention`` of the lanes ``labels`` (one model × runtime's
        phases): blocks re-measured and kept contended, load and CPU/wall seen."""
        parts = [self.lanes[k] for k in labels if k in self.lanes]
        loads = [v for p in parts for v in p.loads]
        ratios = [v for p in parts for v in p.cpu_ratios]
        cores = cpu_count()
        return {
            "blocks": len(ratios),
            "blocks_remeasured": sum(p.remeasured for p in parts),
            "blocks_kept_contended": sum(p.kept_contended for p in parts),
            "load_1min": _spread(loads),
            "cpu_wall_ratio": _spread(ratios),
            "cores": cores,
            "threads": threads,
            "loaded": any(load_exceeds(v, cores) for v in loads),
            "rule": (
                f"a block with process CPU/wall < {self.config.min_cpu_ratio:g} is re-timed "
                f"(at most {self.config.retries} times)"
                + ("" if self.check_cpu else "; not applied on CUDA")
                + "; 'loaded' when the 1-minute load exceeded the CPU count"
            ),
        }


def _spread(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "mean": sum(values) / len(values), "max": max(values)}
