"""Shared by the user-teacher tests: the builders by system name, the small fleet settings,
and a runner of the real CLI entry point that captures what a user sees.

The fleet's train/bench/evaluate settings are small (a smoke run of every stage, cost
figures indicative only); what these tests check is correctness, not speed.
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import builders_media
import builders_tabular
import yaml
from builders import UserSystem

from potstill.cli import main

#: How a Python traceback starts (a TorchScript error's own text says "Traceback of TorchScript").
PY_TRACEBACK = "Traceback (most recent call last)"

#: Every user teacher of issue 10, by system name, in the order the fleet lists them.
BUILDERS: dict[str, Callable[[Path], UserSystem]] = {
    "credit_hgb": builders_tabular.hgb_joblib,
    "wine_xgb": builders_tabular.xgboost_json,
    "tumour_lgbm": builders_tabular.lightgbm_txt,
    "screening_onnx": builders_tabular.skl2onnx_imputer,
    "progression_onnx": builders_tabular.onnx_mlp_regression,
    "wine_torchscript": builders_tabular.torchscript_mlp,
    "digits_cnn_onnx": builders_media.cnn_onnx,
    "digits_cnn_torchscript": builders_media.cnn_torchscript,
    "reviews_bert": builders_media.hf_text,
}

#: Small settings for every stage (each stage runs; figures are indicative only).
FAST: dict[str, Any] = {
    "train": {"epochs": 8, "patience": 3, "batch_size": 64},
    "bench": {
        "warmup": 10, "min_calls": 10, "min_seconds": 0.0, "max_seconds": 5.0, "block_calls": 5,
        "batch_sizes": [1, 16], "sweep_min_calls": 3, "sweep_min_seconds": 0.0, "memory": False,
    },
    "evaluate": {"n_resamples": 100, "severities": [1.0]},
}  # fmt: skip


@dataclass(frozen=True)
class CliRun:
    """What one ``potstill`` command did: exit code, what it printed, and its records."""

    code: int
    out: str
    err: str
    folder: Path

    @property
    def records(self) -> dict[str, dict[str, Any]]:
        """``"<system>__<method>"`` → record, read from ``records/*.json``."""
        files = sorted((self.folder / "records").glob("*.json"))
        return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in files}

    def of(self, system: str) -> dict[str, dict[str, Any]]:
        """The records of ``system`` by method."""
        return {r["method"]: r for r in self.records.values() if r["system"] == system}


def run_cli(argv: list[str], folder: Path) -> CliRun:
    """Run the real CLI entry point in-process, capturing stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as exc:
            code = exc.code
        except Exception:  # what a user's terminal shows: a traceback, exit status 1
            traceback.print_exc()
            code = 1
    return CliRun(int(code or 0), out.getvalue(), err.getvalue(), folder)


def write_fleet(
    path: Path, systems: Iterable[UserSystem], *, grid: list[Any], **extra: Any
) -> Path:
    """A fleet YAML file for ``systems`` with the FAST settings."""
    config = {"name": "user-teachers", "seed": 0, "grid": grid, **FAST, **extra,
              "systems": [s.yaml_system() for s in systems]}  # fmt: skip
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
