"""Study: a fleet of systems through the pipeline, into a result store, then the report.

``runner`` owns the study directory, ``system`` runs one system end to end, ``store``
keeps one atomic JSON record per (system, method), ``aggregate`` computes the paper's
tables from the records. Names are imported on first use: ``potstill.study.store`` is
read by boxes (evaluate, report) that the runner itself imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__all__ = ["ResultStore", "StudyResult", "builtin_fleet", "config_hash", "preflight", "run_study"]

_HOME = {"ResultStore": "potstill.study.store"}


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module(_HOME.get(name, "potstill.study.runner")), name)
    raise AttributeError(f"module 'potstill.study' has no attribute {name!r}")
