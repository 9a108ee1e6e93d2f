"""Every error message names only options that exist: CLI flags and fleet-YAML fields.

A message that tells the user to pass ``--architecture`` when no such flag exists sends
them nowhere. This scans the text of every ``raise`` in ``src/potstill`` for ``--flags``
and ``section.field`` paths and checks each against the CLI and the config models.
"""

from __future__ import annotations

import ast
import re
import typing
from pathlib import Path
from typing import Any

import typer.main
from pydantic import BaseModel

from potstill.cli import app
from potstill.config import FleetConfig, SystemSpec

SRC = Path(__file__).resolve().parents[1] / "src" / "potstill"
#: Flags of other programs that messages quote (pip's, for installing packages).
FOREIGN_FLAGS = {"--no-deps", "--force-reinstall", "--upgrade"}
FILE_SUFFIXES = (".json", ".yaml", ".yml", ".csv", ".md", ".py")


def _cli_flags() -> set[str]:
    flags: set[str] = {"--help"}
    stack: list[Any] = [typer.main.get_command(app)]
    while stack:
        command = stack.pop()
        for param in command.params:
            flags.update(o for o in [*param.opts, *param.secondary_opts] if o.startswith("--"))
        stack.extend(getattr(command, "commands", {}).values())  # a group's subcommands
    return flags


def _field_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        paths.add(prefix + name)
        for arg in typing.get_args(info.annotation) or (info.annotation,):
            for inner in typing.get_args(arg) or (arg,):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    paths |= _field_paths(inner, f"{prefix}{name}.")
    return paths


def _raised_texts() -> list[tuple[str, str]]:
    """(file:line, text) of every string literal inside a ``raise`` statement."""
    texts = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            parts = [
                n.value
                for n in ast.walk(node.exc)
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
            texts.append((f"{path.relative_to(SRC)}:{node.lineno}", " ".join(parts)))
    return texts


def test_every_flag_named_in_an_error_exists() -> None:
    flags = _cli_flags() | FOREIGN_FLAGS
    pattern = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
    unknown = [
        (where, flag)
        for where, text in _raised_texts()
        for flag in pattern.findall(text)
        if flag not in flags
    ]
    assert not unknown, f"messages name CLI flags that do not exist: {unknown}"


def test_every_yaml_field_named_in_an_error_exists() -> None:
    paths = _field_paths(FleetConfig) | _field_paths(SystemSpec)
    sections = "|".join(sorted({p.split(".")[0] for p in paths if "." in p}))
    pattern = re.compile(rf"(?<![\w./])(?:{sections})\.[a-z_]+(?:\.[a-z_]+)*")
    unknown = [
        (where, field)
        for where, text in _raised_texts()
        for field in pattern.findall(text)
        if field not in paths and not field.endswith(FILE_SUFFIXES)
    ]
    assert not unknown, f"messages name YAML fields that do not exist: {unknown}"


def test_the_scan_finds_what_it_checks() -> None:
    """The scan is not vacuous: it sees the flags and fields the messages do name."""
    texts = " ".join(text for _, text in _raised_texts())
    assert "--trust-pickle" in texts and "--teacher-architecture" in texts
    assert "teacher.architecture" in texts and "dataset.problem" in texts
