"""What the fleet loader does besides validation: paths made relative to the YAML file,
and a pydantic error turned into one line per problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

__all__ = ["format_validation_error", "resolve_paths"]


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``source: field.path: message (got value)``."""
    lines = [f"{source}: {len(exc.errors())} invalid setting(s):"]
    for err in exc.errors():
        loc = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err["loc"]).replace(
            ".[", "["
        )
        msg = err["msg"].removeprefix("Value error, ")
        got = ""
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see 'potstill config-help')"
        elif (
            err["type"] != "missing"
            and not isinstance(err.get("input"), (dict, list))
            and "Got " not in msg  # a check_scalar message already shows the value
        ):
            got = f" (got {err['input']!r})"
        lines.append(f"  - {loc or '<root>'}: {msg}{got}")
    return "\n".join(lines)


def resolve_paths(raw: dict[str, Any], base: Path) -> None:
    """Make dataset/teacher/price paths (and teacher.architecture) relative to the YAML
    file's folder."""
    systems = raw.get("systems")
    for system in systems if isinstance(systems, list) else []:  # the model refuses others
        if not isinstance(system, dict):
            continue
        for section in ("dataset", "teacher"):
            part = system.get(section)
            for key in ("path", "images", "architecture"):
                if isinstance(part, dict) and isinstance(part.get(key), str):
                    part[key] = str((base / part[key]).expanduser())
        dataset = system.get("dataset")
        split = dataset.get("split") if isinstance(dataset, dict) else None
        if isinstance(split, dict) and isinstance(split.get("test"), str):
            split["test"] = str((base / split["test"]).expanduser())
    for holder in [raw, *(systems if isinstance(systems, list) else [])]:
        transfer = holder.get("transfer") if isinstance(holder, dict) else None
        if isinstance(transfer, dict) and isinstance(transfer.get("path"), str):
            transfer["path"] = str((base / transfer["path"]).expanduser())
    prices = raw.get("prices")
    if isinstance(prices, dict) and isinstance(prices.get("override"), str):
        prices["override"] = str((base / prices["override"]).expanduser())
