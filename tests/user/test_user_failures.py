"""One broken teacher never costs the rest of the fleet, and a changed system reruns alone.

The broken teacher is a real TorchScript file that loads fine and then raises inside the
user's own code on any batch larger than four rows (a model server that went away, say):
potstill cannot refuse it up front, so it must fail that system into ``failed`` records
holding the error, keep every other system's records, write the report, and exit with the
code for failed runs (3), not the one for failed gates (1) and not 0.
"""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from builders import UserSystem
from cli_helpers import PY_TRACEBACK, CliRun, run_cli, write_fleet
from torch import nn

#: Two small studies, about 25 s on two cores.
pytestmark = pytest.mark.slow

#: Exit code of a study some of whose runs failed (README, ``potstill --help``).
EXIT_RUNS_FAILED = 3


class Unavailable(nn.Module):
    """Wraps a working model; raises on batches of more than four rows."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > 4:
            raise RuntimeError("teacher backend unavailable")
        return self.inner(x)


def _broken_copy(system: UserSystem, path: Path) -> UserSystem:
    with warnings.catch_warnings():  # torch deprecates TorchScript; the user's file is one
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        inner = torch.jit.load(str(system.teacher))
        torch.jit.script(Unavailable(inner)).save(str(path))
    return dataclasses.replace(system, name="broken_torchscript", teacher=path)


#: The study run, its folder, and (good system, broken system, a working teacher file).
Broken = tuple[CliRun, Path, tuple[UserSystem, UserSystem, Path]]


def _fleet(path: Path, systems: list[UserSystem]) -> Path:
    return write_fleet(path, systems, grid=["scratch", "kd"])


@pytest.fixture(scope="module")
def broken_study(
    user_systems: dict[str, UserSystem], tmp_path_factory: pytest.TempPathFactory, _cache: Path
) -> Broken:
    root = tmp_path_factory.mktemp("broken")
    good = user_systems["progression_onnx"]
    broken = _broken_copy(user_systems["wine_torchscript"], root / "unavailable.pt")
    fleet = _fleet(root / "fleet.yaml", [good, broken])
    run = run_cli(["study", str(fleet), "--out", str(root / "study")], root / "study")
    return run, root, (good, broken, user_systems["wine_torchscript"].teacher)


def test_a_broken_teacher_fails_its_system_only(
    broken_study: Broken,
) -> None:
    run, _, _ = broken_study
    assert run.code == EXIT_RUNS_FAILED, (run.code, run.err[-3000:])
    assert PY_TRACEBACK not in run.err + run.out
    good = run.of("progression_onnx")
    assert set(good) == {"scratch", "kd"}
    assert all(r["status"] == "ok" for r in good.values()), {
        m: r["reason"] for m, r in good.items()
    }
    broken = run.of("broken_torchscript")
    assert broken, "the failed system left no record"
    for record in broken.values():
        assert record["status"] == "failed"
        assert "teacher backend unavailable" in record["reason"]
        error = json.dumps(record.get("error") or {})
        assert "teacher backend unavailable" in error and "line" in error  # a short traceback
    report = (run.folder / "report.md").read_text(encoding="utf-8")
    assert "progression_onnx" in report and "broken_torchscript" in report
    assert (run.folder / "results.csv").is_file()


def test_fixing_one_system_reruns_it_alone(
    broken_study: Broken,
) -> None:
    run, root, (good, broken, working) = broken_study
    before = {p.name: p.read_bytes() for p in (run.folder / "records").glob("progression*.json")}
    assert before
    fixed = dataclasses.replace(broken, teacher=working)  # the user points at a working file
    fleet = _fleet(root / "fleet.yaml", [good, fixed])
    assert yaml.safe_load(fleet.read_text())["systems"][1]["teacher"]["path"].endswith(
        "wine_mlp.pt"
    )
    rerun = run_cli(["study", str(fleet), "--out", str(run.folder)], run.folder)
    assert rerun.code in (0, 1), rerun.err[-3000:]
    after = {p.name: p.read_bytes() for p in (run.folder / "records").glob("progression*.json")}
    assert after == before, "an unchanged system was recomputed"
    assert all(r["status"] == "ok" for r in rerun.of("broken_torchscript").values())
