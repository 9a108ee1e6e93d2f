"""Fixtures of the serving tests: a studied student, real servers, a real PostgreSQL.

Servers are real ``potstill serve`` processes on 127.0.0.1 with a port chosen by the OS
(written to a port file), started and stopped by the fixtures within bounded waits.
PostgreSQL is a throwaway cluster (``initdb`` + ``pg_ctl``) in a temporary folder that
listens on a unix socket only; its tests skip, saying why, when the binaries are absent.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import torch
from sqlalchemy import create_engine, text
from torch import nn

from potstill import api

FEATURES = ["f0", "f1", "f2", "f3", "region"]
START_TIMEOUT_S = 120.0


def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, 4)), columns=FEATURES[:4])
    frame["f1"] = np.exp(frame["f1"])  # a skewed input
    frame["region"] = rng.integers(0, 4, size=n)  # integers with few values: a category
    score = frame["f0"] + 0.8 * np.log(frame["f1"]) - 0.5 * (frame["region"] == 2)
    frame["label"] = np.where(score > 0, "churn", "stay")
    return frame


def _teacher(frame: pd.DataFrame, path: Path) -> None:
    X = torch.tensor(frame[FEATURES].to_numpy(np.float32))
    y = torch.tensor((frame["label"] == "stay").to_numpy().astype(np.int64))  # classes sorted
    mean, std = X.mean(0), X.std(0)
    torch.manual_seed(0)
    body = nn.Sequential(nn.Linear(5, 32), nn.ReLU(), nn.Linear(32, 2))
    optimiser = torch.optim.Adam(body.parameters(), lr=0.02)
    for _ in range(200):
        optimiser.zero_grad()
        nn.functional.cross_entropy(body((X - mean) / std), y).backward()
        optimiser.step()

    class Scaled(nn.Module):  # the deployed model takes raw rows
        def __init__(self) -> None:
            super().__init__()
            self.body = body

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.body((x - mean) / std)

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            Scaled().eval(), (X[:2],), str(path), dynamo=False, input_names=["x"],
            output_names=["logits"], dynamic_axes={"x": {0: "n"}, "logits": {0: "n"}},
        )  # fmt: skip


@dataclass(frozen=True)
class Studied:
    root: Path
    csv: Path
    teacher: Path
    student: Path  # students/system/kd
    study: Path
    features: tuple[str, ...] = tuple(FEATURES)


@pytest.fixture(scope="session")
def studied(tmp_path_factory: pytest.TempPathFactory) -> Studied:
    """A real `potstill distill --quick` of an ONNX teacher on a small CSV."""
    root = tmp_path_factory.mktemp("served")
    frame = _rows(600, seed=0)
    frame.to_csv(root / "rows.csv", index=False)
    _teacher(frame, root / "teacher.onnx")
    out = root / "study"
    api.distill(
        teacher=root / "teacher.onnx", data=root / "rows.csv", target="label", out=out,
        methods=("kd",), quick=True, progress=False,
    )  # fmt: skip
    return Studied(root, root / "rows.csv", root / "teacher.onnx", out / "students/system/kd", out)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    store: str
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0)

    def wait_shadow(self, timeout: float = START_TIMEOUT_S) -> str:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                state = c.get("/readyz").json()["shadow"]
                if state != "starting":
                    return str(state)
                time.sleep(0.2)
        raise AssertionError(f"the shadow teacher did not start within {timeout} s")

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_server(student: Path, folder: Path, *args: str, store: str | None = None) -> Server:
    """`potstill serve` on 127.0.0.1 and a free port; returns once /readyz answers 200."""
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / f"port-{time.monotonic_ns()}"
    store = store or f"sqlite:///{folder / 'live.db'}"
    log = folder / f"serve-{time.monotonic_ns()}.log"
    cmd = [sys.executable, "-m", "potstill.cli", "serve", str(student), "--host", "127.0.0.1",
           "--port", "0", "--port-file", str(port_file), "--store", store, *args]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not port_file.is_file():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    server = Server(proc, f"http://127.0.0.1:{int(port_file.read_text())}", store, log)
    with server.client() as c:
        while c.get("/readyz").status_code != 200:
            if time.monotonic() > deadline:
                server.stop(kill=True)
                raise AssertionError("the server never became ready")
            time.sleep(0.1)
    return server


@pytest.fixture(scope="session")
def launch() -> Any:
    """``start_server`` for tests (tests/ is not a package, so they cannot import it)."""
    return start_server


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    frame = _rows(50, seed=1)
    return [
        {k: (int(v) if k == "region" else float(v)) for k, v in r.items() if k != "label"}
        for r in frame.to_dict("records")
    ]


# ---------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a unix socket; its SQLAlchemy URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) are not installed; "
            "'make setup' installs Debian's postgresql package"
        )
    root = Path(tempfile.mkdtemp(prefix="potstill-pg-"))
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:  # initdb refuses root: run the cluster as the postgres user
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
        os.chown(root, entry.pw_uid, entry.pw_gid)
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid}
    data = root / "data"
    run = {"check": True, "capture_output": True, "timeout": 120, **as_user}
    subprocess.run([initdb, "-D", str(data), "-U", "potstill", "--auth=trust", "--no-sync",
                    "-E", "UTF8"], **run)  # fmt: skip
    options = f"-k {root} -c listen_addresses='' -p 5432 -c fsync=off"
    subprocess.run([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                    "-t", "60", "start"], **run)  # fmt: skip
    try:
        yield f"postgresql+psycopg://potstill@/postgres?host={root}&port=5432"
    finally:
        stop = [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(stop, **{**run, "check": False})
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> Iterator[str]:
    """A fresh database on the throwaway cluster, dropped afterwards."""
    name = f"t{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_url.replace("/postgres?", f"/{name}?")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
