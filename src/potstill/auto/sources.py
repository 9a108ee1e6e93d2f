"""The fleet a search runs on: a fleet YAML file, one system of the built-in fleet, or
the user's own teacher and data (as ``potstill distill`` takes them)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from potstill.config import FleetConfig, format_validation_error, load_fleet
from potstill.costs import PRESETS
from potstill.errors import ConfigError
from potstill.evaluate import EvalConfig
from potstill.runner import builtin_fleet

__all__ = ["fleet_for"]


def _text_fleet() -> FleetConfig:
    ref = resources.files("potstill.study").joinpath("fleets", "builtin-text.yaml")
    with resources.as_file(ref) as path:
        return load_fleet(path)


def _builtin(name: str) -> FleetConfig:
    """The system ``name`` of the built-in fleet, or of the built-in text systems (with
    their own fleet settings, as in examples/text-fleet.yaml)."""
    names = []
    for fleet in (builtin_fleet(), _text_fleet()):
        names += [s.name for s in fleet.systems]
        if name in names:
            return fleet.model_copy(
                update={"systems": [s for s in fleet.systems if s.name == name]}
            )
    raise ConfigError(f"--builtin: no built-in system {name!r}. Valid names: {', '.join(names)}.")


def _own(teacher: Path, data: Path, target: str | None) -> FleetConfig:
    if not Path(data).exists():
        raise ConfigError(f"--data: no file or folder '{data}'. Check the path.")
    source = "images" if Path(data).is_dir() else "path"
    raw: dict[str, Any] = {
        "name": "select",
        "systems": [
            {
                "name": "system",
                "dataset": {source: str(data), "target": target},
                "teacher": {"path": str(teacher)},
            }
        ],
    }
    try:
        return FleetConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, "command-line options")) from None


def _quick(fleet: FleetConfig) -> FleetConfig:
    """The quick harness and evaluation presets (a smoke run; figures indicative only). The
    fleet's batch sizes stay: with only small batches, per-call overhead hides what a
    smaller student saves, and the search would compare noise."""
    quick = {k: v for k, v in PRESETS["quick"].items() if k != "batch_sizes"}
    bench = fleet.bench.model_copy(update=quick)
    systems = [s.model_copy(update={"bench": None, "evaluate": None}) for s in fleet.systems]
    return fleet.model_copy(
        update={"bench": bench, "evaluate": EvalConfig.quick(seed=fleet.seed), "systems": systems}
    )


def fleet_for(
    fleet: Path | None = None, *, builtin: str | None = None, teacher: Path | None = None,
    data: Path | None = None, target: str | None = None, quick: bool = False,
) -> FleetConfig:  # fmt: skip
    """Exactly one source: ``fleet`` (a YAML file), ``builtin`` (a system of the built-in
    fleet) or ``teacher`` with ``data`` (and ``target`` for a table)."""
    given = [n for n, v in (("FLEET", fleet), ("--builtin", builtin), ("--teacher", teacher))
             if v is not None]  # fmt: skip
    if len(given) != 1 or (teacher is None) != (data is None):
        raise ConfigError(
            "Give exactly one of FLEET.yaml, --builtin NAME, or --teacher with --data (and "
            f"--target for a table); got {', '.join(given) or 'none'}"
            f"{' and --data' if data is not None else ''}."
        )
    if fleet is not None:
        config = load_fleet(fleet)
    elif builtin is not None:
        config = _builtin(builtin)
    else:
        assert teacher is not None and data is not None  # checked above
        config = _own(teacher, data, target)
    return _quick(config) if quick else config
