"""The webhook half of ``connector demo``: a verifying receiver, a subscription, an emitter.

:class:`DemoWebhooks` starts ``connector.receiver`` on a free loopback port, subscribes it to
every event in a state store under ``workdir``, takes the emitter's baseline, and runs the
emitter in a background thread until :meth:`DemoWebhooks.close`. The demo then waits for the
webhook of the batch it submitted with :meth:`DemoWebhooks.wait_for`.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import IO

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from connector.client import AsyncConnector
from connector.config import bundled_definition_path
from connector.emitter.guard import Guard
from connector.emitter.service import Emitter
from connector.emitter.signing import generate_secret
from connector.emitter.store_sqlite import SQLiteStore
from connector.receiver import ReceivedEvent, create_receiver_app

__all__ = ["DemoWebhooks"]

DEMO_INTERVAL = 0.25


class DemoWebhooks:
    """Receiver + subscription + emitter for the demo; everything stays on 127.0.0.1."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        workdir: Path,
        err: IO[str],
        interval: float = DEMO_INTERVAL,
    ) -> None:
        from connector.sandbox import SandboxServer  # a uvicorn thread for any starlette app

        self._err = err
        self._arrived: list[tuple[float, ReceivedEvent]] = []
        self._changed = threading.Condition()
        secret = generate_secret()
        app = create_receiver_app(secret, handlers={"*": self._on_event})
        self._receiver = SandboxServer(app=app).start()
        self._store = SQLiteStore(
            Path(workdir) / "connector-state.db", guard=Guard(allow_private=True)
        )
        self._store.add_subscription(self._receiver.base_url + "/", [], secret)
        print(
            f"webhooks: a verifying receiver on {self._receiver.base_url}, subscribed to every event",
            file=err,
        )
        self._connector = AsyncConnector(
            bundled_definition_path(), base_url=base_url, api_key=api_key
        )
        self._emitter = Emitter(self._connector, self._store, guard=Guard(allow_private=True))
        self._portal_context = start_blocking_portal()
        self._portal: BlockingPortal = self._portal_context.__enter__()
        self._stop: anyio.Event = self._portal.call(anyio.Event)
        self._portal.call(self._emitter.poll)  # the baseline, before the demo changes anything
        self._running: Future[None] = self._portal.start_task_soon(self._run, interval)

    async def _run(self, interval: float) -> None:
        await self._emitter.run(self._stop, interval=interval, grace=2.0)

    def _on_event(self, event: ReceivedEvent) -> None:
        with self._changed:
            self._arrived.append((time.monotonic(), event))
            self._changed.notify_all()

    def step(self) -> None:
        """Nothing to do: the emitter polls on its own thread."""

    def wait_for(self, event: str, record_id: str, timeout: float = 10.0) -> str | None:
        """A line describing the arrival of ``event`` for ``record_id``, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for _, got in self._arrived:
                    data = got.data if isinstance(got.data, dict) else {}
                    if got.type == event and data.get("id") == record_id:
                        return (
                            f"{event} for {record_id} arrived, signature verified "
                            f"(webhook-id {got.id}, event time {got.timestamp})"
                        )
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def close(self) -> None:
        """Stop the emitter (finishing in-flight deliveries), the receiver and the store."""
        try:
            self._portal.call(self._stop.set)
            self._running.result(timeout=10)
            self._portal.call(self._emitter.aclose)
            self._portal.call(self._connector.aclose)
        finally:
            self._portal_context.__exit__(None, None, None)
            self._receiver.stop()
            self._store.close()
