"""What a model weighs: parameters, bytes on disk, FLOPs per sample, energy.

FLOPs come from ``torch.utils.flop_counter`` (matmul/conv/attention formulas; 2 FLOPs per
multiply-accumulate, so MACs = FLOPs / 2). It silently counts zero for every other op, so
we also record which non-trivial ops ran without a formula (activations, norms, …) and
name them next to the figure. Energy comes from the RAPL counters where the kernel exposes
them (whole CPU package, so other processes are included); otherwise it is an *estimate*
from the CPU's TDP, labelled as such wherever it appears.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as safetensors_save
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from potstill.costs.target import as_logits
from potstill.models.predict import count_params

__all__ = [
    "RaplMeter",
    "bytes_on_disk",
    "count_params",
    "energy_estimate",
    "flops_per_sample",
    "safetensors_bytes",
]

#: Ops that move or re-view data and cost no arithmetic; never reported as "not counted".
_SHAPE_OPS = frozenset(
    {
        "aten.t",
        "aten.view",
        "aten.reshape",
        "aten._unsafe_view",
        "aten.transpose",
        "aten.permute",
        "aten.expand",
        "aten.detach",
        "aten.clone",
        "aten._to_copy",
        "aten.unsqueeze",
        "aten.squeeze",
        "aten.flatten",
        "aten.alias",
        "aten.slice",
        "aten.select",
        "aten.contiguous",
        "aten.empty",
        "aten.zeros",
        "aten.ones",
        "aten.copy_",
        "aten.lift_fresh",
        "aten.split",
        "aten.split_with_sizes",
        "aten.chunk",
        "aten.unbind",
        "aten.cat",
        "aten.stack",
        "aten.index_select",
        "aten.embedding",
        "aten.arange",
        "aten.full",
        "aten.new_zeros",
        "aten.new_empty",
        "aten.as_strided",
        "aten.unflatten",
        "aten.dropout",
        "aten.native_dropout",
        "aten.empty_like",
        "aten.zeros_like",
        "aten.ones_like",
        "aten.sym_size",
    }
)


class _OpRecorder(TorchDispatchMode):
    """Collect the aten ops a forward pass dispatches (after composite decomposition)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[Any] = set()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        self.ops.add(func._overloadpacket)
        return func(*args, **(kwargs or {}))


def flops_per_sample(module: nn.Module, row: np.ndarray) -> dict[str, Any]:
    """FLOPs and MACs of one forward pass on one example (batch 1), and uncounted ops.

    Returns ``{"flops": int, "macs": int, "ops_not_counted": [..], "method": ...}``.
    """
    x = torch.from_numpy(np.ascontiguousarray(row[:1]))
    counter = FlopCounterMode(display=False)
    recorder = _OpRecorder()
    with torch.no_grad(), recorder, counter:
        as_logits(module(x))
    flops = int(counter.get_total_flops())
    not_counted = sorted(
        name
        for name in (str(op) for op in recorder.ops if op not in flop_registry)
        if name not in _SHAPE_OPS
    )
    return {
        "flops": flops,
        "macs": flops // 2,
        "ops_not_counted": not_counted,
        "method": "torch.utils.flop_counter at batch 1 (2 FLOPs per multiply-accumulate)",
    }


def safetensors_bytes(module: nn.Module) -> int:
    """Size of the module's state dict serialised as safetensors (shared tensors once)."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, int, tuple[int, ...]]] = set()
    for name, tensor in module.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape))
        if key in seen:
            continue
        seen.add(key)
        tensors[name] = tensor.detach().cpu().contiguous().clone()
    return len(safetensors_save(tensors))


def bytes_on_disk(path: Path) -> int:
    """Size of a file, or of every file under a directory (what one would ship)."""
    path = Path(path)
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    total = path.stat().st_size
    external = path.with_name(path.name + ".data")  # ONNX external-data side file
    return total + (external.stat().st_size if external.is_file() else 0)


class RaplMeter:
    """Cumulative CPU-package energy from Linux RAPL (powercap) counters, in joules.

    ``available`` is False where no package counter is readable (VMs, containers, AMD
    kernels without the driver, non-root on recent kernels).
    """

    def __init__(self, root: Path = Path("/sys/class/powercap")) -> None:
        self.root = Path(root)
        self.domains: list[tuple[Path, int]] = []
        for domain in sorted(self.root.glob("intel-rapl:*")):
            name = (domain / "name").read_text().strip() if (domain / "name").is_file() else ""
            energy = domain / "energy_uj"
            if name.startswith("package") and os.access(energy, os.R_OK):
                limit_file = domain / "max_energy_range_uj"
                limit = int(limit_file.read_text()) if limit_file.is_file() else 2**32
                self.domains.append((energy, limit))

    @property
    def available(self) -> bool:
        return bool(self.domains)

    def read_uj(self) -> list[int]:
        return [int(path.read_text()) for path, _ in self.domains]

    def delta_joules(self, before: list[int], after: list[int]) -> float:
        """Energy between two readings, handling counter wrap-around."""
        total = 0
        for (_, limit), b, a in zip(self.domains, before, after, strict=True):
            total += a - b if a >= b else a + limit - b
        return total / 1e6


def energy_estimate(throughput: float, threads: int, tdp_watts: float) -> dict[str, Any]:
    """Energy per 1,000 predictions *estimated* from the TDP share of the threads used."""
    cpus = os.cpu_count() or 1
    watts = tdp_watts * min(threads, cpus) / cpus
    value = 1000.0 * watts / throughput if throughput > 0 else float("nan")
    return {
        "joules_per_1000": value,
        "method": "estimate",
        "assumption": f"TDP {tdp_watts:g} W × {min(threads, cpus)}/{cpus} logical CPUs, "
        "at full load for the offline throughput (RAPL counters not readable)",
    }
