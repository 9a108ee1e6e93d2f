"""Results: what a study wrote, read back — below the study that writes it and the report
that reads it.

``store`` keeps one atomic JSON record per (system, method); ``recordview`` reads fields of a
record; ``comparison`` and ``aggregate`` compute the paper's tables; ``check`` re-gates a
finished study for ``potstill check``.
"""

from __future__ import annotations

from potstill.results.check import CheckReport, CheckRow, Skipped, check_study, gates_from_config
from potstill.results.store import ResultStore

__all__ = ["CheckReport", "CheckRow", "ResultStore", "Skipped", "check_study", "gates_from_config"]
