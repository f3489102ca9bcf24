"""Run a sandbox app on a real socket, in a background thread (tests, benchmarks, demo)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from connector.errors import ConfigurationError

from .app import create_app
from .faults import ConnectionDropped

__all__ = ["SandboxServer", "listen_socket", "quiet_dropped_connections"]

_START_TIMEOUT = 10.0


class _DropFilter(logging.Filter):
    """Keeps uvicorn from logging a traceback for each connection dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], ConnectionDropped))


_FILTER = _DropFilter()


def quiet_dropped_connections() -> None:
    """Silence uvicorn's error log for injected dropped connections (idempotent)."""
    logger = logging.getLogger("uvicorn.error")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (0: a free port), ready for uvicorn."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio sets TCP_NODELAY on accepted connections only then, and
    # without it every answer stalls ~40 ms on Nagle plus delayed ACKs.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ConfigurationError(
            f"cannot listen on {host}:{port}: {error.strerror}", setting="--port"
        ) from None
    return sock


class SandboxServer:
    """A sandbox served by uvicorn on ``host``:``port`` (0: a free port) in a daemon thread.

    ::

        with SandboxServer(batch_seconds=0.5) as server:
            client = anthropic.Anthropic(base_url=server.base_url, api_key="test")

    ``app`` is an existing app (``create_app(...)``); otherwise one is created from
    ``create_app_kwargs``. ``server.app.state.sandbox`` is its state.
    """

    def __init__(
        self,
        app: Starlette | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **create_app_kwargs: Any,
    ) -> None:
        if app is not None and create_app_kwargs:
            raise ConfigurationError("pass either app or create_app options, not both")
        self.app = app if app is not None else create_app(**create_app_kwargs)
        self.host = host
        self.port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The origin to give a client, e.g. ``http://127.0.0.1:54321`` (no ``/v1``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> SandboxServer:
        """Bind, start serving and return once the server accepts connections."""
        if self._thread is not None:
            return self
        sock = listen_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self._socket = sock
        quiet_dropped_connections()
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            lifespan="off",
            ws="none",
            http="h11",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(f"the sandbox did not start on {self.base_url}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Stop serving, wait for the thread and release the socket."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"SandboxServer({self.base_url})"
