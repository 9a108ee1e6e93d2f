"""The HTTP face of a serving student (FastAPI): predict, feedback, health, metrics.

``POST /v1/predict``  ``{"rows": [{feature: value, ...}, ...]}`` → predictions,
probabilities, classes and a request id; 422 naming the row, field and value when the
feature schema refuses a row; 503 when the store did not commit (nothing acknowledged).
``POST /v1/feedback`` ``{"request_id": ..., "label": ..., "row": 0}`` (or ``"labels": [...]``).
``GET /v1/breaker`` the circuit breaker's state; ``POST /v1/breaker`` ``{"state": "open" |
"closed"}`` sets it by hand (from a loopback address only; 409 when the breaker is off).
``GET /healthz`` (the process answers), ``GET /readyz`` (student loaded, store writer
running; the shadow teacher's state is reported, not required), ``GET /metrics``
(Prometheus text format).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from typing import Any

from potstill.errors import missing_dependency
from potstill.serve.runtime import Conflict, NotFound, ServingRuntime, StoreUnavailable
from potstill.serve.validation import RequestError

try:
    from fastapi import Body, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from prometheus_client import CONTENT_TYPE_LATEST
    from starlette.types import ASGIApp, Receive, Scope, Send
except ImportError as exc:  # the [serve] extra
    raise missing_dependency("fastapi", extra="serve", purpose="potstill serve") from exc

__all__ = ["create_app"]

log = logging.getLogger(__name__)

_ENDPOINTS = ("/v1/predict", "/v1/feedback", "/v1/breaker", "/healthz", "/readyz", "/metrics")


def _json(content: Any, status: int = 200) -> Response:
    body = json.dumps(content, allow_nan=False, default=str).encode()
    return Response(body, status_code=status, media_type="application/json")


class _Timing:
    """Pure ASGI middleware: every request's full duration into the histogram."""

    def __init__(self, app: ASGIApp, runtime: ServingRuntime) -> None:
        self.app, self.runtime = app, runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            path = scope.get("path", "")
            label = path if path in _ENDPOINTS else "other"
            elapsed = time.perf_counter() - start
            self.runtime.metrics.duration.labels(endpoint=label).observe(elapsed)


def _guarded(runtime: ServingRuntime, call: Any, payload: Any) -> Response:
    """Run ``call(payload)``; map refusals to 422/404/503 and anything else to 500."""
    try:
        return _json(call(payload))
    except RequestError as exc:
        runtime.metrics.errors.labels(kind="validation").inc()
        return _json({"detail": exc.details}, 422)
    except NotFound as exc:
        return _json({"detail": str(exc)}, 404)
    except StoreUnavailable as exc:
        return _json({"detail": str(exc)}, 503)
    except Conflict as exc:
        return _json({"detail": str(exc)}, 409)
    except Exception:  # a bug: answered 500, counted, logged with its traceback
        runtime.metrics.errors.labels(kind="internal").inc()
        log.exception("internal error")
        return _json({"detail": "internal error"}, 500)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(runtime: ServingRuntime) -> Any:
    """The ASGI application serving ``runtime``."""
    app = FastAPI(title="potstill serve", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        runtime.metrics.errors.labels(kind="validation").inc()
        details = [{**e, "ctx": None} for e in exc.errors()]
        return _json({"detail": details}, 422)

    @app.post("/v1/predict")
    def predict(payload: Any = Body(...)) -> Response:
        return _guarded(runtime, runtime.predict, payload)

    @app.post("/v1/feedback")
    def feedback(payload: Any = Body(...)) -> Response:
        return _guarded(runtime, runtime.feedback, payload)

    @app.get("/v1/breaker")
    def breaker() -> Response:
        return _json(runtime.breaker_status())

    @app.post("/v1/breaker")
    def set_breaker(request: Request, payload: Any = Body(...)) -> Response:
        if not _loopback(request.client.host if request.client else ""):
            return _json({"detail": "The breaker is set from this machine only (loopback)."}, 403)
        return _guarded(runtime, runtime.set_breaker, payload)

    @app.get("/healthz")
    def healthz() -> Response:
        return _json({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        ready, body = runtime.readiness()
        return _json(body, 200 if ready else 503)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(runtime.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return _Timing(app, runtime)
