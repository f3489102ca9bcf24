"""The emitter end to end on the sandbox app: every declared event fires exactly once, reaches
each matching subscriber verified by ``standardwebhooks`` and ``svix``, and nothing fires again
after a restart on the same state file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import anyio
import httpx
import pytest
from emitter_support import (
    DEFINITION,
    MODEL,
    Delivery,
    Sandbox,
    create_batch,
    create_skill,
    recording_receiver,
    upload_file,
)

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.service import Emitter
from connector.emitter.signing import generate_secret
from connector.emitter.store import SnapshotRecord, event_id
from connector.emitter.store_sqlite import SQLiteStore
from connector.emitter.writes import WriteRecorder
from connector.errors import StoreError
from connector.receiver import ReceivedEvent, create_receiver_app

DECLARED = {
    "message_batches.ended",
    "message_batches.expired",
    "files.created",
    "files.deleted",
    "models.created",
    "skills.created",
    "skills.deleted",
    "messages.created",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def open_store(path: Path) -> SQLiteStore:
    return SQLiteStore(path, guard=Guard(allow_private=True))


def deliverer(store: SQLiteStore, app: object) -> Deliverer:
    return Deliverer(
        store,
        guard=Guard(allow_private=True),
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
    )


def test_declared_events_are_the_definitions() -> None:
    """The list this file proves is exactly what the shipped definition declares."""
    assert {w.event for r in DEFINITION.resources for w in r.webhooks} == DECLARED


@pytest.mark.anyio
async def test_emitter_fires_every_declared_event_once_and_never_again_after_restart(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox()
    secrets = {"all": generate_secret(), "batches": generate_secret()}
    received: list[Delivery] = []
    receiver = recording_receiver(secrets, received)
    state = tmp_path / "state.db"
    store = open_store(state)
    store.add_subscription("http://hooks.test/all", [], secrets["all"])
    store.add_subscription(
        "http://hooks.test/batches", ["message_batches.*", "messages.created"], secrets["batches"]
    )
    recorder = WriteRecorder(DEFINITION, store)
    api = sandbox.connector(on_write=recorder)
    async with Emitter(api, store, deliverer=deliverer(store, receiver)) as emitter:
        baseline = await emitter.run_once()
        assert baseline.ok and baseline.events == [] and received == []

        ended_id = await create_batch(api)
        slow = {"custom_id": "s", "params": {"model": MODEL, "max_tokens": 8, "messages": []}}
        expiring = sandbox.state.add_batch([slow], duration=40 * 3600)
        file_id = await upload_file(api, tmp_path)
        skill_id = await create_skill(api, tmp_path)
        sandbox.state.add_model("claude-next-1", "Claude Next 1")
        message = await api.call(
            "messages", "create", {"model": MODEL, "max_tokens": 16, "content": "hi"}, raw=True
        )
        sandbox.clock.advance(24 * 3600 + 1)
        changes = await emitter.run_once()
        assert changes.ok, changes.to_json()

        await api.call("files", "delete", {"file_id": file_id}, raw=True)
        await api.call("skills", "delete", {"skill_id": skill_id}, raw=True)
        deletions = await emitter.run_once()
        assert deletions.ok and len(deletions.events) == 2
        quiet = await emitter.run_once()
        assert quiet.events == [] and quiet.outcomes == []
    await api.aclose()
    store.close()

    expected = {
        event_id("message_batches.ended", ended_id, "to=ended"),
        event_id("message_batches.ended", expiring.id, "to=ended"),
        event_id("message_batches.expired", expiring.id, "to=ended"),
        event_id("files.created", file_id, "created"),
        event_id("files.deleted", file_id, "deleted"),
        event_id("skills.created", skill_id, "created"),
        event_id("skills.deleted", skill_id, "deleted"),
        event_id("models.created", "claude-next-1", "created"),
        event_id("messages.created", message["id"], "created"),
    }
    to_all = Counter(d.webhook_id for d in received if d.target == "all")
    assert set(to_all) == expected and set(to_all.values()) == {1}
    to_batches = {d.webhook_id for d in received if d.target == "batches"}
    assert to_batches == {e for e in expected if e in _ids_of_types(received, "message")}
    assert {json.loads(d.body)["type"] for d in received} == DECLARED
    for delivery in received:
        body = json.loads(delivery.body)
        assert delivery.path == f"/webhooks/claude-api/{body['type']}"
        assert set(body) == {"type", "timestamp", "data"}

    # A restart on the same file, with the API unchanged, fires nothing.
    store = open_store(state)
    api = sandbox.connector(on_write=WriteRecorder(DEFINITION, store))
    async with Emitter(api, store, deliverer=deliverer(store, receiver)) as emitter:
        again = await emitter.run_once()
    await api.aclose()
    store.close()
    assert again.events == [] and again.outcomes == [] and again.ok
    assert len(received) == len(expected) + len(to_batches)


def _ids_of_types(received: list[Delivery], prefix: str) -> set[str]:
    return {d.webhook_id for d in received if json.loads(d.body)["type"].startswith(prefix)}


@pytest.mark.anyio
async def test_emitter_write_through_message_reaches_the_project_receiver(
    tmp_path: Path,
) -> None:
    """``connector.receiver`` verifies and dispatches what the emitter sends."""
    sandbox = Sandbox()
    secret = generate_secret()
    got: list[ReceivedEvent] = []
    receiver = create_receiver_app(secret, handlers={"messages.created": got.append})
    with open_store(tmp_path / "state.db") as store:
        store.add_subscription("http://receiver.test", ["messages.*"], secret)
        api = sandbox.connector(on_write=WriteRecorder(DEFINITION, store, clock=lambda: 1.5e9))
        async with Emitter(api, store, deliverer=deliverer(store, receiver)) as emitter:
            message = await api.call(
                "messages", "create", {"model": MODEL, "max_tokens": 16, "content": "hi"}, raw=True
            )
            report = await emitter.run_once()
        await api.aclose()
    assert [o.result for o in report.outcomes] == ["delivered"]
    (event,) = got
    assert event.data["id"] == message["id"]
    assert event.data["usage_input_tokens"] == message["usage"]["input_tokens"]
    assert event.timestamp == "2017-07-14T02:40:00Z"  # messages carry no time: the observation's


@pytest.mark.anyio
async def test_emitter_run_delivers_between_polls_and_stops_cleanly(tmp_path: Path) -> None:
    sandbox = Sandbox()
    secret = generate_secret()
    received: list[Delivery] = []
    receiver = recording_receiver({"r": secret}, received)
    with open_store(tmp_path / "state.db") as store:
        store.add_subscription("http://hooks.test/r", [], secret)
        api = sandbox.connector()
        stop = anyio.Event()
        cycles: list[int] = []
        async with Emitter(api, store, deliverer=deliverer(store, receiver)) as emitter:
            async with anyio.create_task_group() as group:
                group.start_soon(
                    lambda: emitter.run(
                        stop, interval=0.02, on_cycle=lambda r: cycles.append(len(r.events))
                    )
                )
                with anyio.fail_after(10):
                    while len(cycles) < 2:
                        await anyio.sleep(0.01)
                    file_id = await upload_file(api, tmp_path)
                    while not received:
                        await anyio.sleep(0.01)
                stop.set()
        await api.aclose()
        assert store.count_deliveries("delivering") == 0
    assert [d.webhook_id for d in received] == [event_id("files.created", file_id, "created")]


@pytest.mark.anyio
async def test_emitter_once_reports_a_failed_listing(tmp_path: Path) -> None:
    sandbox = Sandbox()

    def broken(request: httpx.Request) -> int | None:
        return 503 if request.url.path == "/v1/skills" else None

    with open_store(tmp_path / "state.db") as store:
        api = sandbox.connector(sandbox.transport(broken))
        async with Emitter(api, store, guard=Guard(allow_private=True)) as emitter:
            report = await emitter.run_once()
        await api.aclose()
    assert not report.ok
    summary = report.to_json()["resources"]
    assert isinstance(summary, dict)
    assert "error" in summary["skills"] and "error" not in summary["files"]
    assert store_baselines(tmp_path / "state.db") == {"message_batches", "models", "files"}


def store_baselines(path: Path) -> set[str]:
    with open_store(path) as store:
        return {
            h
            for h in ("message_batches", "models", "files", "skills")
            if store.load_snapshot(h) is not None
        }


def test_emitter_polls_only_listable_resources_with_webhooks() -> None:
    sandbox = Sandbox()
    store = SQLiteStore(":memory:")
    api = sandbox.connector()
    emitter = Emitter(api, store, guard=Guard(allow_private=True))
    assert [p.handle for p in emitter.pollers] == ["message_batches", "models", "files", "skills"]
    assert repr(emitter).startswith("<Emitter")
    anyio.run(emitter.aclose)
    anyio.run(api.aclose)
    store.close()


class FlakyStore(SQLiteStore):
    """A store whose snapshot of one resource cannot be read."""

    def load_snapshot(self, resource: str) -> dict[str, SnapshotRecord] | None:
        if resource == "skills":
            raise StoreError("database is locked", location=self.location)
        return super().load_snapshot(resource)


@pytest.mark.anyio
async def test_emitter_store_failure_for_one_resource_spares_the_others(tmp_path: Path) -> None:
    sandbox = Sandbox()
    with FlakyStore(tmp_path / "state.db", guard=Guard(allow_private=True)) as store:
        api = sandbox.connector()
        async with Emitter(api, store, guard=Guard(allow_private=True)) as emitter:
            report = await emitter.run_once()
        await api.aclose()
        assert store.load_snapshot("files") == {}
    errors = {p.resource: p.error for p in report.polls}
    assert errors["skills"] is not None and "locked" in errors["skills"]
    assert errors["files"] is None and not report.ok


@pytest.mark.anyio
async def test_emitter_run_once_abandons_the_pass_when_stopped(tmp_path: Path) -> None:
    sandbox = Sandbox()
    stop = anyio.Event()
    stop.set()
    with open_store(tmp_path / "state.db") as store:
        api = sandbox.connector()
        async with Emitter(api, store, guard=Guard(allow_private=True)) as emitter:
            report = await emitter.run_once(stop=stop)
        await api.aclose()
        assert store.load_snapshot("files") is None  # no poll committed
    assert report.polls == [] and report.outcomes == []
