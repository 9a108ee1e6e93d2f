"""Where a measurement was taken: CPU, threads, library versions, machine load.

A latency is meaningless without the machine behind it, so every ``CostProfile`` carries
this block. Thread limits are applied here too, as a context manager that restores the
previous settings (PyTorch intra-op threads and every BLAS/OpenMP pool via threadpoolctl).
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from threadpoolctl import threadpool_limits

__all__ = ["environment", "thread_limits"]


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@contextlib.contextmanager
def thread_limits(threads: int) -> Iterator[None]:
    """Run the body with exactly ``threads`` intra-op threads everywhere, then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(previous)


def environment(device: str, threads: int) -> dict[str, Any]:
    """The machine and software a profile was measured on."""
    import onnxruntime

    env: dict[str, Any] = {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "device": device,
        "threads": threads,
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if device == "cuda" and torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["cuda"] = torch.version.cuda
    return env
