"""The server scenario's queue replay against hand computations and a naive loop."""

from __future__ import annotations

import numpy as np
import pytest

from potstill.costs.server import max_qps_under_slo, queue_latencies, server_scenario
from potstill.costs.stats import percentile


def naive_lindley(service: np.ndarray, gaps_ms: np.ndarray) -> np.ndarray:
    finish, arrival, out = 0.0, 0.0, []
    for i, s in enumerate(service):
        arrival += gaps_ms[i] if i else 0.0
        start = max(arrival, finish)
        finish = start + s
        out.append(finish - arrival)
    return np.array(out)


def test_queue_by_hand() -> None:
    # Arrivals at 0, 1, 2 ms (qps 1000 → unit gap 1 = 1 ms); each call takes 2 ms.
    service = np.array([2.0, 2.0, 2.0])
    latencies = queue_latencies(service, 1000.0, np.array([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(latencies, [2.0, 3.0, 4.0])
    # Gaps of 5 ms: nobody waits.
    np.testing.assert_allclose(queue_latencies(service, 200.0, np.ones(3)), service)


def test_closed_form_matches_the_naive_recursion() -> None:
    rng = np.random.default_rng(3)
    service = rng.gamma(2.0, 0.5, size=2000)
    unit = rng.standard_exponential(2000)
    for qps in (100.0, 800.0, 990.0):
        np.testing.assert_allclose(
            queue_latencies(service, qps, unit), naive_lindley(service, unit * 1000.0 / qps)
        )


def test_max_qps_is_the_edge_of_the_slo() -> None:
    service = np.random.default_rng(0).gamma(4.0, 0.25, size=5000)  # mean 1 ms
    slo = 5.0
    best = max_qps_under_slo(service, slo, seed=1)
    assert 0 < best < 1000.0  # below the stability bound 1 / mean
    unit = np.random.default_rng(1).standard_exponential(len(service))
    assert percentile(queue_latencies(service, best, unit), 99) <= slo
    assert percentile(queue_latencies(service, best * 1.01, unit), 99) > slo
    # An SLO below the service p99 cannot be met at any load.
    assert max_qps_under_slo(service, percentile(service, 99) * 0.9) == 0.0


def test_server_block_reports_curve_target_and_reliability() -> None:
    service = np.full(700, 2.0)
    block = server_scenario(service, slo_ms=10.0, target_qps=100.0, seed=0)
    assert block["capacity_qps"] == pytest.approx(500.0)
    assert block["p99_reliable"] is True and block["n_requests"] == 700
    assert block["curve"][0]["qps"] == pytest.approx(25.0)
    assert block["p99_ms_at_target"] >= 2.0
    assert server_scenario(service, slo_ms=10.0, target_qps=600.0, seed=0)[
        "p99_ms_at_target"
    ] == float("inf")
