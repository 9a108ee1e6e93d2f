"""Peak memory and cold start of a fresh process serving one model.

Memory measured inside the benchmarking process would include every other model it has
loaded, so each model × runtime is loaded by a new interpreter (``_probe.py``) that serves
a few batch-1 calls. The headline is the kernel's exact high-water mark of that process
(``VmHWM``); its RSS is also sampled from outside every ~2 ms as a cross-check, and
the RSS before the model was loaded is kept so the model's own share can be derived.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import torch

from potstill.costs.target import LogitsOnly
from potstill.errors import BenchError

__all__ = ["PROBE_SCRIPT", "export_pt2", "export_torchscript", "fresh_process_probe"]

PROBE_SCRIPT = Path(__file__).with_name("_probe.py")
_SAMPLE_INTERVAL_S = 0.002


def export_pt2(module: torch.nn.Module, row: np.ndarray, path: Path) -> Path:
    """Save ``module`` as a torch.export program (graph + weights, no pickled code)."""
    with torch.no_grad():
        program = torch.export.export(LogitsOnly(module).eval(), (torch.from_numpy(row),))
    torch.export.save(program, str(path))
    return path


def export_torchscript(module: torch.nn.Module, path: Path) -> Path:
    """Save a TorchScript module as TorchScript: the format it was deployed in (a scripted
    module cannot go through torch.export, whose verifier wants nn.Parameter weights)."""
    with warnings.catch_warnings():  # torch deprecating TorchScript is not the user's to fix
        warnings.filterwarnings(
            "ignore", message=r".*torch\.jit\.save.*", category=DeprecationWarning
        )
        torch.jit.save(module, str(path))
    return path


def _watch_rss(proc: subprocess.Popen[str], artefact: Path, timeout_s: float) -> tuple[int, int]:
    """Sample the probe's resident memory until it exits: (peak bytes, samples taken)."""
    peak, samples = 0, 0
    watched = psutil.Process(proc.pid)
    start = time.perf_counter()
    while proc.poll() is None:
        try:
            peak = max(peak, watched.memory_info().rss)
            samples += 1
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            break  # the probe has just exited; its peak is in VmHWM
        if time.perf_counter() - start > timeout_s:
            proc.kill()
            proc.wait()
            raise BenchError(
                f"The memory probe of '{artefact}' ran longer than {timeout_s:g} s and was "
                "stopped. Turn memory measurement off (memory=False) for this model."
            )
        time.sleep(_SAMPLE_INTERVAL_S)
    return peak, samples


def fresh_process_probe(
    kind: str,
    artefact: Path,
    row: np.ndarray,
    workdir: Path,
    *,
    threads: int = 1,
    calls: int = 50,
    timeout_s: float = 300.0,
) -> dict[str, Any]:
    """Run the probe on ``artefact`` and return its cold start and memory figures."""
    workdir.mkdir(parents=True, exist_ok=True)
    input_path = workdir / f"probe-input-{time.monotonic_ns()}.npy"
    np.save(input_path, np.ascontiguousarray(row, dtype=np.float32), allow_pickle=False)
    command = [
        sys.executable,
        str(PROBE_SCRIPT),
        "--kind",
        kind,
        "--path",
        str(artefact),
        "--input",
        str(input_path),
        "--threads",
        str(threads),
        "--calls",
        str(calls),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        peak_sampled, samples = _watch_rss(proc, artefact, timeout_s)
        stdout, stderr = proc.communicate()
    input_path.unlink(missing_ok=True)
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
        raise BenchError(
            f"The memory probe could not serve '{artefact}' ({kind}) in a fresh process "
            f"(exit code {proc.returncode}): {tail}."
        )
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb_sampled"] = peak_sampled / 2**20
    result["rss_samples"] = samples
    result["sampling_interval_ms"] = _SAMPLE_INTERVAL_S * 1e3
    result["peak_rss_mb"] = max(result["vm_hwm_mb"], result["peak_rss_mb_sampled"])
    result["kind"] = kind
    return result
