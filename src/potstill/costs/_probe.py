"""Fresh-process probe: load one model artefact, serve a few calls, report what it cost.

Run as a *script* (``python _probe.py ...``), never imported by potstill: it must start
from a bare interpreter so its memory and cold start are what a new serving process pays
(an ONNX Runtime server never imports torch, so neither does this probe for ONNX files).
It prints one JSON line: seconds to import the runtime, to load the model, the first
call, the RSS before loading and the kernel's peak RSS of this process image (``VmHWM``;
``ru_maxrss`` would also count the parent's pages copied at fork). The parent samples
this process's RSS from outside as a cross-check.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["main"]


def _status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: current, VmHWM: peak RSS) in MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # the kernel reports kB
    raise SystemExit(f"/proc/self/status has no {field} line")


def _load(kind: str, path: str, threads: int) -> Any:
    """Return a callable numpy → numpy for the artefact."""
    if kind == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    import torch

    torch.set_num_threads(threads)
    module: Any
    if kind == "pt2":
        module = torch.export.load(path).module()
    elif kind == "torchscript":
        import warnings

        warnings.filterwarnings("ignore", category=DeprecationWarning)  # torch.jit.load's
        module = torch.jit.load(path, map_location="cpu").eval()
    elif kind == "potstill":
        from pathlib import Path

        from potstill.models.export import load_model

        module = load_model(Path(path)).eval()
    else:
        raise SystemExit(f"unknown artefact kind {kind!r}")

    def predict(x: Any) -> Any:
        with torch.inference_mode():
            out = module(torch.from_numpy(x))
            if not isinstance(out, torch.Tensor):
                out = out.logits if hasattr(out, "logits") else out[0]
            return out.numpy()

    return predict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", required=True, choices=["onnx", "pt2", "potstill", "torchscript"])
    parser.add_argument("--path", required=True)
    parser.add_argument("--input", required=True, help=".npy file with the batch to serve")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    import numpy as np

    x = np.load(args.input, allow_pickle=False)
    if args.kind == "onnx":
        import onnxruntime  # noqa: F401
    else:
        import torch  # noqa: F401
    import_s = time.perf_counter() - start
    baseline = _status_mb("VmRSS")

    start = time.perf_counter()
    predict = _load(args.kind, args.path, args.threads)
    load_s = time.perf_counter() - start

    start = time.perf_counter()
    predict(x)
    first_call_ms = (time.perf_counter() - start) * 1e3
    for _ in range(args.calls):
        predict(x)

    print(
        json.dumps(
            {
                "import_s": import_s,
                "load_s": load_s,
                "first_call_ms": first_call_ms,
                "baseline_rss_mb": baseline,
                "vm_hwm_mb": _status_mb("VmHWM"),
                "calls": args.calls + 1,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
