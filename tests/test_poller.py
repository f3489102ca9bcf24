"""The poller against the real sandbox app: baselines, each trigger, deletions that need a
complete listing and a 404, the mass-vanish guard, and what one poll costs."""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from emitter_support import MODEL, Sandbox, create_batch, create_skill, upload_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.emitter.guard import Guard
from connector.emitter.poller import Poller
from connector.emitter.store import event_id
from connector.emitter.store_sqlite import SQLiteStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox()


@pytest.fixture
def store(tmp_path: Path, sandbox: Sandbox) -> Iterator[SQLiteStore]:
    with SQLiteStore(
        tmp_path / "state.db", clock=sandbox.now, guard=Guard(allow_private=True)
    ) as s:
        yield s


def bodies(store: SQLiteStore) -> dict[str, dict[str, object]]:
    return {i.event.id: json.loads(i.event.body) for i in store.list_events(limit=10_000)}


@pytest.mark.anyio
async def test_poller_baseline_fires_nothing(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    async with sandbox.connector() as api:
        await create_batch(api)
        await upload_file(api, tmp_path)
        for handle in ("message_batches", "files", "models", "skills"):
            poller = Poller(api, store, handle, clock=sandbox.now)
            first = await poller.poll()
            assert first.baseline and first.complete and first.events == []
            again = await poller.poll()
            assert not again.baseline and again.events == []
    assert store.list_events() == []
    assert store.load_snapshot("files") is not None


@pytest.mark.anyio
async def test_poller_backfill_fires_for_existing_records(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    async with sandbox.connector() as api:
        file_id = await upload_file(api, tmp_path)
        result = await Poller(api, store, "files", clock=sandbox.now, backfill=True).poll()
    assert result.events == [event_id("files.created", file_id, "created")]


@pytest.mark.anyio
async def test_poller_batch_ended_fires_once_with_the_api_time(
    sandbox: Sandbox, store: SQLiteStore
) -> None:
    async with sandbox.connector() as api:
        poller = Poller(api, store, "message_batches", clock=sandbox.now)
        await poller.poll()
        batch_id = await create_batch(api)
        assert (await poller.poll()).events == []
        sandbox.clock.advance(3)
        ended = await poller.poll()
        assert ended.events == [event_id("message_batches.ended", batch_id, "to=ended")]
        assert (await poller.poll()).events == []
        view = await api.call("message_batches", "read", {"batch_id": batch_id}, raw=True)
    (body,) = bodies(store).values()
    assert body["type"] == "message_batches.ended"
    assert body["timestamp"] == view["ended_at"].replace(".000000Z", "Z")
    assert body["data"] == {
        "id": batch_id,
        "processing_status": "ended",
        "ended_at": body["timestamp"],
        "results_url": view["results_url"],
    }
    (info,) = store.list_events()
    assert info.event.path == "/webhooks/claude-api/message_batches.ended"


@pytest.mark.anyio
async def test_poller_batch_expiring_on_the_sandbox_clock_fires_expired_and_ended(
    sandbox: Sandbox, store: SQLiteStore
) -> None:
    async with sandbox.connector() as api:
        poller = Poller(api, store, "message_batches", clock=sandbox.now)
        await poller.poll()
        request = {
            "custom_id": "slow",
            "params": {
                "model": "claude-opus-4-5",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "x"}],
            },
        }
        batch = sandbox.state.add_batch([request], duration=40 * 3600)
        assert (await poller.poll()).events == []
        sandbox.clock.advance(24 * 3600 + 1)
        result = await poller.poll()
        assert (await poller.poll()).events == []
    assert sorted(result.events) == sorted(
        [
            event_id("message_batches.ended", batch.id, "to=ended"),
            event_id("message_batches.expired", batch.id, "to=ended"),
        ]
    )
    expired = next(b for b in bodies(store).values() if b["type"] == "message_batches.expired")
    assert expired["data"]["id"] == batch.id
    assert expired["timestamp"] == expired["data"]["expires_at"]


@pytest.mark.anyio
async def test_poller_cancelled_batch_ends_without_expiring(
    sandbox: Sandbox, store: SQLiteStore
) -> None:
    async with sandbox.connector() as api:
        poller = Poller(api, store, "message_batches", clock=sandbox.now)
        await poller.poll()
        batch_id = await create_batch(api)
        await api.call("message_batches", "cancel", {"batch_id": batch_id}, raw=True)
        sandbox.clock.advance(1)
        result = await poller.poll()
    assert result.events == [event_id("message_batches.ended", batch_id, "to=ended")]


@pytest.mark.anyio
async def test_poller_file_created_then_deleted_after_a_confirming_404(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    transport = sandbox.transport()
    async with sandbox.connector(transport) as api:
        poller = Poller(api, store, "files", clock=sandbox.now)
        await poller.poll()
        file_id = await upload_file(api, tmp_path)
        created = await poller.poll()
        assert created.events == [event_id("files.created", file_id, "created")]
        await api.call("files", "delete", {"file_id": file_id}, raw=True)
        before = transport.count(f"/v1/files/{file_id}")
        deleted = await poller.poll()
        assert transport.count(f"/v1/files/{file_id}") == before + 1  # the confirming read
        assert deleted.events == [event_id("files.deleted", file_id, "deleted")]
        assert (await poller.poll()).events == []
    body = bodies(store)[deleted.events[0]]
    assert body["data"] == {"id": file_id}
    assert store.load_snapshot("files") == {}


@pytest.mark.anyio
async def test_poller_skill_created_and_deleted(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    async with sandbox.connector() as api:
        poller = Poller(api, store, "skills", clock=sandbox.now)
        await poller.poll()
        skill_id = await create_skill(api, tmp_path)
        assert (await poller.poll()).events == [event_id("skills.created", skill_id, "created")]
        await api.call("skills", "delete", {"skill_id": skill_id}, raw=True)
        assert (await poller.poll()).events == [event_id("skills.deleted", skill_id, "deleted")]


@pytest.mark.anyio
async def test_poller_model_added_to_the_sandbox(sandbox: Sandbox, store: SQLiteStore) -> None:
    async with sandbox.connector() as api:
        poller = Poller(api, store, "models", clock=sandbox.now)
        await poller.poll()
        model = sandbox.state.add_model("claude-new-5", "Claude New 5")
        result = await poller.poll()
    assert result.events == [event_id("models.created", "claude-new-5", "created")]
    body = bodies(store)[result.events[0]]
    assert body["data"]["display_name"] == "Claude New 5"
    assert body["timestamp"] == body["data"]["created_at"]
    assert body["timestamp"].startswith(model.created_at.strftime("%Y-%m-%dT%H:%M:%S"))


@pytest.mark.anyio
async def test_poller_failed_later_page_never_deletes(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    failing = {"on": False}

    def decide(request: httpx.Request) -> int | None:
        later = "after_id" in request.url.params
        return 500 if failing["on"] and later else None

    async with sandbox.connector(sandbox.transport(decide)) as api:
        ids = [await upload_file(api, tmp_path, f"f{i}.txt") for i in range(5)]
        poller = Poller(api, store, "files", clock=sandbox.now, page_size=2)
        assert (await poller.poll()).complete
        await api.call("files", "delete", {"file_id": ids[0]}, raw=True)  # the oldest: page 3
        failing["on"] = True
        broken = await poller.poll()
        assert broken.error and not broken.complete and broken.events == []
        failing["on"] = False
        healed = await poller.poll()
    assert healed.events == [event_id("files.deleted", ids[0], "deleted")]


@pytest.mark.anyio
async def test_poller_auth_error_never_deletes(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    mode = {"value": "ok"}

    def decide(request: httpx.Request) -> int | None:
        return 401 if mode["value"] == "401" else None

    async with sandbox.connector(sandbox.transport(decide)) as api:
        ids = [await upload_file(api, tmp_path, f"f{i}.txt") for i in range(3)]
        poller = Poller(api, store, "files", clock=sandbox.now)
        await poller.poll()
        for file_id in ids:
            await api.call("files", "delete", {"file_id": file_id}, raw=True)
        mode["value"] = "401"
        result = await poller.poll()
        assert result.error is not None and "401" in result.error
        assert result.events == [] and result.deleted == []
    assert store.list_events() == []
    assert set(store.load_snapshot("files") or {}) == set(ids)


@pytest.mark.anyio
async def test_poller_empty_listing_with_unreadable_records_deletes_nothing(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    """A 200 empty list (an API hiccup) whose confirming reads answer 401 keeps every record."""
    mode = {"broken": False}

    def decide(request: httpx.Request) -> int | None:
        return 401 if mode["broken"] and request.url.path != "/v1/files" else None

    transport = sandbox.transport(decide)
    async with sandbox.connector(transport) as api:
        ids = [await upload_file(api, tmp_path, f"f{i}.txt") for i in range(3)]
        poller = Poller(api, store, "files", clock=sandbox.now)
        await poller.poll()
        mode["broken"] = True
        hidden = {"value": True}
        real = transport.inner

        class Empty(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                if hidden["value"] and request.url.path == "/v1/files":
                    return httpx.Response(200, json={"data": [], "has_more": False})
                return await real.handle_async_request(request)

        transport.inner = Empty()
        result = await poller.poll()
    assert result.complete and result.deleted == [] and result.events == []
    assert set(store.load_snapshot("files") or {}) == set(ids)


@pytest.mark.anyio
async def test_poller_mass_vanishing_holds_deletes_until_released(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with sandbox.connector() as api:
        ids = [await upload_file(api, tmp_path, f"f{i}.txt") for i in range(20)]
        poller = Poller(api, store, "files", clock=sandbox.now)
        await poller.poll()
        for file_id in ids[:10]:
            await api.call("files", "delete", {"file_id": file_id}, raw=True)
        held = await poller.poll()
        assert sorted(held.held) == sorted(ids[:10]) and held.events == []
        assert "ALERT files" in caplog.text
        assert len(store.load_snapshot("files") or {}) == 20
        released = await Poller(api, store, "files", clock=sandbox.now, release_held=True).poll()
    assert len(released.events) == 10
    assert len(store.load_snapshot("files") or {}) == 10


@pytest.mark.anyio
async def test_poller_few_vanishing_are_not_held(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    async with sandbox.connector() as api:
        ids = [await upload_file(api, tmp_path, f"f{i}.txt") for i in range(6)]
        poller = Poller(api, store, "files", clock=sandbox.now)
        await poller.poll()
        for file_id in ids[:5]:  # five is max(5, 20 %): still believable
            await api.call("files", "delete", {"file_id": file_id}, raw=True)
        result = await poller.poll()
    assert result.held == [] and len(result.events) == 5


class StaleBatches(httpx.AsyncBaseTransport):
    """Rewrites every listed batch as still in progress (a stale replica)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.stale = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.stale or request.url.path != "/v1/messages/batches":
            return response
        payload = json.loads(await response.aread())
        for batch in payload["data"]:
            batch["processing_status"] = "in_progress"
            batch["ended_at"] = None
        return httpx.Response(200, json=payload)


@pytest.mark.anyio
async def test_poller_stale_read_never_moves_a_state_back_or_fires_twice(
    sandbox: Sandbox, store: SQLiteStore
) -> None:
    transport = StaleBatches(httpx.ASGITransport(app=sandbox.app))
    async with sandbox.connector(transport) as api:
        poller = Poller(api, store, "message_batches", clock=sandbox.now)
        await poller.poll()
        await create_batch(api)
        sandbox.clock.advance(3)
        assert len((await poller.poll()).events) == 1
        transport.stale = True
        assert (await poller.poll()).events == []
        transport.stale = False
        assert (await poller.poll()).events == []
        fresh = Poller(api, store, "message_batches", clock=sandbox.now)
        transport.stale = True
        assert (await fresh.poll()).events == []
    assert len(store.list_events()) == 1


@pytest.mark.anyio
async def test_poller_early_stop_never_deletes_the_unlisted_part(
    sandbox: Sandbox, store: SQLiteStore, tmp_path: Path
) -> None:
    transport = sandbox.transport()
    async with sandbox.connector(transport) as api:
        ids = [await upload_file(api, tmp_path, f"f{i}.txt") for i in range(6)]
        poller = Poller(api, store, "files", clock=sandbox.now, page_size=2, sweep_every=3)
        assert (await poller.poll()).requests == 3  # the baseline lists everything
        await api.call("files", "delete", {"file_id": ids[0]}, raw=True)  # on the last page
        newest = await upload_file(api, tmp_path, "new.txt")
        partial = await poller.poll()
        assert not partial.complete and partial.requests == 2
        assert partial.events == [event_id("files.created", newest, "created")]
        assert (await poller.poll()).deleted == []
        swept = await poller.poll()  # the third cycle lists completely
    assert swept.complete and swept.deleted == [ids[0]]


@pytest.mark.anyio
async def test_poller_cost_follows_changes_not_history(
    sandbox: Sandbox, store: SQLiteStore
) -> None:
    sandbox.seed_ended_batches(10_000)
    transport = sandbox.transport()
    async with sandbox.connector(transport) as api:
        running = [await create_batch(api, f"r{i}") for i in range(10)]
        poller = Poller(api, store, "message_batches", clock=sandbox.now)
        baseline = await poller.poll()
        assert baseline.listed == 10_010 and baseline.events == []
        for _ in range(2):
            before = len(transport.requests)
            quiet = await poller.poll()
            assert len(transport.requests) - before <= 3 and quiet.events == []
        sandbox.clock.advance(3)
        before = len(transport.requests)
        ended = await poller.poll()
        assert len(transport.requests) - before <= 3
        assert len(ended.events) == 10
        before = len(transport.requests)
        await poller.poll()
        assert len(transport.requests) - before <= 3
    reads = [r for r in transport.requests if r.url.path.startswith("/v1/messages/batches/")]
    assert reads == []  # no batch was read one by one
    assert {json.loads(i.event.body)["data"]["id"] for i in store.list_events()} == set(running)


OPS = st.lists(
    st.sampled_from(
        ["upload", "upload", "delete", "batch", "batch", "slow", "advance", "poll", "restart"]
    ),
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, page_size=st.integers(1, 3), sweep_every=st.integers(1, 3), seed=st.integers(0, 9))
def test_poller_random_histories_fire_exactly_what_was_observed(
    ops: list[str], page_size: int, sweep_every: int, seed: int
) -> None:
    """Whatever the interleaving of changes, polls, restarts and page sizes: each batch that
    ended fires once, each file seen fires created, each seen file deleted fires deleted."""
    anyio.run(_random_history, ops, page_size, sweep_every, seed)


async def _random_history(ops: list[str], page_size: int, sweep_every: int, seed: int) -> None:
    rng = random.Random(seed)
    sandbox = Sandbox()
    with (
        tempfile.TemporaryDirectory() as tmp,
        SQLiteStore(Path(tmp) / "state.db", clock=sandbox.now) as store,
    ):
        folder = Path(tmp)
        async with sandbox.connector() as api:

            def pollers() -> list[Poller]:
                options = {"clock": sandbox.now, "page_size": page_size, "release_held": True}
                return [
                    Poller(api, store, "message_batches", **options),  # type: ignore[arg-type]
                    Poller(api, store, "files", sweep_every=sweep_every, **options),  # type: ignore[arg-type]
                ]

            active = pollers()
            for poller in active:
                await poller.poll()
            batches: list[str] = []
            files: list[str] = []
            seen_files: set[str] = set()
            deleted: set[str] = set()
            for index, op in enumerate([*ops, "poll"]):
                if op == "upload":
                    files.append(await upload_file(api, folder, f"f{index}.txt"))
                elif op == "delete" and set(files) - deleted:
                    victim = rng.choice(sorted(set(files) - deleted))
                    await api.call("files", "delete", {"file_id": victim}, raw=True)
                    deleted.add(victim)
                elif op == "batch":
                    batches.append(await create_batch(api, f"b{index}"))
                elif op == "slow":  # ends after batches created later
                    request = {"custom_id": "s", "params": {"model": MODEL, "max_tokens": 8}}
                    batches.append(sandbox.state.add_batch([request], duration=6).id)
                elif op == "advance":
                    sandbox.clock.advance(rng.choice([0.5, 1, 3]))
                elif op == "restart":
                    active = pollers()
                elif op == "poll":
                    seen_files |= set(files) - deleted
                    for poller in active:
                        assert (await poller.poll()).ok
            sandbox.clock.advance(6)
            for poller in pollers():  # files: a fresh poller lists completely once
                assert (await poller.poll()).ok
            seen_files |= set(files) - deleted
        events = {(i.event.type, i.event.record_id) for i in store.list_events(limit=100_000)}
    assert {r for t, r in events if t == "message_batches.ended"} == set(batches)
    assert {r for t, r in events if t == "files.created"} == seen_files
    assert {r for t, r in events if t == "files.deleted"} == seen_files & deleted
    assert not {t for t, _ in events} - {"message_batches.ended", "files.created", "files.deleted"}


@pytest.mark.anyio
async def test_poller_early_stop_still_reaches_older_running_batches(
    sandbox: Sandbox, store: SQLiteStore
) -> None:
    """A batch still running below a page of ended ones is listed until it ends."""
    transport = sandbox.transport()
    async with sandbox.connector(transport) as api:
        request = {"custom_id": "s", "params": {"model": "claude-opus-4-5", "max_tokens": 8}}
        slow = sandbox.state.add_batch([request], duration=60).id
        for index in range(4):
            await create_batch(api, f"q{index}")
        poller = Poller(api, store, "message_batches", clock=sandbox.now, page_size=2)
        await poller.poll()
        sandbox.clock.advance(3)
        assert len((await poller.poll()).events) == 4  # the quick ones, above the slow one
        quiet = await poller.poll()
        assert quiet.complete and quiet.requests == 3  # down to the slow one, still running
        sandbox.clock.advance(60)
        ended = await poller.poll()
        assert ended.events == [event_id("message_batches.ended", slow, "to=ended")]
        after = await poller.poll()
    assert not after.complete and after.requests == 1  # now all ended: one page suffices
