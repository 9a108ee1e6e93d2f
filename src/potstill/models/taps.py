"""Which hidden features a teacher exposes, chosen by name, and picking them from outputs.

Feature methods pair the student's hidden layers with the teacher's by the uniform layer
map, so the distiller asks a teacher for a *selection* of its hidden features, in order
and possibly repeated. A torch teacher is hooked on exactly those layers; a file teacher
(an ONNX graph's tapped tensors) returns all it exposes and :func:`pick_hidden` keeps the
selection. :class:`TeacherTaps` carries a user's choice (``teacher.features``,
``teacher.embedding``, ``teacher.leaf_embedding`` in YAML) to the loader.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from potstill.errors import ModelError
from potstill.models.tree_embedding import DEFAULT_WIDTH
from potstill.types import Outputs

__all__ = ["TeacherTaps", "pick_hidden"]


@dataclass(frozen=True)
class TeacherTaps:
    """Which hidden features a loaded teacher exposes to feature and relation methods.

    ``features`` / ``embedding``: layer names (torch) or tensor names (ONNX); None for the
    teacher's defaults, ``features=[]`` for logits only. ``leaf_width``: width of a tree
    ensemble's leaf embedding (0: none).
    """

    features: Sequence[str] | None = None
    embedding: str | None = None
    leaf_width: int = DEFAULT_WIDTH

    def named(self) -> dict[str, Any]:
        """``features`` and ``embedding`` as keyword arguments (torch and ONNX teachers)."""
        return {"features": self.features, "embedding": self.embedding}


def pick_hidden(out: Outputs, exposed: Sequence[str], wanted: Sequence[str], who: str) -> Outputs:
    """``out`` with ``hidden`` reduced to ``wanted`` (names from ``exposed``, the order of
    ``out.hidden``; repeats allowed). ModelError names what is not exposed."""
    unknown = [n for n in wanted if n not in exposed]
    if unknown or (wanted and not out.hidden):
        raise ModelError(
            f"The teacher {who!r} exposes no hidden feature(s) {unknown or list(wanted)}; "
            f"it exposes {list(exposed)}."
        )
    index = {name: i for i, name in enumerate(exposed)}
    picked = [out.hidden[index[n]] for n in wanted] if out.hidden else []
    return dataclasses.replace(out, hidden=picked or None)
