"""Settings of a cost-aware search: :class:`~potstill.search_config.SelectConfig`, kept
below the fleet config so a fleet's ``auto:`` section can hold it."""

from __future__ import annotations

from potstill.search_config import SelectConfig

__all__ = ["SelectConfig"]
