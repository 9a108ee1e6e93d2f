"""Where a measurement was taken: CPU, threads, library versions, machine load.

A latency is meaningless without the machine behind it, so every ``CostProfile`` carries
this block. Thread limits are applied here too, as a context manager that restores the
previous settings (PyTorch intra-op threads and every BLAS/OpenMP pool via threadpoolctl).
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from collections.abc import Iterator
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch
from threadpoolctl import threadpool_limits

__all__ = ["capture_environment", "environment", "git_revision", "machine", "thread_limits"]

#: Library versions recorded with a study (``None``: not installed).
PACKAGES = (
    "potstill",
    "torch",
    "numpy",
    "scikit-learn",
    "onnx",
    "onnxruntime",
    "fairlearn",
    "xgboost",
    "pandas",
)


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git commit of the potstill checkout in use, or None outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def machine() -> dict[str, Any]:
    """The machine: CPU model, logical CPUs, physical cores, memory, OS, Python."""
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def capture_environment() -> dict[str, Any]:
    """What a study ran on (its ``environment.json``): :func:`machine`, torch threads,
    CUDA, library versions and the git revision."""
    return {
        **machine(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.is_available(),
        "versions": _versions(),
        "git_revision": git_revision(),
    }


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
        **machine(),
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
