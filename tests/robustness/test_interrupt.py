"""Ctrl-C on a real, piped study: exit 130 and one line on stderr saying what stopped.

The terminal sends SIGINT to the whole foreground process group, so the test does the same
to a ``potstill study ... | cat`` pipeline started in its own session. Typer turns Ctrl-C
into a silent ``exit 130``; the CLI must still say what was interrupted and that a rerun
resumes, and the rerun must finish what the interrupted run left — even when the reader
of its output goes away early (``| head -n 1``).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest

from potstill import api
from potstill.cli import main

FLEET = """
name: interrupt
seed: 0
grid: [scratch]
train: {epochs: 3, batch_size: 64}
bench: {warmup: 10, min_calls: 30, min_seconds: 0.05, batch_sizes: [1], runtimes: [eager],
        memory: false, threads: 1}
evaluate: {n_resamples: 20, severities: [1.0]}
systems:
  - name: bc
    dataset: {builtin: breast_cancer}
    teacher: {arch: mlp, hidden: [128, 128], epochs: 100}
"""


def _sigint_default() -> None:
    """A terminal's job gets Ctrl-C; a child of a test-runner worker that ignores SIGINT
    would inherit the ignore (and bash cannot undo an inherited one), so undo it here."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _pipeline(fleet: Path, out: Path, reader: str = "cat") -> str:
    study = [sys.executable, "-m", "potstill.cli", "study", str(fleet), "--out", str(out),
             "--log-format", "plain"]  # fmt: skip
    return f"{shlex.join(study)} | {reader}; exit ${{PIPESTATUS[0]}}"


@pytest.mark.slow  # two real study runs in subprocesses
def test_ctrl_c_on_a_piped_study_says_what_stopped_and_a_rerun_resumes(tmp_path: Path) -> None:
    fleet, out = tmp_path / "fleet.yaml", tmp_path / "out"
    fleet.write_text(FLEET)
    env = {**os.environ, "POTSTILL_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        ["bash", "-c", _pipeline(fleet, out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
        preexec_fn=_sigint_default,
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # interrupt while the (100-epoch) teacher trains
        seen.append(line)
        if "teacher started" in line:
            os.killpg(proc.pid, signal.SIGINT)
            break
    rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, "".join(seen) + rest + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("interrupted: potstill study "), err
    assert "rerun the same command to resume" in err
    assert not list(out.glob("records/*.json"))

    # The rerun's reader stops after one line: the run goes on to the end, its output to
    # /dev/null (no system fails with BrokenPipeError, as one did when Ctrl-C stopped
    # 'cat' before potstill wrote its next line).
    rerun = _pipeline(fleet, out, reader="head -n 1")
    done = subprocess.run(["bash", "-c", rerun], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert len(done.stdout.splitlines()) == 1
    records = [json.loads(p.read_text()) for p in out.glob("records/*.json")]
    assert [r["status"] for r in records] == ["ok"], done.stderr[-2000:]
    assert "Broken pipe" not in done.stderr and "Exception ignored" not in done.stderr


def _ctrl_c(*args: object, **kwargs: object) -> NoReturn:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    ("argv", "then"),
    [
        (["study", "fleet.yaml", "--out", "my study"], "rerun the same command to resume"),
        (["bench", "model.onnx"], "rerun the same command to run it again"),
    ],
)
def test_ctrl_c_in_process_names_the_command(
    argv: list[str], then: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(api, argv[0], _ctrl_c)
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 130
    assert f"interrupted: potstill {shlex.join(argv)}" in " ".join(err.split()), err
    assert then in " ".join(err.split()), err
    assert "Traceback" not in err
