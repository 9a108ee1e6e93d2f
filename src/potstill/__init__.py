"""potstill: distill a deployed teacher into a cheaper student, and prove the trade.

The layers, bottom up (imports point down only; ``lint-imports`` checks it): errors,
types, _io, registry → data, methods → models → costs, evaluate → train → zoo → config
→ results → study → report → runner → serve → api → cli. This module re-exports the public API; each name lives in
the box that owns it.
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import Any

# ONNX Runtime (>= 1.2x on Linux) keeps a telemetry device id and an event store under
# ~/.cache/Microsoft and a session file in the temp folder unless this is set before it
# loads; potstill writes only inside its output folder and its teacher cache, and sends
# nothing anywhere. A value the user set wins.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

# Public name -> module that defines it. Imported on first access (PEP 562), so that
# ``import potstill.errors`` stays cheap and no box imports the whole package. Type
# checkers read the same names from ``__init__.pyi``.
_EXPORTS = {
    "bench": "potstill.api",
    "check": "potstill.api",
    "demo": "potstill.api",
    "distill": "potstill.api",
    "report": "potstill.api",
    "study": "potstill.api",
    "FleetConfig": "potstill.config",
    "load_fleet": "potstill.config",
    "load_builtin": "potstill.data",
    "load_table": "potstill.data",
    "create_method": "potstill.methods",
    "list_methods": "potstill.methods",
    "register_method": "potstill.methods",
    "Teacher": "potstill.models.teacher",
    "load_teacher": "potstill.models.teacher",
    "run_study": "potstill.runner",
    **{
        name: "potstill.errors"
        for name in (
            "BenchError",
            "ConfigError",
            "DataError",
            "GateError",
            "MethodError",
            "MissingDependencyError",
            "ModelError",
            "PotstillError",
            "PriceError",
            "StoreError",
            "UnsafeModelError",
        )
    },
    **{
        name: "potstill.types"
        for name in (
            "CostProfile",
            "Costs",
            "DatasetInfo",
            "Outputs",
            "Quality",
            "RunRecord",
            "Split",
            "Task",
        )
    },
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'potstill' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "BenchError",
    "ConfigError",
    "CostProfile",
    "Costs",
    "DataError",
    "DatasetInfo",
    "FleetConfig",
    "GateError",
    "MethodError",
    "MissingDependencyError",
    "ModelError",
    "Outputs",
    "PotstillError",
    "PriceError",
    "Quality",
    "RunRecord",
    "Split",
    "StoreError",
    "Task",
    "Teacher",
    "UnsafeModelError",
    "__version__",
    "bench",
    "check",
    "create_method",
    "demo",
    "distill",
    "list_methods",
    "load_builtin",
    "load_fleet",
    "load_table",
    "load_teacher",
    "register_method",
    "report",
    "run_study",
    "study",
]
