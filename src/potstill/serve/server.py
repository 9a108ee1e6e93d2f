"""``potstill serve``: bind the socket, run uvicorn, shut everything down in order.

The socket is bound here (port 0 picks a free one) so the bound port is known before the
first request and can be written to ``--port-file`` for scripts and tests.
"""

from __future__ import annotations

import logging
import socket
import sys

from potstill._io import atomic_write_text
from potstill.errors import ConfigError, missing_dependency
from potstill.serve.app import create_app
from potstill.serve.config import ServeConfig
from potstill.serve.runtime import ServingRuntime

try:
    import uvicorn
except ImportError as exc:  # the [serve] extra
    raise missing_dependency("uvicorn", extra="serve", purpose="potstill serve") from exc

__all__ = ["bind", "run_server"]

log = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (IPv6 when the host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say TCP;
    # with proto 0, every keep-alive response waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another --port "
            "(0 picks a free one) or --host."
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def run_server(config: ServeConfig) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), then stop the teacher and flush the store."""
    sock = bind(config.host, config.port)
    try:
        runtime = ServingRuntime(config)
    except BaseException:
        sock.close()
        raise
    try:
        port = sock.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(runtime), log_level="warning", access_log=False, lifespan="off",
                timeout_graceful_shutdown=5,
            )
        )  # fmt: skip
        host = f"[{config.host}]" if ":" in config.host else config.host
        print(
            f"potstill serve: http://{host}:{port}  store {runtime.store}  "
            f"shadow {config.shadow_rate if runtime.shadow else 'off'}  "
            f"breaker {config.breaker_windows or 'off'}",
            file=sys.stderr,
            flush=True,
        )
        if config.port_file is not None:
            atomic_write_text(config.port_file, f"{port}\n")
        server.run(sockets=[sock])
    finally:
        runtime.close()
        sock.close()
