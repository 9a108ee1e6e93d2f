"""Shared fixtures: the fixture study, written once and rendered once per session."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from potstill.report import ReportPaths, render_report


def load_fleet_fixture() -> ModuleType:
    """tests/report/fleet_fixture.py, loaded by path (tests/ is not a package)."""
    name = "potstill_tests_fleet_fixture"
    if name not in sys.modules:
        path = Path(__file__).with_name("fleet_fixture.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclass(frozen=True)
class Rendered:
    records: list[dict[str, Any]]
    paths: ReportPaths
    markdown: str
    html: str


@pytest.fixture(scope="session")
def fleet() -> ModuleType:
    return load_fleet_fixture()


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory, fleet: ModuleType) -> Rendered:
    directory = tmp_path_factory.mktemp("study")
    records = fleet.write_study(directory)
    paths = render_report(directory)
    return Rendered(
        records,
        paths,
        paths.markdown.read_text(encoding="utf-8"),
        paths.html.read_text(encoding="utf-8"),
    )
