"""Fixtures of the user-teacher tests: the teachers and tables of ``builders*.py``, built once
per session, and one fleet study over all of them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from builders import UserSystem
from cli_helpers import BUILDERS, CliRun, run_cli, write_fleet


@pytest.fixture(scope="session")
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private potstill cache: these tests never read or fill the user's."""
    root = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("POTSTILL_CACHE", str(root))
    yield root
    mp.undo()


@pytest.fixture(scope="session")
def user_systems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, UserSystem]:
    """Every user teacher and its table, built once (about 40 s on one core)."""
    root = tmp_path_factory.mktemp("user-teachers")
    return {name: build(root) for name, build in BUILDERS.items()}


@pytest.fixture(scope="session")
def fleet_study(
    user_systems: dict[str, UserSystem], tmp_path_factory: pytest.TempPathFactory, _cache: Path
) -> CliRun:
    """``potstill study`` over every user system with scratch, KD, FitNets and RKD."""
    root = tmp_path_factory.mktemp("fleet")
    fleet = write_fleet(
        root / "fleet.yaml", user_systems.values(), grid=["scratch", "kd", "fitnet", "rkd"]
    )
    return run_cli(["study", str(fleet), "--out", str(root / "study")], root / "study")
