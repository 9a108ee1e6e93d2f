"""What every system of a study run shares: the fleet, the output folder, the hashes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from potstill.config import FleetConfig
from potstill.events import EventSink, ignore

__all__ = ["SystemContext"]


@dataclass
class SystemContext:
    """What a system run needs besides its spec: the fleet, the output folder, the hashes.

    ``system_hashes``: each system's settings hash, stored in its records (per-system
    resume). ``fail_fast`` (``potstill distill``): bad input found in a system (a
    ``PotstillError`` outside a grid cell) is raised instead of becoming failed records,
    and a grid where no distillation method applies to the teacher is refused.
    ``bench_guard`` is entered around the system's benchmark phase: executors that run
    several systems on one machine pass a lock, so no two benchmarks time each other's cores.
    """

    fleet: FleetConfig
    out: Path
    config_hash: str
    environment: dict[str, Any]
    cache_dir: Path | None = None
    events: EventSink = ignore  # where the run's progress goes (potstill.events)
    timings: dict[str, float] = field(default_factory=dict)
    system_hashes: Mapping[str, str] = field(default_factory=dict)
    fail_fast: bool = False
    bench_guard: Callable[[], AbstractContextManager[object]] = nullcontext
