"""The event loop never waits on the database: store calls run in worker threads, so a store
write stalled behind another process's lock delays no delivery already leased."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import anyio
from emitter_support import Delivery, recording_receiver
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.signing import generate_secret
from connector.emitter.store import build_event
from connector.emitter.store_sqlite import SQLiteStore
from connector.sandbox import SandboxServer

STALL = 2.0
SLOW = 0.5


class StallingReceiver:
    """Webhooks to ``/fast`` make another connection hold the store's write lock for
    ``STALL`` seconds before they are answered (so recording them stalls); webhooks to
    ``/slow`` are answered after ``SLOW`` seconds."""

    def __init__(self, app: Starlette, path: Path) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/fast"):
            other = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            other.execute("BEGIN IMMEDIATE")

            def release() -> None:
                other.execute("ROLLBACK")
                other.close()

            threading.Timer(STALL, release).start()
        elif scope["type"] == "http":
            await anyio.sleep(SLOW)
        await self.app(scope, receive, send)


def test_a_stalled_store_write_does_not_delay_deliveries_already_leased(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    secrets = {"fast": generate_secret(), "slow": generate_secret()}
    received: list[Delivery] = []
    receiver_app = StallingReceiver(recording_receiver(secrets, received), path)
    with (
        SandboxServer(app=receiver_app) as receiver,  # type: ignore[arg-type]
        SQLiteStore(path, guard=Guard(allow_private=True)) as store,
    ):
        for target, secret in secrets.items():
            store.add_subscription(f"{receiver.base_url}/{target}", [], secret)
        now = time.time()
        store.record_event(
            build_event(
                "files.created",
                resource="files",
                record_id="file_1",
                marker="created",
                data={"id": "file_1"},
                timestamp=now,
                path="/webhooks/claude-api/files.created",
                created_at=now,
            )
        )

        async def deliver() -> None:
            async with Deliverer(store, guard=Guard(allow_private=True)) as deliverer:
                outcomes = await deliverer.run_once()
            assert sorted(o.result for o in outcomes) == ["delivered", "delivered"]

        anyio.run(deliver)
        latency = {}
        for delivery in store.list_deliveries():
            (attempt,) = store.list_attempts(delivery.id)
            latency[store.get_subscription(delivery.subscription_id).url.rsplit("/", 1)[1]] = (
                attempt.latency_ms / 1000
            )
    assert len(received) == 2
    # The slow endpoint's answer was read when it came, not when the other delivery's stalled
    # write got through: its attempt took about SLOW seconds, not STALL.
    assert latency["slow"] < SLOW + (STALL - SLOW) / 2, latency
