"""The fleet a search runs on: a fleet YAML file, one system of the built-in fleet, or
the user's own teacher and data (one :class:`~potstill.distill_fleet.DistillOptions`
value, as ``potstill distill`` takes them)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from potstill.config import FleetConfig, load_fleet
from potstill.costs import PRESETS
from potstill.distill_fleet import DistillOptions, options_fleet, own_system
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
    fleet: Path | None = None, *, builtin: str | None = None,
    own: DistillOptions | None = None, quick: bool = False,
) -> FleetConfig:  # fmt: skip
    """Exactly one source: ``fleet`` (a YAML file), ``builtin`` (a system of the built-in
    fleet) or ``own`` (the user's teacher and data, with every option ``distill`` takes
    for them; its ``methods`` and ``nproc`` play no part: the search picks the method)."""
    given = [n for n, v in (("FLEET", fleet), ("--builtin", builtin), ("--teacher", own))
             if v is not None]  # fmt: skip
    if len(given) != 1:
        raise ConfigError(
            "Give exactly one of FLEET.yaml, --builtin NAME, or --teacher with --data (and "
            f"--target for a table); got {', '.join(given) or 'none'}."
        )
    if fleet is not None:
        config = load_fleet(fleet)
    elif builtin is not None:
        config = _builtin(builtin)
    else:
        assert own is not None  # checked above
        config = options_fleet({"name": "select", "systems": [own_system(own)]})
    return _quick(config) if quick else config
