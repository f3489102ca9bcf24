"""Operator signals: ``endpoint.disabled`` and ``message.attempt.exhausted`` reach the
subscriptions that ask for them by name, and no one else."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import httpx
from emitter_support import Delivery, recording_receiver
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.schedule import RetrySchedule
from connector.emitter.signing import generate_secret
from connector.emitter.store import build_event
from connector.emitter.store_sqlite import SQLiteStore


def _event(n: int, now: float) -> object:
    return build_event(
        "files.created",
        resource="files",
        record_id=f"file_{n}",
        marker="created",
        data={"id": f"file_{n}"},
        timestamp=now,
        path="/webhooks/claude-api/files.created",
        created_at=now,
    )


def test_signals_go_to_the_subscriptions_that_ask_for_them(tmp_path: Path) -> None:
    secrets = {
        "ops": generate_secret(),
        "all": generate_secret(),
        "gone": generate_secret(),
        "flaky": generate_secret(),
    }
    received: list[Delivery] = []
    verified = recording_receiver(secrets, received)

    async def gone(request: Request) -> Response:
        await request.body()
        return Response(status_code=410)

    async def flaky(request: Request) -> Response:
        await request.body()
        return Response(status_code=500)

    app = Starlette(
        routes=[
            Route("/gone/{rest:path}", gone, methods=["POST"]),
            Route("/flaky/{rest:path}", flaky, methods=["POST"]),
            *verified.routes,
        ]
    )
    now = time.time()
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True)) as store:
        ops = store.add_subscription(
            "http://hooks.test/ops", ["endpoint.disabled", "message.attempt.*"], secrets["ops"]
        )
        store.add_subscription("http://hooks.test/all", [], secrets["all"])
        gone_sub = store.add_subscription("http://hooks.test/gone", ["files.*"], secrets["gone"])
        flaky_sub = store.add_subscription("http://hooks.test/flaky", ["files.*"], secrets["flaky"])
        store.record_event(_event(1, now))  # type: ignore[arg-type]

        async def drain() -> None:
            async with Deliverer(
                store,
                guard=Guard(allow_private=True),
                transport=httpx.ASGITransport(app=app),
                schedule=RetrySchedule(delays=()),  # one attempt, then a dead letter
            ) as deliverer:
                await deliverer.drain()

        anyio.run(drain)
        assert store.get_subscription(gone_sub.id).state == "disabled"
    signals = [json.loads(d.body) for d in received if d.target == "ops"]
    by_type = {s["type"]: s["data"] for s in signals}
    assert set(by_type) == {"endpoint.disabled", "message.attempt.exhausted"}
    assert by_type["endpoint.disabled"]["subscription_id"] == gone_sub.id
    assert "410" in by_type["endpoint.disabled"]["reason"]
    exhausted = by_type["message.attempt.exhausted"]
    assert exhausted["subscription_id"] == flaky_sub.id and exhausted["last_status"] == 500
    assert {d.path for d in received if d.target == "ops"} == {
        "/webhooks/connector/endpoint.disabled",
        "/webhooks/connector/message.attempt.exhausted",
    }
    # "*" (here: an empty filter) means every API event, not the emitter's own signals.
    assert [json.loads(d.body)["type"] for d in received if d.target == "all"] == ["files.created"]
    assert ops.events == ("endpoint.disabled", "message.attempt.*")
