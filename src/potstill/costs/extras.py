"""Typed views of what ``Costs.extra`` holds besides the sizing: the waterfall, the
measured outside reference model and the teacher's own INT8 export.

The study builds these dataclasses and stores ``to_dict()`` in the record's JSON (the
record's layout is unchanged); the report reads them back with :func:`waterfall_from`,
:func:`reference_from` and :func:`quantized_teacher_from` and uses attributes, not string
paths. ``from_dict`` accepts the older shapes too: a step named by ``label`` instead of
``step``, missing fields (None), and keys it does not know (kept in ``others``), so every
record ever written still loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "QuantizedTeacher",
    "ReferenceCosts",
    "WaterfallStep",
    "quantized_teacher_from",
    "reference_from",
    "waterfall_from",
]


def _number(value: Any) -> float | None:
    """A finite float, or None (absent, null, NaN, a bool or a string)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _split(cls: type, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the keys that are fields of ``cls``, every other key)."""
    names = {f.name for f in fields(cls)} - {"others"}
    return {k: v for k, v in data.items() if k in names}, {
        k: v for k, v in data.items() if k not in names
    }


@dataclass(frozen=True)
class WaterfallStep:
    """One bar of a cost waterfall: a model on one runtime, its $ per 1M predictions and
    what it saved. ``counted`` False with ``measured`` True: it failed its quality check
    (``metric``, ``retention``, ``reason``) and is no saving; ``measured`` False: skipped."""

    step: str
    lever: str = ""
    measured: bool = True
    counted: bool = True
    status: str = "ok"
    runtime_label: str = ""
    metric: float | None = None
    retention: float | None = None
    reason: str = ""
    usd_per_million: float | None = None
    saved_usd_per_million: float | None = None
    saved_fraction_of_teacher: float | None = None
    cumulative_reduction: float | None = None
    model: str | None = None
    runtime: str | None = None
    others: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.step

    @property
    def usd(self) -> float | None:
        """``usd_per_million`` when it is a finite number, else None (not measured)."""
        return _number(self.usd_per_million)

    @property
    def failed(self) -> bool:
        """Measured, but failed its quality check: shown with its cost, never a saving."""
        return self.usd is not None and not self.counted

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "others"}
        if self.model is None and self.runtime is None:  # an unmeasured step has neither
            del out["model"], out["runtime"]
        return {**out, **self.others}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaterfallStep:
        known, others = _split(cls, data)
        if "step" not in known:
            known["step"] = str(others.pop("label", None) or "?")
        return cls(**known, others=others)


@dataclass(frozen=True)
class ReferenceCosts:
    """An outside reference model timed in the same session (e.g. the INT8 MiniLM beside
    the text systems): its cost against the teacher's native deployment, and its quality
    (``metric``, ``value``, ``retention``, ... as measured)."""

    name: str
    target: str = ""
    note: str = ""
    measured: bool = False
    runtime: str | None = None
    p50_ms: float | None = None
    usd_per_million: float | None = None
    reduction: float | None = None
    bytes_on_disk: int | None = None
    quality: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        head = {"name": self.name, "target": self.target, "note": self.note, **self.quality}
        if not self.measured:
            return {**head, "measured": False}
        return {**head, "measured": True, "runtime": self.runtime, "p50_ms": self.p50_ms,
                "usd_per_million": self.usd_per_million, "reduction": self.reduction,
                "bytes_on_disk": self.bytes_on_disk}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceCosts:
        known, quality = _split(cls, data)
        known.pop("quality", None)
        known.setdefault("name", str(data.get("target") or "reference"))
        return cls(**known, quality=quality)


@dataclass(frozen=True)
class QuantizedTeacher:
    """Quantisation alone: the teacher's own INT8 export, priced against its native
    deployment (``against``) and re-scored; not ``counted`` when it failed its check."""

    runtime: str = "onnx-int8"
    p50_ms: float | None = None
    usd_per_million: float | None = None
    reduction: float | None = None
    metric_value: float | None = None
    retention: float | None = None
    counted: bool = True
    reason: str = ""
    against: str = ""
    others: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "others"}
        return {**out, **self.others}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantizedTeacher:
        known, others = _split(cls, data)
        return cls(**known, others=others)


def _extra(costs: Any) -> Mapping[str, Any]:
    extra = costs.get("extra") if isinstance(costs, Mapping) else None
    return extra if isinstance(extra, Mapping) else {}


def waterfall_from(costs: Any) -> list[WaterfallStep]:
    """The waterfall of a record's ``costs`` (JSON form); [] when there is none."""
    steps = _extra(costs).get("waterfall")
    if not isinstance(steps, Sequence) or isinstance(steps, str):
        return []
    return [WaterfallStep.from_dict(s) for s in steps if isinstance(s, Mapping)]


def reference_from(costs: Any) -> ReferenceCosts | None:
    ref = _extra(costs).get("reference")
    return ReferenceCosts.from_dict(ref) if isinstance(ref, Mapping) else None


def quantized_teacher_from(costs: Any) -> QuantizedTeacher | None:
    quantized = _extra(costs).get("quantized_teacher")
    return QuantizedTeacher.from_dict(quantized) if isinstance(quantized, Mapping) else None
