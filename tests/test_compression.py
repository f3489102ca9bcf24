"""The engine negotiates gzip like the SDK, and decodes it, streamed JSONL included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.middleware.gzip import GZipMiddleware

from connector import AsyncConnector, load_definition
from connector.sandbox import ManualClock, create_app

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")
KEY = "sk-ant-test-secret-gzip"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Recorder:
    """ASGI middleware that keeps each request's accept-encoding and each answer's encoding."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.asked: list[str] = []
        self.answered: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            self.asked.append(headers.get(b"accept-encoding", b"").decode())

        async def record(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message["headers"])
                self.answered.append(headers.get(b"content-encoding", b"").decode())
            await send(message)

        await self.app(scope, receive, record)


@pytest.mark.anyio
async def test_lists_and_jsonl_results_arrive_gzipped_and_decoded() -> None:
    clock = ManualClock()
    recorder = Recorder(GZipMiddleware(create_app(clock=clock, api_key=KEY), minimum_size=0))
    transport = httpx.ASGITransport(app=recorder)
    async with AsyncConnector(
        DEFINITION, base_url="http://sandbox.test", api_key=KEY, transport=transport
    ) as api:
        models = [m async for m in api.iterate("models", max_items=5)]
        assert len(models) == 5 and all(m["id"] for m in models)
        batch = await api.call(
            "message_batches",
            "create",
            {"custom_id": "q1", "model": "claude-haiku-4-5", "max_tokens": 5, "content": "Hi"},
        )
        clock.advance(3600)
        lines = [
            line
            async for line in api.stream_jsonl(
                "message_batches", "results", {"batch_id": batch["id"]}
            )
        ]
    assert [line["custom_id"] for line in lines] == ["q1"]
    assert all("gzip" in asked for asked in recorder.asked)
    assert "gzip" in recorder.answered
