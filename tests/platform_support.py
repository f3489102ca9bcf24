"""Helpers for the service's tests: the service on a real uvicorn socket, beside the sandbox."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from connector.platform import Runtime, create_app, load_definitions
from connector.sandbox.server import SandboxServer, listen_socket

CANARY_KEY = "sk-canary-7f3a9b2c41d8e6"


class ServiceServer:
    """``create_app`` under uvicorn on 127.0.0.1 (a free port) in a thread, lifespan on."""

    def __init__(
        self,
        state: Path | str,
        token_name: str = "tests",
        *,
        allow_private_upstreams: bool = True,  # the sandbox listens on loopback
        **app_options: Any,
    ) -> None:
        self.runtime = Runtime(
            load_definitions(None),
            state,
            allow_private=True,
            allow_private_upstreams=allow_private_upstreams,
        )
        self.app = create_app(self.runtime, **app_options)
        self.token = self.runtime.registry.add_token(token_name)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceServer:
        sock = listen_socket("127.0.0.1", 0)
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="on", ws="none", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert self._thread.is_alive() and time.monotonic() < deadline, "service did not start"
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {token or self.token}"}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)


@contextmanager
def running_service(
    state: Path | str, token_name: str = "tests", **app_options: Any
) -> Iterator[ServiceServer]:
    server = ServiceServer(state, token_name, **app_options).start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def sandbox(**options: Any) -> Iterator[SandboxServer]:
    with SandboxServer(**options) as server:
        yield server


def new_connection(client: httpx.Client, base_url: str, name: str = "tenant-1") -> dict[str, Any]:
    answer = client.post(
        "/v1/connections",
        json={
            "name": name,
            "definition": "claude-api",
            "base_url": base_url,
            "credentials": {"type": "api_key", "api_key": CANARY_KEY},
        },
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


@contextmanager
def service_for(
    tmp_path: Path,
    definition: dict[str, Any],
    upstream: Any,
    *,
    allow_private: bool = False,
    **app_options: Any,
) -> Iterator[tuple[ServiceServer, SandboxServer]]:
    """The service with one definition (written to a directory it serves), in front of
    ``upstream`` (any ASGI app) on its own socket; ``allow_private`` lets subscriptions
    deliver to loopback, ``app_options`` go to ``create_app`` (``emit=True``, ...)."""
    from connector.platform import Runtime, create_app, load_definitions

    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "api.json").write_text(json.dumps(definition))
    with SandboxServer(app=upstream) as api:
        server = ServiceServer.__new__(ServiceServer)
        server.runtime = Runtime(
            load_definitions(folder),
            tmp_path / "state.db",
            allow_private=allow_private,
            allow_private_upstreams=True,
        )
        server.app = create_app(server.runtime, **app_options)
        server.token = server.runtime.registry.add_token("tests")
        server.port = 0
        server.start()
        try:
            yield server, api
        finally:
            server.stop()
