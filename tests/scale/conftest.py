"""Fixtures of the scale tests: a real local Ray cluster (``ray start --head``, 2 CPUs) whose
workers see this checkout and a private potstill cache, and the driver command."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

#: How long a cluster may take to answer (a busy two-core machine starts Ray slowly).
START_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def study_env(cache: Path) -> dict[str, str]:
    """What the driver and the cluster's workers run with: this checkout first, a private
    teacher cache, no student reuse across studies (as every test)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "POTSTILL_CACHE": str(cache),
        "POTSTILL_REUSE_STUDENTS": "0",
        "PYTHONUNBUFFERED": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",  # a private test cluster: no token to hand around
    }


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]

    def study(self, fleet: Path, out: Path) -> list[str]:
        """The driver's command line: ``potstill study`` on this cluster."""
        return [sys.executable, "-m", "potstill.cli", "study", str(fleet), "--out", str(out),
                "--executor", "ray", "--address", self.address, "--log-format", "plain"]  # fmt: skip


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A head node with 2 CPUs started for these tests and stopped after them."""
    ray_bin = Path(sys.executable).parent / "ray"
    if not ray_bin.exists() and shutil.which("ray") is None:
        pytest.skip("the [ray] extra is not installed")
    root = tmp_path_factory.mktemp("ray")
    env = study_env(root / "cache")
    port = _free_port()
    log = (root / "head.log").open("wb")
    head = subprocess.Popen(
        [str(ray_bin) if ray_bin.exists() else "ray", "start", "--head", "--block",
         f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
         "--disable-usage-stats"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        _wait_for(address, head, env, root / "head.log")
        yield Cluster(address, env)
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # --block stops the node's processes on SIGTERM
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        log.close()
        _forget(port)


def _forget(port: int) -> None:
    """Ray's note of the last cluster started here, when it is ours: a later ``ray.init()``
    on this machine would otherwise try to join the stopped cluster."""
    note = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
    if note.is_file() and note.read_text().strip().endswith(f":{port}"):
        note.unlink()


def _wait_for(address: str, head: subprocess.Popen[bytes], env: dict[str, str], log: Path) -> None:
    """Return once the head node says it is up (``ray start`` prints it when ready)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise AssertionError(f"ray start exited:\n{log.read_text()[-3000:]}")
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"the Ray cluster at {address} did not start:\n{log.read_text()[-3000:]}")
