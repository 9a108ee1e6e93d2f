"""Fault tests with real Ray: a worker killed mid-system, a driver killed mid-study.

The cluster is a real head node with 2 CPUs (``ray start``); the driver is the real CLI
(``potstill study --executor ray --address ...``). Records must equal a clean local run's
except what depends on the clock or the machine (:data:`_fleet.CLOCK_FIELDS`), and no
record may be lost or written twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from _fleet import computed, records, write_fleet

from conftest import Cluster
from potstill.config import load_fleet
from potstill.runner import run_study

pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a real cluster and four studies: about 3 minutes on 2 cores

#: The longest a step may wait for the study to reach a point (a busy machine is slow).
WAIT_S = 300


def _wait(condition, what: str, proc: subprocess.Popen[bytes] | None = None) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        assert proc is None or proc.poll() is None, f"the driver exited before {what}"
        time.sleep(0.05)


def _system_worker(system: str) -> psutil.Process | None:
    """The Ray worker process running ``system``'s task (Ray titles it ``ray::<task>``)."""
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if cmdline.startswith(f"ray::potstill:{system}"):
            return proc
    return None


def _driver(cluster: Cluster, fleet: Path, out: Path) -> subprocess.Popen[bytes]:
    with (out.parent / f"{out.name}.log").open("ab") as log:  # the child keeps its own copy
        return subprocess.Popen(cluster.study(fleet, out), env=cluster.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


def _finish(cluster: Cluster, fleet: Path, out: Path) -> None:
    done = subprocess.run(cluster.study(fleet, out), env=cluster.env, capture_output=True)
    assert done.returncode == 0, done.stdout.decode()[-3000:] + done.stderr.decode()[-3000:]


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, ray_cluster: Cluster) -> dict[str, dict]:
    """The fleet's records from the local executor, in this process (the reference)."""
    root = tmp_path_factory.mktemp("clean")
    run_study(load_fleet(write_fleet(root)), root / "out", cache_dir=root / "cache")
    found = records(root / "out")
    assert len(found) == 4 and all(r["status"] == "ok" for r in found.values())
    return {name: computed(r) for name, r in found.items()}


def test_worker_killed_mid_system_is_retried_and_its_records_equal_a_clean_run(
    tmp_path: Path, ray_cluster: Cluster, clean: dict[str, dict]
) -> None:
    fleet, out = write_fleet(tmp_path), tmp_path / "out"
    driver = _driver(ray_cluster, fleet, out)
    marker = out / "students" / "bc" / "system.json"  # written once bc starts training
    _wait(lambda: marker.is_file() and _system_worker("bc") is not None, "bc training", driver)
    victim = _system_worker("bc")
    assert victim is not None
    victim.send_signal(signal.SIGKILL)
    assert driver.wait(WAIT_S) == 0, (out.parent / "out.log").read_text()[-3000:]
    found = records(out)
    assert found.keys() == clean.keys()
    for name, record in found.items():
        assert record["status"] == "ok", name
        assert computed(record) == clean[name], name
        assert record["environment"]["node"]["cpus_reserved"] == 1
    log = (out.parent / "out.log").read_text()
    assert "will be retried" in log  # Ray's word that the killed task ran again
    assert "4 new records" in log  # nothing lost, nothing written as failed


def test_driver_killed_mid_study_reruns_only_what_was_not_finished(
    tmp_path: Path, ray_cluster: Cluster, clean: dict[str, dict]
) -> None:
    fleet = write_fleet(tmp_path, "executor: {kind: ray, workers: 1}\n")  # bc, then cs
    out = tmp_path / "out"
    driver = _driver(ray_cluster, fleet, out)
    first = [out / "records" / "bc__scratch.json", out / "records" / "bc__kd.json"]
    _wait(lambda: all(p.is_file() for p in first), "bc's records", driver)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first}
    assert not (out / "records" / "cs__kd.json").exists(), "cs finished before the kill"
    _finish(ray_cluster, fleet, out)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in first}
    assert after == before  # bc was not run again
    found = records(out)
    assert found.keys() == clean.keys()
    for name, record in found.items():
        assert computed(record) == clean[name], name
