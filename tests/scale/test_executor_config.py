"""The executor and tracking sections: checked like every fleet setting, refused with a
clear message, never part of a record's config hash; the node's benchmark lock."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from _fleet import FLEET, write_fleet

from potstill.cli import main
from potstill.config import load_fleet
from potstill.errors import ConfigError
from potstill.executors.node import (
    BENCH_LOCK,
    node_bench_lock,
    node_environment,
    node_lock,
    task_threads,
)
from potstill.runner import config_hash, with_executor


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
        raise SystemExit(0)
    return int(info.value.code or 0), capsys.readouterr().err


THREADS_2 = FLEET.replace("train: {epochs: 4,", "train: {threads: 2, epochs: 4,")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (FLEET + "executor: {address: auto}\n", "executor.address applies to kind 'ray' only"),
        (THREADS_2 + "executor: {kind: ray, cpus_per_system: 1}\n", "train.threads is 2"),
        (FLEET + "executor: {kind: slurm}\n", "executor.kind"),
        (FLEET + "tracking: {mlfow: x}\n", "unknown key"),
    ],
)
def test_bad_executor_settings_are_refused_with_the_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_fleet(path)


def test_a_fleet_with_the_older_runner_section_loads_as_its_executor(tmp_path: Path) -> None:
    path = write_fleet(tmp_path, "runner: {backend: process, workers: 2}\n")
    executor = load_fleet(path).executor
    assert (executor.kind, executor.workers) == ("process", 2)


def test_where_systems_run_changes_no_config_hash(tmp_path: Path) -> None:
    local = load_fleet(write_fleet(tmp_path))
    ray = with_executor(local, {"kind": "ray", "address": "auto", "cpus_per_system": 2})
    tracked = load_fleet(write_fleet(tmp_path, "tracking: {mlflow: 'sqlite:///m.db'}\n"))
    assert ray.executor.address == "auto" and ray.cpus_per_system() == 2
    assert config_hash(ray) == config_hash(local) == config_hash(tracked)
    assert local.cpus_per_system() == 1  # the most threads the fleet asks for


def test_cli_options_are_checked_like_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = write_fleet(tmp_path)
    code, err = _run(capsys, "study", str(fleet), "--out", str(tmp_path / "o"),
                     "--address", "auto")  # fmt: skip
    assert code == 2 and "executor.address applies to kind 'ray' only" in err
    assert "Traceback" not in err


def test_ray_executor_without_ray_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    out = tmp_path / "o"
    code, err = _run(capsys, "study", str(write_fleet(tmp_path)), "--out", str(out),
                     "--executor", "ray")  # fmt: skip
    assert code == 2 and "pip install 'potstill[ray]'" in err and "Traceback" not in err
    assert not out.exists()  # refused before any work


def test_the_bench_lock_admits_one_holder_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    order: list[str] = []
    held, go = threading.Event(), threading.Event()

    def first() -> None:
        with node_bench_lock():
            order.append("first in")
            held.set()
            go.wait(30)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(30)
    second = threading.Thread(target=lambda: _enter(order))
    second.start()
    go.set()
    thread.join(30)
    second.join(30)
    assert order == ["first in", "first out", "second in"]


def _enter(order: list[str]) -> None:
    with node_bench_lock():
        order.append("second in")


def test_systems_work_side_by_side_but_a_benchmark_has_the_node_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    order: list[str] = []
    working, benching, go = threading.Event(), threading.Event(), threading.Event()

    def other_system() -> None:  # trains while the first system holds the node too
        with node_lock():
            order.append("other works")
            working.set()
            go.wait(30)
            order.append("other done working")

    with node_lock() as bench:
        other = threading.Thread(target=other_system)
        other.start()
        assert working.wait(30)  # two shared holders at once
        timer = threading.Thread(target=lambda: _bench(bench, order, benching))
        timer.start()
        time.sleep(0.3)
        assert not benching.is_set()  # the benchmark waits while the other system works
        go.set()
        timer.join(30)
        other.join(30)
    assert order == ["other works", "other done working", "bench"]


def _bench(bench: Any, order: list[str], benching: threading.Event) -> None:
    with bench():
        benching.set()
        order.append("bench")


def test_a_killed_holder_leaves_the_node_unlocked(tmp_path: Path) -> None:
    lock = tmp_path / BENCH_LOCK
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(600)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with lock.open("a") as fh:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.kill()
        holder.wait()
        holder.stdout.close()
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again


def test_a_task_keeps_its_threads_within_its_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch
    from threadpoolctl import threadpool_info

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    with task_threads(1):
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert torch.get_num_threads() == before and "OMP_NUM_THREADS" not in os.environ


def test_a_record_says_which_node_it_ran_on() -> None:
    env = node_environment({"seed": 3, "cpu": "the driver's", "executor": {"kind": "ray"}}, 2, "n1")
    assert env["seed"] == 3 and env["executor"] == {"kind": "ray"}
    assert env["cpu"] != "the driver's" and env["logical_cpus"] >= 1
    assert env["node"]["id"] == "n1" and env["node"]["cpus_reserved"] == 2
