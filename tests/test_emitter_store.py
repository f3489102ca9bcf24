"""The outbox store: atomic polls, deterministic events, exclusive leases, replay.

The tests taking the ``store`` fixture are the conformance suite: they run unchanged against
the SQLite file and a real PostgreSQL server (started by the tests); the others are about
SQLite's own file handling."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from postgres_support import PostgresServer

from connector.emitter.backends import open_store
from connector.emitter.guard import Guard
from connector.emitter.postgres_database import PostgresDatabase
from connector.emitter.sealing import SecretBox
from connector.emitter.sql_store import SQLStore
from connector.emitter.store import (
    Attempt,
    Event,
    SnapshotRecord,
    build_event,
    event_id,
    filter_matches,
)
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import StoreError, SubscriptionError, UnsafeDestinationError

URL = "http://127.0.0.1:9/hook"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, clock: Clock) -> Iterator[SQLStore]:
    if request.param == "sqlite":
        with SQLiteStore(tmp_path / "state.db", clock=clock, guard=Guard(allow_private=True)) as s:
            yield s
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    database = PostgresDatabase(server.database(), box=SecretBox(Fernet.generate_key()))
    with SQLStore(database, clock=clock, guard=Guard(allow_private=True)) as s:
        yield s


def _event(record: str, kind: str = "files.created", marker: str = "created") -> Event:
    return build_event(
        kind,
        resource=kind.split(".")[0],
        record_id=record,
        marker=marker,
        data={"id": record},
        timestamp="2024-01-01T00:00:00Z",
        path=f"/webhooks/claude-api/{kind}",
        created_at=1_000_000.0,
    )


def test_event_id_is_deterministic_and_distinct() -> None:
    a = event_id("message_batches.ended", "msgbatch_1", "ended")
    assert a == event_id("message_batches.ended", "msgbatch_1", "ended")
    assert a.startswith("evt_") and "." not in a and a == a.lower()
    assert a != event_id("message_batches.ended", "msgbatch_2", "ended")
    assert a != event_id("message_batches.expired", "msgbatch_1", "ended")


def test_build_event_freezes_minified_body() -> None:
    event = _event("file_1")
    assert json.loads(event.body) == {
        "type": "files.created",
        "timestamp": "2024-01-01T00:00:00Z",
        "data": {"id": "file_1"},
    }
    assert b" " not in event.body
    assert "body" not in repr(event)


def test_filter_matches_exact_prefix_and_all() -> None:
    assert filter_matches((), "files.created")
    assert filter_matches(("*",), "files.created")
    assert filter_matches(("files.*",), "files.deleted")
    assert not filter_matches(("files.*",), "filesx.deleted")
    assert not filter_matches(("skills.created",), "files.created")


def test_open_store_uses_connector_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONNECTOR_STATE", str(tmp_path / "env.db"))
    store = open_store()
    store.close()
    assert (tmp_path / "env.db").exists()
    with pytest.raises(StoreError):
        open_store("postgresql://user:pw@host/db")


def test_open_store_reports_unopenable_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        SQLiteStore(tmp_path / "missing-dir" / "x.db")
    assert info.value.location is not None


def test_subscription_lifecycle(store: SQLStore, clock: Clock) -> None:
    sub = store.add_subscription(URL, ["files.*"])
    assert sub.state == "active" and sub.events == ("files.*",)
    assert sub.secrets[0].startswith("whsec_") and sub.secrets[0] not in repr(sub)
    assert [s.id for s in store.list_subscriptions()] == [sub.id]
    store.disable_subscription(sub.id, "maintenance")
    assert store.get_subscription(sub.id).state == "disabled"
    store.enable_subscription(sub.id)
    assert store.get_subscription(sub.id).state == "active"
    store.remove_subscription(sub.id)
    with pytest.raises(SubscriptionError):
        store.get_subscription(sub.id)


def test_add_subscription_validates_url_events_and_secret(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "s.db") as strict:
        with pytest.raises(UnsafeDestinationError):
            strict.add_subscription("http://127.0.0.1/hook")
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True)) as store:
        with pytest.raises(SubscriptionError) as info:
            store.add_subscription(URL, ["files created"])
        assert info.value.field == "events"
        with pytest.raises(SubscriptionError) as info:
            store.add_subscription(URL, secret="whsec_short")
        assert info.value.field == "secret"


def test_rotate_secret_keeps_old_for_24_hours(store: SQLStore, clock: Clock) -> None:
    sub = store.add_subscription(URL)
    new = store.rotate_secret(sub.id)
    assert store.get_subscription(sub.id).secrets == (new, sub.secrets[0])
    clock.now += 24 * 3600 + 1
    assert store.get_subscription(sub.id).secrets == (new,)


def test_load_snapshot_is_none_until_baseline(store: SQLStore) -> None:
    assert store.load_snapshot("files") is None
    store.commit_poll("files", {"f1": SnapshotRecord({"id": "f1"})}, [], [], baseline=True)
    assert store.load_snapshot("files") == {"f1": SnapshotRecord({"id": "f1"}, False)}
    store.commit_poll("files", {"f2": SnapshotRecord({"id": "f2"}, terminal=True)}, ["f1"], [])
    assert store.load_snapshot("files") == {"f2": SnapshotRecord({"id": "f2"}, True)}
    assert store.load_snapshot("skills") is None


def test_commit_poll_inserts_events_once_with_matching_deliveries(store: SQLStore) -> None:
    files = store.add_subscription(URL, ["files.*"])
    everything = store.add_subscription(URL)
    store.add_subscription(URL, ["skills.created"])
    off = store.add_subscription(URL)
    store.disable_subscription(off.id, "off")
    event = _event("f1")
    assert store.commit_poll("files", {}, [], [event], baseline=True) == [event.id]
    assert store.commit_poll("files", {}, [], [event]) == []
    assert store.record_event(event) is False
    targets = {d.subscription_id for d in store.list_deliveries(event_id=event.id)}
    assert targets == {files.id, everything.id}


def test_commit_poll_is_atomic_when_it_fails_midway(store: SQLStore) -> None:
    store.add_subscription(URL)

    def events() -> Iterator[Event]:
        yield _event("f1")
        raise RuntimeError("poller crashed mid-commit")

    with pytest.raises(RuntimeError):
        store.commit_poll(
            "files", {"f1": SnapshotRecord({"id": "f1"})}, [], events(), baseline=True
        )
    assert store.load_snapshot("files") is None
    assert store.list_events() == []
    assert store.count_deliveries("pending") == 0


def test_commit_poll_survives_killed_process(tmp_path: Path) -> None:
    """A process killed inside commit_poll leaves nothing half-written."""
    path = tmp_path / "crash.db"
    code = f"""
import os, signal
from connector.emitter.postgres_database import PostgresDatabase
from connector.emitter.sealing import SecretBox
from connector.emitter.sql_store import SQLStore
from connector.emitter.store_sqlite import SQLiteStore
from connector.emitter.store import SnapshotRecord, build_event
from connector.emitter.guard import Guard
s = SQLiteStore({str(path)!r}, guard=Guard(allow_private=True))
s.add_subscription({URL!r})
def events():
    yield build_event("files.created", resource="files", record_id="f1", marker="created",
                      data={{}}, timestamp=0, path="/x", created_at=0)
    os.kill(os.getpid(), signal.SIGKILL)
s.commit_poll("files", {{"f1": SnapshotRecord({{}})}}, [], events(), baseline=True)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert done.returncode != 0
    with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
        assert store.load_snapshot("files") is None
        assert store.list_events() == []
        assert len(store.list_subscriptions()) == 1


def test_lease_due_claims_once_and_releases_expired_leases(store: SQLStore) -> None:
    store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event("f1"), _event("f2")], baseline=True)
    now = 1_000_000.0
    first = store.lease_due(now, 10, "a", 30)
    assert len(first) == 2
    assert store.lease_due(now + 29, 10, "b", 30) == []
    again = store.lease_due(now + 31, 10, "b", 30)
    assert {x.delivery_id for x in again} == {x.delivery_id for x in first}
    # The first worker lost its lease: its late result is not recorded.
    assert store.complete(first[0], Attempt(now + 32, 200, 1.0)) is False
    assert store.complete(again[0], Attempt(now + 32, 200, 1.0)) is True
    assert store.count_deliveries("delivered") == 1


def test_lease_due_skips_future_disabled_and_excluded(store: SQLStore) -> None:
    a = store.add_subscription(URL)
    b = store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event("f1")], baseline=True)
    assert store.lease_due(999_999.0, 10, "w", 30) == []
    store.disable_subscription(a.id, "off")
    leased = store.lease_due(1_000_000.0, 10, "w", 30, exclude_subscriptions=[])
    assert [x.subscription.id for x in leased] == [b.id]
    store.release(leased[0])
    assert store.lease_due(1_000_000.0, 10, "w", 30, exclude_subscriptions=[b.id]) == []


def test_reschedule_fail_and_attempt_history(store: SQLStore) -> None:
    sub = store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event("f1")], baseline=True)
    t = 1_000_000.0
    for i in range(7):
        (lease,) = store.lease_due(t, 10, "w", 30)
        assert lease.attempts == i
        attempt = Attempt(t, 500, 2.0, None, b"x" * 30_000)
        assert store.reschedule(lease, attempt, t + 1)
        t += 1
    assert store.get_subscription(sub.id).failing_since == 1_000_000.0
    attempts = store.list_attempts(lease.delivery_id)
    assert len(attempts) == 5 and all(len(a.response) == 20 * 1024 for a in attempts)
    (lease,) = store.lease_due(t, 10, "w", 30)
    assert store.fail(lease, Attempt(t, 503, 1.0), disable="gone")
    (dead,) = store.list_deliveries(status="failed")
    assert (dead.attempts, dead.last_status) == (8, 503)
    assert store.get_subscription(sub.id).state == "disabled"


def test_complete_resets_failure_clock(store: SQLStore) -> None:
    sub = store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event("f1"), _event("f2")], baseline=True)
    first, second = store.lease_due(1_000_000.0, 10, "w", 30)
    store.reschedule(first, Attempt(1_000_000.0, 500, 1.0), 1_000_010.0)
    assert store.get_subscription(sub.id).failing_since == 1_000_000.0
    store.complete(second, Attempt(1_000_001.0, 204, 1.0))
    assert store.get_subscription(sub.id).failing_since is None


def test_complete_many_records_several_in_one_transaction_and_skips_lost_leases(
    store: SQLStore,
) -> None:
    store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event(f"f{i}") for i in range(3)], baseline=True)
    now = 1_000_000.0
    stale = store.lease_due(now, 1, "a", 30)
    leases = store.lease_due(now + 31, 10, "b", 30)  # takes f0 over, with f1 and f2
    assert len(leases) == 3
    done = [(x, Attempt(now + 32, 200, 1.0)) for x in [*stale, *leases]]
    assert store.complete_many(done) == [False, True, True, True]
    assert store.count_deliveries("delivered") == 3
    assert all(len(store.list_attempts(x.delivery_id)) == 1 for x in leases)
    assert store.complete_many([]) == []


def test_complete_many_resets_each_failure_clock(store: SQLStore) -> None:
    a, b = store.add_subscription(URL), store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event("f1"), _event("f2")], baseline=True)
    leases = store.lease_due(1_000_000.0, 10, "w", 30)
    for lease in leases[:2]:
        store.reschedule(lease, Attempt(1_000_000.0, 500, 1.0), 1_000_001.0)
    assert store.get_subscription(a.id).failing_since == 1_000_000.0
    store.complete_many([(x, Attempt(1_000_001.0, 200, 1.0)) for x in leases[2:]])
    assert [store.get_subscription(s.id).failing_since for s in (a, b)] == [None, None]
    assert [store.get_subscription(s.id).failures for s in (a, b)] == [0, 0]


def test_complete_many_is_all_or_nothing(store: SQLStore) -> None:
    store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event("f1"), _event("f2")], baseline=True)
    first, second = store.lease_due(1_000_000.0, 10, "w", 30)
    # An attempt the database cannot store fails the whole batch, the good one with it.
    broken = Attempt(1_000_001.0, object(), 1.0)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        store.complete_many([(first, Attempt(1_000_001.0, 200, 1.0)), (second, broken)])
    assert store.count_deliveries("delivered") == 0
    assert store.count_deliveries("delivering") == 2


def test_replay_and_replay_failed(store: SQLStore, clock: Clock) -> None:
    sub = store.add_subscription(URL)
    event = _event("f1")
    store.commit_poll("files", {}, [], [event], baseline=True)
    (lease,) = store.lease_due(clock.now, 10, "w", 30)
    store.fail(lease, Attempt(clock.now, 500, 1.0))
    assert [e.event.id for e in store.list_events(status="failed")] == [event.id]
    late = store.add_subscription(URL)
    assert store.replay_failed(since=0, until=2_000_000.0, subscription_id=late.id) == 0
    assert store.replay_failed(since=0, until=2_000_000.0) == 1
    leased = store.lease_due(clock.now, 10, "w", 30)
    assert [x.subscription.id for x in leased] == [sub.id]
    store.complete(leased[0], Attempt(clock.now, 200, 1.0))
    assert store.replay(event.id) == 2
    assert {x.subscription.id for x in store.lease_due(clock.now, 10, "w", 30)} == {sub.id, late.id}
    with pytest.raises(StoreError):
        store.replay("evt_missing")
    with pytest.raises(StoreError):
        store.list_events(status="bogus")


def _lease_worker(path: str, worker: str, out: multiprocessing.Queue[list[int]]) -> None:
    store = SQLiteStore(path)
    got: list[int] = []
    while True:
        batch = store.lease_due(1e12, 7, worker, 60)
        if not batch:
            break
        got += [x.delivery_id for x in batch]
    store.close()
    out.put(got)


def test_lease_due_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
        for _ in range(3):
            store.add_subscription(URL)
        store.commit_poll("files", {}, [], [_event(f"f{i}") for i in range(200)], baseline=True)
    context = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[list[int]] = context.Queue()
    workers = [
        context.Process(target=_lease_worker, args=(str(path), f"w{i}", queue)) for i in range(4)
    ]
    for p in workers:
        p.start()
    results = [queue.get(timeout=60) for _ in workers]
    for p in workers:
        p.join(timeout=30)
    queue.close()
    queue.join_thread()
    claimed = [d for r in results for d in r]
    assert len(claimed) == 600
    assert len(set(claimed)) == 600


def test_two_connections_in_one_process_never_share_a_lease(tmp_path: Path) -> None:
    path = tmp_path / "two.db"
    with (
        SQLiteStore(path, guard=Guard(allow_private=True)) as a,
        SQLiteStore(path) as b,
    ):
        a.add_subscription(URL)
        a.commit_poll("files", {}, [], [_event(f"f{i}") for i in range(10)], baseline=True)
        got_a = a.lease_due(1e12, 6, "a", 60)
        got_b = b.lease_due(1e12, 6, "b", 60)
        assert len(got_a) == 6 and len(got_b) == 4
        assert not {x.delivery_id for x in got_a} & {x.delivery_id for x in got_b}


def test_store_is_wal_mode(tmp_path: Path) -> None:
    SQLiteStore(tmp_path / "state.db").close()
    with sqlite3.connect(tmp_path / "state.db") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    raw.close()


def test_lease_due_caps_each_subscription(store: SQLStore) -> None:
    a = store.add_subscription(URL)
    b = store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event(f"f{i}") for i in range(8)], baseline=True)
    leased = store.lease_due(1e12, 100, "w", 30, per_subscription=3)
    per_sub = {sid: sum(x.subscription.id == sid for x in leased) for sid in (a.id, b.id)}
    assert per_sub == {a.id: 3, b.id: 3}


def _twin(store: SQLStore) -> SQLStore:
    """A second, independent handle on the same store (another process's, as it were)."""
    if isinstance(store.db, PostgresDatabase):
        return SQLStore(
            PostgresDatabase(store.db._dsn, box=store.db.box), guard=Guard(allow_private=True)
        )
    return SQLiteStore(store.location, guard=Guard(allow_private=True))


def test_two_handles_lease_disjoint_batches_and_see_each_others_events(store: SQLStore) -> None:
    store.add_subscription(URL)
    store.commit_poll("files", {}, [], [_event(f"f{i}") for i in range(40)], baseline=True)
    with _twin(store) as other:
        first = store.lease_due(2_000_000.0, 25, "a", 30)
        second = other.lease_due(2_000_000.0, 25, "b", 30)
        assert len(first) + len(second) == 40
        assert not {x.delivery_id for x in first} & {x.delivery_id for x in second}
        assert other.commit_poll("files", {}, [], [_event("f1")]) == []  # already there


def test_poll_leadership_is_exclusive_until_it_expires_or_is_released(store: SQLStore) -> None:
    assert store.lead_poll("files", "a", 100.0, 10.0)
    with _twin(store) as other:
        assert not other.lead_poll("files", "b", 105.0, 10.0)
        assert store.lead_poll("files", "a", 105.0, 10.0)  # renewed until 115
        assert not other.lead_poll("files", "b", 114.0, 10.0)
        assert other.lead_poll("files", "b", 115.5, 10.0)  # not renewed: taken over
        assert not store.lead_poll("files", "a", 116.0, 10.0)
        other.release_poll("files", "b")
        assert store.lead_poll("files", "a", 116.0, 10.0)  # a clean stop hands over at once
        # A lease stamped a day ahead (the clock went back since) counts as expired.
        assert store.lead_poll("batches", "a", 86_500.0, 10.0)
        assert other.lead_poll("batches", "b", 100.0, 10.0)
        # A live lease of a replica whose clock reads a little ahead stays its own.
        assert store.lead_poll("models", "a", 200.05, 10.0)
        assert not other.lead_poll("models", "b", 200.0, 10.0)
        assert not other.lead_poll("models", "b", 191.0, 10.0)


def test_quarantine_is_noted_counted_and_listed(store: SQLStore) -> None:
    store.quarantine("files", {"f\ud800": "not text", "f2": "no JSON"}, 10.0)
    store.quarantine("files", {"f2": "still no JSON"}, 20.0)
    listed = {q.record_id: q for q in store.list_quarantined()}
    assert listed["f2"].times == 2 and listed["f2"].reason == "still no JSON"
    assert listed["f2"].first_at == 10.0 and listed["f2"].last_at == 20.0
    assert "f\\ud800" in listed


def test_a_secret_sealed_under_another_key_reads_as_broken_and_rotation_repairs_it(
    store: SQLStore,
) -> None:
    sub = store.add_subscription(URL)
    with store.db.transaction("test") as tx:
        foreign = SecretBox(Fernet.generate_key()).seal("whsec_" + "A" * 43)
        tx.execute("UPDATE subscriptions SET secret = ? WHERE id = ?", (foreign, sub.id))
    store.commit_poll("files", {}, [], [_event("f1")], baseline=True)
    assert store.lease_due(2_000_000.0, 10, "w", 30) == []
    broken = store.get_subscription(sub.id)
    assert broken.state == "broken" and broken.secrets == ()
    assert store.count_deliveries("pending") == 1  # kept for later
    store.rotate_secret(sub.id)
    assert store.get_subscription(sub.id).state == "active"
    (lease,) = store.lease_due(2_000_000.0, 10, "w", 30)
    assert len(lease.subscription.secrets) == 1  # the unreadable one was dropped
