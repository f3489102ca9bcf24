"""Shared parts of the emitter's tests: the sandbox over ASGI, a counting/failing transport,
a recording receiver that verifies with the PyPI verifiers, and helpers that change the
sandbox through the engine."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import standardwebhooks
import svix.webhooks
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from connector.client import AsyncConnector, WriteObserver
from connector.config import bundled_definition_path
from connector.definitions import Definition, load_definition
from connector.sandbox import ManualClock, create_app

DEFINITION: Definition = load_definition(bundled_definition_path())
BASE = "http://sandbox.test"
MODEL = "claude-opus-4-5"


class CountingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport; counts requests by path and fails those ``fail`` says to (500)."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        fail: Callable[[httpx.Request], int | None] | None = None,
    ) -> None:
        self.inner = inner
        self.fail = fail
        self.requests: list[httpx.Request] = []

    def count(self, path_prefix: str = "") -> int:
        return sum(1 for r in self.requests if r.url.path.startswith(path_prefix))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.fail(request) if self.fail else None
        if status is not None:
            body = {"type": "error", "error": {"type": "api_error", "message": "injected"}}
            return httpx.Response(status, json=body, request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Sandbox:
    """A sandbox app on a manual clock, and connectors talking to it in process."""

    clock: ManualClock = field(default_factory=ManualClock)
    batch_seconds: float = 2.0

    def __post_init__(self) -> None:
        self.app = create_app(clock=self.clock, batch_seconds=self.batch_seconds)
        self.state = self.app.state.sandbox

    def now(self) -> float:
        return self.clock().timestamp()

    def transport(
        self, fail: Callable[[httpx.Request], int | None] | None = None
    ) -> CountingTransport:
        return CountingTransport(httpx.ASGITransport(app=self.app), fail)

    def connector(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        on_write: WriteObserver | None = None,
        api_key: str = "k",
    ) -> AsyncConnector:
        return AsyncConnector(
            DEFINITION,
            base_url=BASE,
            api_key=api_key,
            transport=transport or self.transport(),
            on_write=on_write,
            max_retries=0,
        )

    def seed_ended_batches(self, count: int) -> None:
        """``count`` batches created (and ended) long ago, oldest first."""
        start = self.clock().timestamp() - 3 * 86400
        request = [{"custom_id": "r", "params": {"model": MODEL, "max_tokens": 8, "messages": []}}]
        for index in range(count):
            created = datetime.fromtimestamp(start + index, UTC)
            self.state.add_batch(request, created_at=created)


async def create_batch(api: AsyncConnector, custom_id: str = "a") -> str:
    batch = await api.call(
        "message_batches",
        "create",
        {"custom_id": custom_id, "model": MODEL, "max_tokens": 16, "content": "hi"},
        raw=True,
    )
    return str(batch["id"])


async def upload_file(api: AsyncConnector, tmp_path: Path, name: str = "notes.txt") -> str:
    path = tmp_path / name
    path.write_text(f"the contents of {name}\n")
    record = await api.call("files", "upload", {"file": str(path)}, raw=True)
    return str(record["id"])


async def create_skill(api: AsyncConnector, tmp_path: Path, name: str = "greeter") -> str:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: says hello\n---\nHello.\n")
    record = await api.call("skills", "create", {"directory": str(folder)}, raw=True)
    return str(record["id"])


@dataclass(frozen=True)
class Delivery:
    """One request the recording receiver accepted."""

    target: str
    webhook_id: str
    body: bytes
    path: str


def recording_receiver(
    secrets: dict[str, str], deliveries: list[Delivery], *, answer: int = 204
) -> Starlette:
    """Accepts ``POST /<target>/...`` and records it once BOTH ``standardwebhooks`` and
    ``svix`` verify it with the target's secret; answers 400 otherwise."""
    verifiers = {
        name: (standardwebhooks.Webhook(secret), svix.webhooks.Webhook(secret))
        for name, secret in secrets.items()
    }

    async def receive(request: Request) -> Response:
        target = request.path_params["target"]
        try:
            body = await request.body()
        except ClientDisconnect:  # the emitter was killed mid-request
            return Response(status_code=400)
        headers = {k: v for k, v in request.headers.items() if k.startswith("webhook-")}
        standard, svix_hook = verifiers[target]
        try:
            standard.verify(body, headers)
            svix_hook.verify(body, headers)
        except Exception as exc:  # either library's own error type, or its ValueError
            return Response(f"not verified: {exc}", status_code=400)
        rest = request.path_params["rest"]
        deliveries.append(Delivery(target, headers["webhook-id"], body, "/" + rest))
        return Response(status_code=answer)

    return Starlette(routes=[Route("/{target}/{rest:path}", receive, methods=["POST"])])
