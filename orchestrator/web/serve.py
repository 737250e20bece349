"""Serving the dashboard with uvicorn: in the foreground (`orch dashboard`) or on a thread
beside the daemon (`orch run --dashboard`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from orchestrator.config import Settings
from orchestrator.domain.errors import UserInputError
from orchestrator.web.app import create_app
from orchestrator.web.security import check_bind, new_token

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _server(settings: Settings, host: str, port: int, token: str) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings, token),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        # An open live stream or keep-alive connection must not hold a stop for long.
        timeout_graceful_shutdown=3,
    )
    return uvicorn.Server(config)


def dashboard_url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/tree?token={token}"


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a port in use is one line of bad input
    (uvicorn would log it and exit with its own status)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserInputError(
            f"--port {port}: cannot listen on {host}: {exc.strerror or exc}"
        ) from None
    return sock


def serve(settings: Settings, host: str, port: int, token: str | None, announce: object) -> None:
    """Serve until interrupted; ``announce`` gets the URL (with the token) once bound."""
    check_bind(host, token)
    sock = listen(host, port)
    chosen = token or new_token()
    server = _server(settings, host, port, chosen)
    _announce_when_started(server, host, chosen, announce)
    server.run(sockets=[sock])


def _announce_when_started(server: uvicorn.Server, host: str, token: str, announce: object) -> None:
    original = server.startup

    async def startup(sockets: object = None) -> None:
        await original(sockets)  # type: ignore[arg-type]
        if server.started and callable(announce):
            announce(dashboard_url(host, _bound_port(server), token))

    server.startup = startup  # type: ignore[method-assign]


def _bound_port(server: uvicorn.Server) -> int:
    for s in server.servers:
        for sock in s.sockets:
            return int(sock.getsockname()[1])
    return server.config.port


@contextmanager
def serving_beside(
    settings: Settings, host: str, port: int, token: str | None, announce: object
) -> Iterator[None]:
    """The dashboard on its own thread (and event loop) while the block runs.

    Off the main thread uvicorn installs no signal handlers, so the daemon's own stay in force.
    """
    check_bind(host, token)
    sock = listen(host, port)
    chosen = token or new_token()
    server = _server(settings, host, port, chosen)
    _announce_when_started(server, host, chosen, announce)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="dashboard", daemon=True
    )
    thread.start()
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
