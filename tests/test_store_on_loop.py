"""On a SQLite store the deliverer makes its lease and its group commit on the event loop (a
connection that never waits), and hands them to a worker thread when another connection
holds the write lock, so the loop still never waits on it; the WAL that connection leaves
unchecked is checkpointed in a worker thread."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.recorder import CHECKPOINT_EVERY
from connector.emitter.store import Attempt, Lease, build_event
from connector.emitter.store_sqlite import SQLiteStore


class ThreadNoting(SQLiteStore):
    """A real SQLite store that notes the thread of every lease and batch of completions."""

    threads: list[tuple[str, bool]]

    def lease_due(self, *args: Any, **kwargs: Any) -> list[Lease]:
        self.threads.append(("lease", threading.current_thread() is threading.main_thread()))
        return super().lease_due(*args, **kwargs)

    def complete_many(self, done: Sequence[tuple[Lease, Attempt]]) -> list[bool]:
        self.threads.append(("commit", threading.current_thread() is threading.main_thread()))
        return super().complete_many(done)


def _store(path: Path, events: int) -> ThreadNoting:
    store = ThreadNoting(path, guard=Guard(allow_private=True))
    store.threads = []
    store.add_subscription("http://hooks.test")
    for n in range(events):
        store.record_event(
            build_event(
                "files.created",
                resource="files",
                record_id=f"file_{n}",
                marker="created",
                data={"id": f"file_{n}"},
                timestamp=1.0,
                path="/hook",
                created_at=1.0,
            )
        )
    return store


def _transport() -> httpx.ASGITransport:
    async def hook(request: Request) -> Response:
        return Response(status_code=204)

    return httpx.ASGITransport(app=Starlette(routes=[Route("/hook", hook, methods=["POST"])]))


@pytest.mark.anyio
async def test_a_free_store_is_leased_and_committed_on_the_event_loop(tmp_path: Path) -> None:
    with _store(tmp_path / "s.db", 20) as store:
        async with Deliverer(store, guard=Guard(allow_private=True), transport=_transport()) as d:
            outcomes = await d.drain()
        assert [o.result for o in outcomes] == ["delivered"] * 20
        assert store.count_deliveries("delivered") == 20
        assert {kind for kind, _ in store.threads} == {"lease", "commit"}
        assert all(on_loop for _, on_loop in store.threads), store.threads


@pytest.mark.anyio
async def test_a_held_write_lock_sends_the_lease_to_a_thread_and_the_loop_runs_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    with _store(path, 5) as store:
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another process writing, as it were
        ticks = 0
        outcomes: list[object] = []
        async with Deliverer(store, guard=Guard(allow_private=True), transport=_transport()) as d:
            async with anyio.create_task_group() as group:

                async def deliver() -> None:
                    outcomes.extend(await d.drain())

                group.start_soon(deliver)
                for _ in range(30):
                    await anyio.sleep(0.01)
                    ticks += 1
                # The loop ran all along, and nothing was leased behind the other's lock.
                assert ticks == 30 and outcomes == []
                # (read through the other connection: the store's own is the waiting thread's)
                pending = "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'"
                assert other.execute(pending).fetchone()[0] == 5
                other.execute("ROLLBACK")
                other.close()
        assert len(outcomes) == 5 and store.count_deliveries("delivered") == 5
        # The contended lease waited in a worker thread; what came after went on the loop.
        assert ("lease", False) in store.threads and ("commit", True) in store.threads


@pytest.mark.anyio
async def test_the_wal_left_unchecked_on_the_loop_is_checkpointed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    wal = Path(f"{path}-wal")
    with _store(path, 0) as store:
        d = Deliverer(store, guard=Guard(allow_private=True), transport=_transport())

        def write(n: int) -> None:
            with store.db.transaction("test write") as db:
                db.execute(
                    "INSERT INTO baselines (resource, taken_at) VALUES (?, ?)"
                    " ON CONFLICT (resource) DO UPDATE SET taken_at = excluded.taken_at",
                    (f"r{n % 50}", float(n)),
                )

        for n in range(CHECKPOINT_EVERY - 1):
            await d.recorder.run_soon(lambda n=n: write(n))  # type: ignore[misc]
        grown = wal.stat().st_size
        for n in range(3 * CHECKPOINT_EVERY):
            await d.recorder.run_soon(lambda n=n: write(n))  # type: ignore[misc]
        await d.aclose()
        # Without checkpoints the WAL would be about four times as long by now; checkpointed,
        # SQLite writes it again from its start.
        assert wal.stat().st_size < 2 * grown
        assert store.db.read("SELECT COUNT(*) FROM baselines")[0][0] == 50
