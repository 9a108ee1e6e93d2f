"""Study: every system of a fleet through the pipeline, into the result store.

``system`` runs one system end to end (``context`` holds what every system shares),
``tasks`` and ``teacher_check`` open its data and teacher, ``records`` writes one record
per (system, method) into :class:`~potstill.results.store.ResultStore`. The run of a
whole fleet, then the report, is :mod:`potstill.runner`.
"""

from __future__ import annotations

__all__: list[str] = []
