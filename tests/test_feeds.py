"""Feed triggers (a cursor feed, Corteza's ``poll`` spec) against a fake Gmail-history-style
API over ASGI, with the store in a real SQLite file (and a real PostgreSQL): the baseline
fires nothing, new items fire once each, the filter and the enrich read, the 50-page guard,
the 404 reseed, bad answers, a failed commit, a restart, and delivery to a verifying
receiver on a real server."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from example_fakes import serve
from feed_fake import MAIL, Mailbox, mail_app
from postgres_support import PostgresServer

from connector.client import AsyncConnector
from connector.definitions import load_definition
from connector.emitter import feed_cursors
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.poller import Poller
from connector.emitter.service import Emitter
from connector.emitter.signing import generate_secret
from connector.emitter.sql_store import SQLStore
from connector.emitter.store import Store
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import StoreError
from connector.receiver import ReceivedEvent, create_receiver_app

EVENT = "messages.received"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def box() -> Mailbox:
    return Mailbox()


def connector(box: Mailbox, document: dict[str, Any] = MAIL) -> AsyncConnector:
    transport = httpx.ASGITransport(app=mail_app(box))
    return AsyncConnector(
        load_definition(document), base_url="http://mail.test", transport=transport, max_retries=0
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "state.db", guard=Guard(allow_private=True)) as s:
        yield s


def fired(store: Store) -> list[dict[str, Any]]:
    """The events' bodies, by the poll that found them, then by the message's time."""
    infos = sorted(store.list_events(limit=10_000), key=lambda i: i.event.created_at)
    bodies = [(i.event.created_at, json.loads(i.event.body)) for i in infos]
    return [b for _, b in sorted(bodies, key=lambda cb: (cb[0], cb[1]["timestamp"]))]


async def poll(box: Mailbox, store: Store, document: dict[str, Any] = MAIL) -> Any:
    async with connector(box, document) as api:
        return await Poller(api, store, "messages").poll()


@pytest.mark.anyio
async def test_baseline_fires_nothing_then_new_inbox_items_fire_once_each_enriched(
    box: Mailbox, store: SQLiteStore
) -> None:
    box.deliver("before the emitter started")
    first = await poll(box, store)
    assert first.ok and first.events == [] and box.requests == ["latest"]
    assert feed_cursors.load(store, "messages", EVENT).cursor == "101"  # type: ignore[union-attr]
    box.deliver("hello")
    box.deliver("buy now", labels=("SPAM",))  # filtered out: no read, no event
    third = box.deliver("again")
    box.requests.clear()
    second = await poll(box, store)
    assert second.ok, second.error
    assert len(second.events) == 2 and second.listed == 3
    assert box.requests == [
        "changes since=101 page=0",
        "changes since=101 page=2",
        "message m2",
        "message m4",
    ]
    bodies = fired(store)
    assert [b["data"] for b in bodies] == [
        {"id": "m2", "subject": "hello", "from": "ann@example.com"},
        {"id": "m4", "subject": "again", "from": "ann@example.com"},
    ]
    assert {b["type"] for b in bodies} == {EVENT}
    assert bodies[0]["timestamp"] == box.messages["m2"]["received_at"]  # the declared time
    # Nothing new: one list call, nothing fired. A relabelled message already fired does
    # not fire again (its event id is the message's).
    box.relabel(third, ("INBOX", "STARRED"))
    again = await poll(box, store)
    assert again.ok and again.events == [] and len(fired(store)) == 2
    assert feed_cursors.load(store, "messages", EVENT).cursor == "105"  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_enrich_by_the_resources_read_operation(box: Mailbox, store: SQLiteStore) -> None:
    document = copy.deepcopy(MAIL)
    document["resources"][0]["webhooks"][0]["trigger"]["feed"]["enrich"] = {"operation": "read"}
    await poll(box, store, document)
    box.deliver("read through the read operation")
    box.requests.clear()
    result = await poll(box, store, document)
    assert len(result.events) == 1 and box.requests[-1] == "message m1"
    assert fired(store)[0]["data"] == {
        "id": "m1",
        "subject": "read through the read operation",
        "from": "ann@example.com",
    }


def test_an_enrich_by_an_unknown_operation_is_refused_where_it_is_written() -> None:
    from connector.errors import DefinitionError

    document = copy.deepcopy(MAIL)
    feed = document["resources"][0]["webhooks"][0]["trigger"]["feed"]
    feed["enrich"] = {"operation": "fetch", "path": "/x"}
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    text = str(caught.value)
    assert "resources[0].webhooks[0].trigger.feed.enrich.operation: messages has no such" in text
    assert "calls an operation or declares its own call" in text


def test_a_feed_template_goes_through_the_sandbox_at_load() -> None:
    from connector.errors import DefinitionError

    document = copy.deepcopy(MAIL)
    feed = document["resources"][0]["webhooks"][0]["trigger"]["feed"]
    feed["list"]["queryParams"] = {"since": "{{ cursor.__class__ }}"}
    feed["enrich"] = {"path": "/messages/{% include 'other' %}"}
    with pytest.raises(DefinitionError) as caught:
        load_definition(document)
    text = str(caught.value)
    assert "resources[0].webhooks[0].trigger.feed.list.queryParams" in text
    assert "resources[0].webhooks[0].trigger.feed.enrich.path" in text


@pytest.mark.anyio
async def test_the_page_guard_commits_what_it_saw_and_the_next_poll_continues(
    box: Mailbox, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await poll(box, store)
    for n in range(120):
        box.deliver(f"news {n}")  # 60 pages of 2
    box.requests.clear()
    with caplog.at_level(logging.WARNING, "connector.emitter"):
        capped = await poll(box, store)
    assert capped.ok and len(capped.events) == 100
    assert sum(r.startswith("changes") for r in box.requests) == 50
    assert capped.notes == [f"feed {EVENT}: capped by its page guard"]
    assert "capped at 50 pages (maxPages)" in caplog.text
    (state,) = feed_cursors.list_feeds(store)
    assert state.cursor == "100" and state.page_token == "100"
    assert state.note is not None and "capped at 50 pages" in state.note
    box.requests.clear()
    rest = await poll(box, store)
    assert rest.ok and len(rest.events) == 20 and rest.notes == []
    assert box.requests[0] == "changes since=100 page=100"
    subjects = [b["data"]["subject"] for b in fired(store)]
    assert sorted(subjects) == sorted(f"news {n}" for n in range(120))  # each once
    (state,) = feed_cursors.list_feeds(store)
    assert state.cursor == "220" and state.page_token is None and state.note is None


@pytest.mark.anyio
async def test_a_declared_page_guard_overrides_fifty(box: Mailbox, store: SQLiteStore) -> None:
    document = copy.deepcopy(MAIL)
    document["resources"][0]["webhooks"][0]["trigger"]["feed"]["maxPages"] = 3
    await poll(box, store, document)
    for n in range(10):
        box.deliver(f"n{n}")
    result = await poll(box, store, document)
    assert len(result.events) == 6 and result.notes


@pytest.mark.anyio
async def test_a_404_on_the_list_call_reseeds_without_firing(
    box: Mailbox, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await poll(box, store)
    box.deliver("lost in expired history")
    box.oldest = 500  # the stored cursor (100) has expired
    box.history = 600
    with caplog.at_level(logging.WARNING, "connector.emitter"):
        result = await poll(box, store)
    assert result.ok and result.events == [] and result.notes == [f"feed {EVENT}: reseeded"]
    assert "the cursor is stale, reseeding" in caplog.text
    (state,) = feed_cursors.list_feeds(store)
    assert state.cursor == "600" and state.note is not None and "404" in state.note
    box.deliver("after the reseed")
    later = await poll(box, store)
    assert [b["data"]["subject"] for b in fired(store)] == ["after the reseed"]
    assert len(later.events) == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("html", "the feed's list: expected a JSON body, got text/html"),
        ("nocursor", "the list answer has no cursor at ['cursor']"),
        ("object", "the list answer's items at ['changes'] are dict, not a list"),
        ("repeat", "the page token '2' repeats: the listing makes no progress"),
    ],
)
async def test_a_bad_answer_is_a_located_error_and_loses_nothing(
    box: Mailbox, store: SQLiteStore, answer: str, said: str
) -> None:
    await poll(box, store)
    box.deliver("waits for a good answer")
    box.answer = answer
    async with connector(box) as api:
        async with Emitter(api, store, guard=Guard(allow_private=True)) as emitter:
            report = await emitter.run_once()
    (result,) = report.polls
    assert result.error is not None and said in result.error, result.error
    assert f"feed {EVENT} (messages webhook 0, trigger.feed)" in result.error
    assert fired(store) == []
    (state,) = feed_cursors.list_feeds(store)
    assert state.cursor == "100" and state.problem is not None and said in state.problem
    box.answer = None
    fixed = await poll(box, store)
    assert fixed.ok and [b["data"]["subject"] for b in fired(store)] == ["waits for a good answer"]
    (state,) = feed_cursors.list_feeds(store)
    assert state.problem is None


@pytest.mark.anyio
async def test_status_shows_each_feed_and_a_failed_one_needs_attention(
    box: Mailbox, store: SQLiteStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector.cli import main

    def status() -> tuple[int, list[dict[str, Any]]]:
        code = main(["--state", str(tmp_path / "state.db"), "status", "--check"])
        return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    await poll(box, store)
    code, lines = status()
    assert code == 0 and lines[0]["feed"]["cursor"] == "100" and lines[-1]["feeds"] == 1
    box.answer = "nocursor"
    await poll(box, store)
    code, lines = status()
    assert code == 1
    assert "no cursor at ['cursor']" in lines[0]["feed"]["problem"]
    assert any("feed messages.received of messages" in p for p in lines[-1]["problems"])


class FailingCommit(SQLiteStore):
    """A store whose next poll commit fails (as if the process died before it)."""

    fail = True

    def commit_poll(self, *args: Any, **kwargs: Any) -> list[str]:
        if self.fail:
            self.fail = False
            raise StoreError("disk I/O error (injected)", location=self.location)
        return super().commit_poll(*args, **kwargs)


@pytest.mark.anyio
async def test_a_failed_commit_refires_nothing_twice_and_loses_nothing(
    box: Mailbox, tmp_path: Path
) -> None:
    with FailingCommit(tmp_path / "state.db") as store:
        lost = await poll(box, store)  # the baseline's commit fails: no cursor stored
        assert lost.error is not None and "the store failed" in lost.error
        assert feed_cursors.load(store, "messages", EVENT) is None
        assert (await poll(box, store)).ok  # the next poll takes the baseline
        box.deliver("one")
        box.deliver("two")
        store.fail = True
        failed = await poll(box, store)
        assert failed.error is not None and "injected" in failed.error
        assert fired(store) == []
        assert feed_cursors.load(store, "messages", EVENT).cursor == "100"  # type: ignore[union-attr]
        retried = await poll(box, store)
        assert retried.ok and len(retried.events) == 2
        assert (await poll(box, store)).events == []
        assert [b["data"]["subject"] for b in fired(store)] == ["one", "two"]


@pytest.mark.anyio
async def test_a_restart_resumes_from_the_stored_cursor(box: Mailbox, tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SQLiteStore(path) as store:
        await poll(box, store)
        box.deliver("seen by the first process")
        await poll(box, store)
    box.deliver("sent while the emitter was down")
    box.requests.clear()
    with SQLiteStore(path) as store:  # a new process: nothing cached
        result = await poll(box, store)
        assert box.requests[0] == "changes since=101 page=0"
        assert len(result.events) == 1
        assert [b["data"]["subject"] for b in fired(store)] == [
            "seen by the first process",
            "sent while the emitter was down",
        ]


@pytest.mark.anyio
async def test_a_corteza_poll_spec_runs_as_corteza_runs_it(
    box: Mailbox, store: SQLiteStore
) -> None:
    document = copy.deepcopy(MAIL)
    webhook = document["resources"][0]["webhooks"][0]
    spec = webhook.pop("trigger")["feed"]
    spec["items"] = ["changes", "*"]
    spec["filter"] = {"field": "labels", "contains": "INBOX"}  # Corteza's dotted path
    webhook["poll"] = spec
    del spec["seed"]  # without a seed, the first poll walks the list to its end
    box.deliver("old")
    assert (await poll(box, store, document)).events == []
    assert box.requests == ["changes since=0 page=0"]
    box.deliver("new")
    result = await poll(box, store, document)
    assert [b["data"]["subject"] for b in fired(store)] == ["new"] and len(result.events) == 1


@pytest.mark.slow
def test_feed_events_are_delivered_signed_to_a_real_receiver(box: Mailbox, tmp_path: Path) -> None:
    secret = generate_secret()
    got: list[ReceivedEvent] = []
    with (
        serve(mail_app(box)) as api_url,
        serve(create_receiver_app(secret, handlers={"*": got.append})) as receiver,
    ):

        async def run() -> None:
            with SQLiteStore(tmp_path / "state.db", guard=Guard(allow_private=True)) as store:
                store.add_subscription(receiver, secret=secret)
                async with AsyncConnector(load_definition(MAIL), base_url=api_url) as api:
                    poller = Poller(api, store, "messages")
                    assert (await poller.poll()).ok
                    box.deliver("delivered for real")
                    assert len((await poller.poll()).events) == 1
                async with Deliverer(store, guard=Guard(allow_private=True)) as deliverer:
                    outcomes = await deliverer.drain()
                assert [o.result for o in outcomes] == ["delivered"]

        anyio.run(run)
    (event,) = got
    assert event.type == EVENT and event.data["subject"] == "delivered for real"


@pytest.mark.slow
def test_a_feed_on_postgresql_commits_its_cursor_with_its_events(
    box: Mailbox, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.fernet import Fernet

    from connector.emitter.postgres_database import PostgresDatabase

    monkeypatch.setenv("CONNECTOR_STATE_KEY", Fernet.generate_key().decode())
    dsn = postgres.database()

    async def run() -> None:
        store = SQLStore(PostgresDatabase(dsn))
        try:
            await poll(box, store)
            box.deliver("on postgres")
            assert len((await poll(box, store)).events) == 1
        finally:
            store.close()
        box.deliver("after a restart")
        store = SQLStore(PostgresDatabase(dsn))
        try:
            assert len((await poll(box, store)).events) == 1
            (state,) = feed_cursors.list_feeds(store)
            assert state.cursor == "102"
            assert [b["data"]["subject"] for b in fired(store)] == [
                "on postgres",
                "after a restart",
            ]
        finally:
            store.close()

    anyio.run(run)


@pytest.mark.slow
def test_kill_9_between_list_and_commit_loses_nothing_and_fires_each_item_once(
    box: Mailbox, tmp_path: Path
) -> None:
    """``python -m connector emit`` killed at random points while the mailbox fills; restarted
    each time, it ends with one event per message that arrived after the baseline."""
    import random
    import subprocess
    import sys
    import threading
    import time

    from connector.emitter.store import event_id

    definition = tmp_path / "mail.json"
    definition.write_text(json.dumps(MAIL))
    state = tmp_path / "state.db"
    log = (tmp_path / "emitter.log").open("ab")
    rng = random.Random(9)
    stop = threading.Event()

    def fill() -> None:
        while not stop.wait(0.05):
            box.deliver(f"m{len(box.messages)}", labels=("INBOX",) if rng.random() < 0.8 else ())

    with serve(mail_app(box)) as url:
        command = [
            sys.executable,
            "-m",
            "connector",
            "--definition",
            str(definition),
            "--base-url",
            url,
            "--state",
            str(state),
            "emit",
            "--allow-private",
        ]
        box.page_size = 10
        box.deliver("before the baseline")
        subprocess.run([*command, "--once"], check=True, stderr=log, timeout=60)
        filler = threading.Thread(target=fill, daemon=True)
        filler.start()
        kills = 0
        for _ in range(10):
            process = subprocess.Popen(
                [*command, "--interval", "0.02"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            assert process.stderr is not None
            ready = b""
            while b"polling every" not in ready:
                line = process.stderr.readline()
                ready += line
                if not line:
                    break
            time.sleep(rng.uniform(0.0, 0.3))
            process.kill()
            process.wait(timeout=10)
            log.write(ready + process.stderr.read())
            process.stderr.close()
            kills += int(b"polling every" in ready)
        stop.set()
        filler.join(10)
        for _ in range(5):  # catch up (a capped poll continues in the next one)
            done = subprocess.run(
                [*command, "--once"],
                check=True,
                stderr=log,
                timeout=60,
                capture_output=False,
                stdout=subprocess.PIPE,
            )
            if json.loads(done.stdout)["events"] == 0:
                break
    log.close()
    with SQLiteStore(state) as store:
        events = {i.event.id for i in store.list_events(limit=100_000)}
    inbox = [c["id"] for c in box.changes[1:] if "INBOX" in c["labels"]]
    assert kills == 10 and len(inbox) > 50
    assert events == {event_id(EVENT, mid, "feed") for mid in inbox}
