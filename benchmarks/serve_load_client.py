"""Load generators and a server process for ``serve_load.py`` (loopback only, bounded).

The clients use ``http.client`` with keep-alive (lighter than httpx, so the client steals
less CPU from the server on a small machine). Every loop is bounded in requests and in
seconds and stops by itself.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Server", "Tally", "closed_loop", "latency_summary", "open_loop", "scrape"]

START_TIMEOUT_S = 180.0


@dataclass
class Server:
    """A `potstill serve` process on 127.0.0.1 and a free port."""

    proc: subprocess.Popen[bytes]
    port: int
    store: str

    @classmethod
    def start(cls, student: Path, folder: Path, store: str, *args: str) -> Server:
        folder.mkdir(parents=True, exist_ok=True)
        port_file = folder / f"port-{time.monotonic_ns()}"
        cmd = [sys.executable, "-m", "potstill.cli", "serve", str(student), "--host",
               "127.0.0.1", "--port", "0", "--port-file", str(port_file), "--store", store, *args]  # fmt: skip
        log = (folder / f"serve-{time.monotonic_ns()}.log").open("wb")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not port_file.is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the server did not start; see {log.name} in {folder}")
            time.sleep(0.1)
        server = cls(proc, int(port_file.read_text()), store)
        server.wait_shadow()
        return server

    def get(self, path: str) -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def wait_shadow(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            status, body = self.get("/readyz")
            if status == 200 and json.loads(body)["shadow"] != "starting":
                return
            time.sleep(0.2)
        raise RuntimeError("the server's shadow teacher did not start")

    def stop(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
            self.proc.wait(60)


def scrape(server: Server) -> dict[str, float]:
    """The server's Prometheus samples without labels (name → value)."""
    _, text = server.get("/metrics")
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


@dataclass
class Tally:
    """What the clients saw: latencies (ms) of answered requests, errors, acknowledged ids."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    transport_errors: int = 0
    acked: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ms: float, status: int, body: bytes) -> None:
        with self.lock:
            if status == 200:
                self.latencies.append(ms)
                self.acked.append(json.loads(body)["request_id"])
            else:
                self.errors += 1


def _connect(port: int) -> http.client.HTTPConnection:
    """A keep-alive connection with Nagle off: http.client sends the headers and the body
    in two writes, and Nagle + the server's delayed ACK would add 40 ms to each request."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.connect()
    assert conn.sock is not None
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _post(conn: http.client.HTTPConnection, body: bytes) -> tuple[int, bytes]:
    conn.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read()


def _bodies(rows: list[dict[str, float]]) -> list[bytes]:
    return [json.dumps({"rows": [r]}).encode() for r in rows]


def closed_loop(port: int, rows: list[dict[str, float]], *, clients: int, seconds: float,
                max_requests: int) -> tuple[Tally, float]:  # fmt: skip
    """``clients`` threads sending back to back; (tally, elapsed seconds)."""
    bodies, tally, counter = _bodies(rows), Tally(), iter(range(max_requests))
    lock, end = threading.Lock(), time.perf_counter() + seconds

    def client() -> None:
        conn = _connect(port)
        while time.perf_counter() < end:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            start = time.perf_counter()
            try:
                status, body = _post(conn, bodies[i % len(bodies)])
            except (OSError, http.client.HTTPException):
                with tally.lock:
                    tally.transport_errors += 1
                return
            tally.record(1000 * (time.perf_counter() - start), status, body)
        conn.close()

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    return tally, time.perf_counter() - start


def open_loop(port: int, rows: list[dict[str, float]], *, rate: float, seconds: float,
              clients: int = 8) -> Tally:  # fmt: skip
    """Requests scheduled at a fixed ``rate``; a latency runs from the scheduled send time,
    so a request delayed behind a slow one counts its wait (no coordinated omission)."""
    bodies, tally = _bodies(rows), Tally()
    n = int(rate * seconds)
    counter, lock = iter(range(n)), threading.Lock()
    t0 = time.perf_counter() + 0.2

    def client() -> None:
        conn = _connect(port)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                break
            due = t0 + i / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            try:
                status, body = _post(conn, bodies[i % len(bodies)])
            except (OSError, http.client.HTTPException):
                with tally.lock:
                    tally.transport_errors += 1
                conn = _connect(port)
                continue
            tally.record(1000 * (time.perf_counter() - due), status, body)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 120)
    return tally


def latency_summary(latencies: list[float]) -> dict[str, Any]:
    x = np.asarray(latencies)
    if not len(x):
        return {"n": 0}
    p50, p90, p99 = np.percentile(x, [50, 90, 99])
    return {"n": len(x), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99),
            "mean_ms": float(x.mean()), "max_ms": float(x.max())}  # fmt: skip
