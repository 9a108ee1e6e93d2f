"""``potstill replay``: send a file's rows to a running server, optionally shifted.

For demos, tests and the load benchmark. Loopback only: the URL's host must be a
loopback address (127.0.0.0/8, ::1 or localhost), so a replay never leaves the machine.
``--drift noise=2.0`` adds Gaussian noise of 2 reference standard deviations to every
numeric input (``shift=1.0`` adds one standard deviation): the monitor should flag it.
With ``--feedback`` the file's target column is sent to ``/v1/feedback`` afterwards.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from potstill.data.columns import read_table
from potstill.errors import ConfigError, DataError, missing_dependency
from potstill.serve.bundle import Bundle, load_bundle
from potstill.serve.config import ReplayConfig

try:
    import httpx
except ImportError as exc:  # the [serve] extra
    raise missing_dependency("httpx", extra="serve", purpose="potstill replay") from exc

__all__ = ["DRIFTS", "check_loopback", "parse_drift", "replay", "shifted"]

DRIFTS = ("noise", "shift")


def check_loopback(url: str) -> str:
    """``url`` without a trailing slash, if its host is a loopback address."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme not in ("http", "https") or not loopback:
        raise ConfigError(
            f"The --url {url!r} must be http(s) on a loopback address (127.0.0.1, ::1 or "
            "localhost): replay only sends rows to a server on this machine."
        )
    return url.rstrip("/")


def parse_drift(text: str | None) -> dict[str, float]:
    """{'noise': 2.0} from 'noise=2.0' (comma-separated pairs)."""
    if not text:
        return {}
    out: dict[str, float] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        key = key.strip()
        try:
            amount = float(value)
        except ValueError:
            amount = float("nan")
        if key not in DRIFTS or not np.isfinite(amount) or amount < 0:
            raise ConfigError(
                f"The '--drift' option takes name=amount pairs with a name in {list(DRIFTS)} "
                f"and an amount >= 0, e.g. noise=2.0. Got {part!r} instead."
            )
        out[key] = amount
    return out


def shifted(X: np.ndarray, bundle: Bundle, drift: dict[str, float], seed: int) -> np.ndarray:
    """``X`` with the drift applied to its numeric inputs, in units of the reference sd."""
    if not drift:
        return X
    rng = np.random.default_rng(seed)
    inputs = bundle.reference["inputs"]
    sd = np.array([inputs[n].get("std", 0.0) for n in bundle.features])
    numeric = np.array([inputs[n]["kind"] == "numeric" for n in bundle.features])
    out = X.copy()
    noise = drift.get("noise", 0.0) * sd * rng.standard_normal(X.shape)
    out[:, numeric] += noise[:, numeric] + drift.get("shift", 0.0) * sd[numeric]
    return out


def _load(bundle: Bundle, data: Path) -> tuple[np.ndarray, list[Any] | None]:
    frame, _ = read_table(data)
    missing = [n for n in bundle.features if n not in frame.columns]
    if missing:
        raise DataError(
            f"{data} lacks the student's feature column(s) {missing}. The student takes: "
            f"{bundle.features}."
        )
    try:
        X = frame[bundle.features].astype("float64").to_numpy()
    except ValueError as exc:
        raise DataError(f"{data}: a feature column is not numeric: {exc}.") from exc
    target = bundle.schema.get("target")
    labels = frame[target].tolist() if target in frame.columns else None
    return X, labels


def _label(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return int(number) if number.is_integer() else number


@dataclass
class _Tally:
    statuses: dict[str, int] = field(default_factory=dict)
    ok: int = 0
    errors: int = 0
    feedback: int = 0
    feedback_errors: int = 0


def _send(
    client: httpx.Client,
    rows: list[dict[str, float]],
    labels: list[Any] | None,
    tally: _Tally,
) -> None:
    """One prediction request, then its feedback when ``labels`` are given."""
    response = client.post("/v1/predict", json={"rows": rows})
    code = str(response.status_code)
    tally.statuses[code] = tally.statuses.get(code, 0) + 1
    if response.status_code != 200:
        tally.errors += 1
        return
    tally.ok += 1
    if labels is not None:
        body = {"request_id": response.json()["request_id"], "labels": labels}
        reply = client.post("/v1/feedback", json=body)
        tally.feedback += reply.status_code == 200
        tally.feedback_errors += reply.status_code != 200


def replay(student: Path, data: Path, config: ReplayConfig) -> dict[str, Any]:
    """Send the rows; returns counts, status codes and throughput as a dict."""
    url = check_loopback(config.url)
    drift = parse_drift(config.drift)
    bundle = load_bundle(student)
    X, labels = _load(bundle, data)
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(X)) if config.shuffle else np.arange(len(X))
    if config.rows is not None:
        order = np.resize(order, config.rows)  # repeats the file when asked for more rows
    X = shifted(X[order], bundle, drift, config.seed + 1)
    names, tally = bundle.features, _Tally()
    start = time.perf_counter()
    try:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            for lo in range(0, len(X), config.batch):
                rows = [
                    dict(zip(names, map(float, r), strict=True)) for r in X[lo : lo + config.batch]
                ]
                give = config.feedback > 0 and rng.random() < config.feedback
                batch_labels = (
                    [_label(labels[i]) for i in order[lo : lo + config.batch]]
                    if give and labels is not None
                    else None
                )
                _send(client, rows, batch_labels, tally)
    except httpx.TransportError as exc:
        raise ConfigError(
            f"Cannot reach the server at {url}: {exc}. Start it with 'potstill serve' and "
            "check --url."
        ) from exc
    seconds = time.perf_counter() - start
    return {
        "rows": len(X), "requests": sum(tally.statuses.values()), "ok": tally.ok,
        "errors": tally.errors, "status": tally.statuses, "feedback": tally.feedback,
        "feedback_errors": tally.feedback_errors, "drift": drift, "seconds": seconds,
        "requests_per_s": tally.ok / seconds if seconds else None,
    }  # fmt: skip
