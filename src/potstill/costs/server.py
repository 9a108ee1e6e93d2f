"""Server scenario: how much Poisson traffic one model replica takes under a p99 SLO.

MLPerf's server scenario fires queries at Poisson arrival times and asks for the largest
rate whose p99 latency meets a bound. We replay that queue with the *measured* batch-1
service times, in the order they were measured, against seeded Poisson arrivals: one
replica serves one request at a time (first come, first served), so request i waits
``W_i = max(0, W_{i-1} + S_{i-1} - A_i)`` (Lindley's recursion; ``S`` service time,
``A`` inter-arrival gap) and its latency is ``W_i + S_i``. The recursion is evaluated in
closed form (``W = C - running_min(C)``, ``C`` the cumulative sum of ``S_{i-1} - A_i``), so
a bisection over the rate costs milliseconds. For fixed exponential draws the p99 grows
monotonically with the rate, which makes the bisection exact up to its tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from potstill.costs.stats import MIN_SAMPLES, percentile

__all__ = ["max_qps_under_slo", "queue_latencies", "server_scenario"]

_BISECTION_STEPS = 40
_CURVE_FRACTIONS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def _unit_gaps(n: int, seed: int) -> np.ndarray:
    """Standard exponential draws; gaps at rate q (per second) are these / q."""
    return np.random.default_rng(seed).standard_exponential(n)


def queue_latencies(service_ms: np.ndarray, qps: float, unit_gaps: np.ndarray) -> np.ndarray:
    """Per-request latency (ms) of a FCFS single server fed at ``qps`` Poisson arrivals."""
    service = np.asarray(service_ms, dtype=np.float64)
    if qps <= 0:
        return service.copy()
    gaps_ms = unit_gaps[: len(service)] * (1000.0 / qps)
    steps = np.empty_like(service)
    steps[0] = 0.0
    steps[1:] = service[:-1] - gaps_ms[1:]
    cumulative = np.cumsum(steps)
    waits = cumulative - np.minimum(np.minimum.accumulate(cumulative), 0.0)
    return waits + service


def max_qps_under_slo(service_ms: np.ndarray, slo_ms: float, *, seed: int = 0) -> float:
    """Largest Poisson rate (requests/s) whose replayed p99 latency is <= ``slo_ms``.

    0.0 when even an idle server misses the SLO (the p99 service time exceeds it).
    """
    service = np.asarray(service_ms, dtype=np.float64)
    gaps = _unit_gaps(len(service), seed)
    if percentile(service, 99) > slo_ms:
        return 0.0
    low, high = 0.0, 1000.0 / float(service.mean())  # above 1/mean the queue is unstable
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if percentile(queue_latencies(service, middle, gaps), 99) <= slo_ms:
            low = middle
        else:
            high = middle
    return low


def server_scenario(
    service_ms: np.ndarray, *, slo_ms: float, target_qps: float | None, seed: int
) -> dict[str, Any]:
    """The record's server-scenario block for one model × runtime (one replica)."""
    service = np.asarray(service_ms, dtype=np.float64)
    gaps = _unit_gaps(len(service), seed)
    capacity = 1000.0 / float(service.mean())
    curve = [
        {
            "qps": f * capacity,
            "p99_ms": percentile(queue_latencies(service, f * capacity, gaps), 99),
        }
        for f in _CURVE_FRACTIONS
    ]
    result: dict[str, Any] = {
        "method": "FCFS queue replay of the measured batch-1 service times, seeded Poisson "
        "arrivals, one replica with the benchmark's thread count",
        "slo_ms": slo_ms,
        "max_qps": max_qps_under_slo(service, slo_ms, seed=seed),
        "capacity_qps": capacity,
        "curve": curve,
        "n_requests": len(service),
        "p99_reliable": len(service) >= MIN_SAMPLES["p99"],
        "seed": seed,
    }
    if target_qps is not None:
        latencies = queue_latencies(service, target_qps, gaps)
        result["target_qps"] = target_qps
        result["p99_ms_at_target"] = (
            percentile(latencies, 99) if target_qps < capacity else float("inf")
        )
    return result
