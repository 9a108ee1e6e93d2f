"""Every box imports on its own (no circular imports) and declares its public API."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import potstill

# Entry points other boxes or users import first; a cycle shows up only in a fresh interpreter.
BOXES = [
    "potstill.evaluate",
    "potstill.config",
    "potstill.cli",
    "potstill.report",
    "potstill.results.store",
    "potstill.costs",
]


@pytest.mark.parametrize("module", BOXES)
def test_box_imports_in_a_fresh_interpreter(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def _modules() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(potstill.__path__, "potstill."):
        if info.name.rsplit(".", 1)[-1] not in ("__main__",):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("module", _modules())
def test_every_module_declares_all(module: str) -> None:
    mod = importlib.import_module(module)
    assert isinstance(getattr(mod, "__all__", None), (list, tuple)), f"{module} has no __all__"
    for name in mod.__all__:
        assert hasattr(mod, name), f"{module}.__all__ names missing {name!r}"


def test_top_level_exports_resolve() -> None:
    for name in potstill.__all__:
        assert getattr(potstill, name) is not None


def test_no_type_checking_imports() -> None:
    """No import hidden from the runtime (layers are checked by lint-imports, make test)."""
    root = Path(potstill.__file__).parent
    hits = [str(p) for p in root.rglob("*.py") if "TYPE_CHECKING" in p.read_text()]
    assert hits == []
