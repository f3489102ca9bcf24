"""The per-endpoint circuit breaker: a failing endpoint stops spending queued deliveries' attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emitter.breaker import CircuitBreaker
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.store import build_event
from connector.emitter.store_sqlite import SQLiteStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_opens_after_enough_failures_in_the_window() -> None:
    breaker = CircuitBreaker()
    opened = [breaker.record("s", 100.0 + i, ok=False) for i in range(10)]
    assert opened == [False] * 9 + [True]
    assert breaker.state("s", 110.0) == "open"
    assert breaker.blocked(110.0) == ["s"]


@pytest.mark.parametrize(
    ("failures", "successes", "opens"), [(7, 3, True), (6, 4, False), (9, 0, False)]
)
def test_opens_at_the_failure_ratio_and_minimum(failures: int, successes: int, opens: bool) -> None:
    breaker = CircuitBreaker()
    outcomes = [False] * failures + [True] * successes
    results = [breaker.record("s", 100.0, ok=ok) for ok in outcomes]
    assert any(results) is opens


def test_failures_spread_beyond_the_window_do_not_open() -> None:
    breaker = CircuitBreaker(window=300)
    assert not any(breaker.record("s", i * 60.0, ok=False) for i in range(20))
    assert breaker.state("s", 20 * 60.0) == "closed"


def test_half_open_probe_closes_on_success_and_reopens_on_failure() -> None:
    breaker = CircuitBreaker(cool_down=30)
    for _ in range(10):
        breaker.record("s", 0.0, ok=False)
    assert breaker.state("s", 29.0) == "open"
    assert breaker.half_open(31.0) == ["s"]
    breaker.start_probe("s")
    assert breaker.state("s", 31.0) == "open"  # one probe at a time
    breaker.record("s", 32.0, ok=False)
    assert breaker.state("s", 61.0) == "open" and breaker.state("s", 63.0) == "half-open"
    breaker.start_probe("s")
    breaker.record("s", 64.0, ok=True)
    assert breaker.state("s", 64.0) == "closed"


def test_time_scale_shrinks_window_and_cool_down() -> None:
    breaker = CircuitBreaker(time_scale=0.001)
    for _ in range(10):
        breaker.record("s", 0.0, ok=False)
    assert breaker.state("s", 0.029) == "open" and breaker.state("s", 0.031) == "half-open"


class Receiver:
    def __init__(self) -> None:
        self.healthy = False
        self.hits = 0

    async def endpoint(self, request: Request) -> Response:
        self.hits += 1
        await request.body()
        return Response("ok" if self.healthy else "down", status_code=200 if self.healthy else 500)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True)) as opened:
        yield opened


@pytest.mark.anyio
async def test_open_breaker_keeps_queued_attempts_then_one_probe_reopens_the_flow(
    store: SQLiteStore,
) -> None:
    now = [float(int(time.time()))]
    receiver = Receiver()
    app = Starlette(routes=[Route("/{path:path}", receiver.endpoint, methods=["POST"])])
    sub = store.add_subscription("http://hooks.test")
    events = [
        build_event(
            "files.created",
            resource="files",
            record_id=f"file_{i}",
            marker="created",
            data={"id": f"file_{i}"},
            timestamp=now[0],
            path="/webhooks/claude-api/files.created",
            created_at=now[0],
        )
        for i in range(30)
    ]
    store.commit_poll("files", {}, [], events, baseline=True, now=now[0])
    deliverer = Deliverer(
        store,
        guard=Guard(allow_private=True),
        transport=httpx.ASGITransport(app=app),
        clock=lambda: now[0],
        per_endpoint=10,
        concurrency=100,
    )
    async with deliverer:
        first = await deliverer.run_once()
        assert len(first) == 10 and all(o.result == "retry" for o in first)
        assert deliverer.breaker.state(sub.id, now[0]) == "open"
        assert await deliverer.run_once() == []  # open: nothing leased, nothing spent
        untouched = [
            d for d in store.list_deliveries(subscription_id=sub.id, limit=100) if d.attempts == 0
        ]
        assert len(untouched) == 20
        receiver.healthy = True
        now[0] += 31  # past the cool-down: half-open
        probe = await deliverer.run_once()
        assert [o.result for o in probe] == ["delivered"]
        assert deliverer.breaker.state(sub.id, now[0]) == "closed"
        await deliverer.drain()
    assert store.count_deliveries("delivered") == 30
    assert receiver.hits == 10 + 1 + 29
