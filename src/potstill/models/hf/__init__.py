"""Hugging Face plumbing (needs the ``text`` extra): the :class:`~potstill.models.hf.model.HFClassifier`
wrapper (``model``), its offline save/load in Hugging Face layout (``io``), smaller
transformer students (``students``), the INT8 ONNX MiniLM reference (``int8``) and
shared helpers (``utils``).
"""

from __future__ import annotations

__all__: list[str] = []
