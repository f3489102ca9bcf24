"""Several emitters on one PostgreSQL store (a real server started by the tests), as real
processes: the migrate and copy commands, failover of a resource's poller, and ``kill -9`` of
replicas at random moments without losing, re-firing or changing an event."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import pytest
from cryptography.fernet import Fernet
from emitter_support import DEFINITION, MODEL, Delivery, recording_receiver
from postgres_support import PostgresServer, start_postgres

from connector.client import Connector
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.postgres_database import PostgresDatabase
from connector.emitter.signing import generate_secret
from connector.emitter.sql_store import SQLStore
from connector.emitter.store import event_id
from connector.emitter.store_sqlite import SQLiteStore
from connector.sandbox import SandboxServer

TARGETS = ("a", "b")


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = Fernet.generate_key().decode()
    monkeypatch.setenv("CONNECTOR_STATE_KEY", value)
    return value


@pytest.fixture
def dsn(postgres: PostgresServer, key: str) -> str:
    return postgres.database()


def _store(dsn: str) -> SQLStore:
    return SQLStore(PostgresDatabase(dsn), guard=Guard(allow_private=True))


def _connector(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def _emit(base_url: str, state: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "connector",
        "--base-url",
        base_url,
        "--api-key",
        "k",
        "--state",
        state,
        "emit",
        "--allow-private",
        *extra,
    ]


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_migrate_applies_the_schema_and_a_dsn_without_the_key_is_refused(
    postgres: PostgresServer, dsn: str
) -> None:
    done = _connector("--state", dsn, "store", "migrate")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["version"] >= 2
    assert json.loads(_connector("--state", dsn, "store", "migrate").stdout)["version"] >= 2
    refused = _connector("--state", dsn, "status", env={"CONNECTOR_STATE_KEY": ""})
    assert refused.returncode == 2
    assert "CONNECTOR_STATE_KEY" in refused.stderr and "Traceback" not in refused.stderr


def _upload(api: Connector, folder: Path, name: str) -> str:
    path = folder / name
    path.write_text(name)
    return str(api.call("files", "upload", {"file": str(path)}, raw=True)["id"])


def test_store_copy_moves_everything_and_postgres_continues_where_sqlite_stopped(
    tmp_path: Path, dsn: str, key: str
) -> None:
    secrets = {t: generate_secret() for t in TARGETS}
    received: list[Delivery] = []
    sqlite_state = tmp_path / "state.db"
    with (
        SandboxServer() as sandbox,
        SandboxServer(app=recording_receiver(secrets, received)) as receiver,
        Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api,
    ):
        # The SQLite emitter, with its own key file (not the variable).
        env = {"CONNECTOR_STATE_KEY": ""}
        with_file = {k: v for k, v in os.environ.items() if k != "CONNECTOR_STATE_KEY"}
        for target in TARGETS:
            url = f"{receiver.base_url}/{target}"
            if target == "b":
                url = "http://127.0.0.1:9/down"  # b is unreachable for now: its deliveries wait
            added = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "connector",
                    "--state",
                    str(sqlite_state),
                    "subscriptions",
                    "add",
                    url,
                    "--secret",
                    secrets[target],
                    "--allow-private",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                env=with_file,
            )
            assert added.returncode == 0, added.stderr
        baseline = [_upload(api, tmp_path, f"old{n}.txt") for n in range(3)]
        once = subprocess.run(
            _emit(sandbox.base_url, str(sqlite_state), "--once"),
            capture_output=True,
            text=True,
            timeout=60,
            env=with_file,
        )
        assert once.returncode == 0, once.stderr
        seen = [_upload(api, tmp_path, f"seen{n}.txt") for n in range(4)]
        subprocess.run(
            _emit(sandbox.base_url, str(sqlite_state), "--once"),
            capture_output=True,
            timeout=60,
            env=with_file,
        )
        with SQLiteStore(sqlite_state) as old:
            before = {i.event.id for i in old.list_events(limit=1000)}
            pending = old.count_deliveries("pending")
            b_id = next(s.id for s in old.list_subscriptions() if "down" in s.url)
        assert len(before) == 4 and pending == 4
        # Copy into PostgreSQL (sealed again under CONNECTOR_STATE_KEY), then point b at a
        # live receiver and run the PostgreSQL emitter against the same API.
        copied = _connector("store", "copy", str(sqlite_state), dsn)
        assert copied.returncode == 0, copied.stderr
        counts = json.loads(copied.stdout)["copied"]
        assert counts["subscriptions"] == 2 and counts["events"] == 4
        assert counts["snapshots"] >= 7 and counts["deliveries"] == 8
        with _store(dsn) as store:
            with store.db.transaction("test") as tx:
                tx.execute(
                    "UPDATE subscriptions SET url = ? WHERE id = ?",
                    (f"{receiver.base_url}/b", b_id),
                )
                # ... and its retries fall due (instead of waiting out the backoff).
                tx.execute(
                    "UPDATE deliveries SET next_attempt_at = 0 WHERE subscription_id = ?", (b_id,)
                )
        first = _connector(
            "--base-url",
            sandbox.base_url,
            "--api-key",
            "k",
            "--state",
            dsn,
            "emit",
            "--once",
            "--allow-private",
        )
        assert first.returncode == 0, first.stderr
        later = _upload(api, tmp_path, "later.txt")
        second = _connector(
            "--base-url",
            sandbox.base_url,
            "--api-key",
            "k",
            "--state",
            dsn,
            "emit",
            "--once",
            "--allow-private",
        )
        assert second.returncode == 0, second.stderr
        assert env  # the SQLite side never saw the variable
    with _store(dsn) as store:
        after = {i.event.id: i for i in store.list_events(limit=1000)}
        assert store.count_deliveries("pending") == 0
    # Nothing re-fired (the baseline and seen files were known), nothing lost, one new event.
    created = {event_id("files.created", f, "created") for f in [*seen, later]}
    assert (
        set(after) == created and before | {event_id("files.created", later, "created")} == created
    )
    assert not {event_id("files.created", f, "created") for f in baseline} & set(after)
    by_target = defaultdict(set)
    for delivery in received:  # verified with standardwebhooks and svix by the receiver
        by_target[delivery.target].add(delivery.webhook_id)
    assert by_target["a"] == created and by_target["b"] == created


class Workload:
    """Changes the sandbox through the engine from a thread: batches that end, files created
    and deleted; remembers what it did."""

    def __init__(self, base_url: str, folder: Path) -> None:
        self.api = Connector(DEFINITION, base_url=base_url, api_key="k", max_retries=5)
        self.folder = folder
        self.batches: list[str] = []
        self.files: list[str] = []
        self.deleted: list[str] = []
        self.rng = random.Random(11)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._round = 0

    def step(self) -> None:
        self._round += 1
        batch = self.api.call(
            "message_batches",
            "create",
            {"custom_id": f"r{self._round}", "model": MODEL, "max_tokens": 8, "content": "hi"},
            raw=True,
        )
        self.batches.append(batch["id"])
        self.files.append(_upload(self.api, self.folder, f"f{self._round}.txt"))
        if self.rng.random() < 0.2 and len(self.files) > 10:
            victim = self.files[self.rng.randrange(len(self.files) - 5)]
            if victim not in self.deleted:
                self.api.call("files", "delete", {"file_id": victim}, raw=True)
                self.deleted.append(victim)

    def _run(self) -> None:
        while not self._stop.wait(0.04):
            self.step()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.api.close()


@pytest.fixture
def world(
    tmp_path: Path, dsn: str
) -> Iterator[tuple[SandboxServer, SandboxServer, list[Delivery], dict[str, str]]]:
    secrets = {t: generate_secret() for t in TARGETS}
    received: list[Delivery] = []
    with (
        SandboxServer(batch_seconds=0.3) as sandbox,
        SandboxServer(app=recording_receiver(secrets, received)) as receiver,
    ):
        with _store(dsn) as store:
            for target in TARGETS:
                store.add_subscription(f"{receiver.base_url}/{target}", [], secrets[target])
        yield sandbox, receiver, received, secrets


def _baseline_taken(dsn: str, resource: str) -> bool:
    with _store(dsn) as store:
        return store.load_snapshot(resource) is not None


def _leader(dsn: str, resource: str) -> str | None:
    with _store(dsn) as store:
        leaders = store.poll_leaders()
    return leaders.get(resource, (None, 0.0))[0]


@pytest.mark.slow
def test_when_the_polling_replica_dies_another_polls_within_two_intervals(
    tmp_path: Path,
    dsn: str,
    world: tuple[SandboxServer, SandboxServer, list[Delivery], dict[str, str]],
) -> None:
    sandbox, _, received, _ = world
    interval = 0.5
    replicas = [
        subprocess.Popen(
            _emit(sandbox.base_url, dsn, "--interval", str(interval), "--resource", "files"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for replica in replicas:
            assert replica.stderr is not None and b"polling every" in replica.stderr.readline()
        _wait_for(lambda: _leader(dsn, "files") is not None, "a leader")
        _wait_for(lambda: _baseline_taken(dsn, "files"), "the first poll's baseline")
        leader = _leader(dsn, "files")
        with Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api:
            first = _upload(api, tmp_path, "one.txt")
            _wait_for(
                lambda: (
                    event_id("files.created", first, "created") in {d.webhook_id for d in received}
                ),
                "a first event",
            )
            # The lease names its holder host:pid:random; kill that process.
            assert leader is not None
            victim = next(r for r in replicas if r.pid == int(leader.split(":")[1]))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            killed_at = time.monotonic()
            _wait_for(lambda: _leader(dsn, "files") not in (None, leader), "a new leader", 10)
            took_over = time.monotonic() - killed_at
            second = _upload(api, tmp_path, "two.txt")
            _wait_for(
                lambda: (
                    event_id("files.created", second, "created") in {d.webhook_id for d in received}
                ),
                "the survivor's event",
                10,
            )
        assert took_over <= 2 * interval + 0.3, took_over  # two intervals, plus process slack
    finally:
        for replica in replicas:
            if replica.poll() is None:
                replica.kill()
            replica.wait(timeout=10)
            if replica.stderr is not None:
                replica.stderr.close()


KILLS = 30


@pytest.mark.slow
def test_three_replicas_killed_30_times_lose_nothing_and_never_change_an_event(
    tmp_path: Path,
    dsn: str,
    world: tuple[SandboxServer, SandboxServer, list[Delivery], dict[str, str]],
) -> None:
    sandbox, _, received, _ = world
    rng = random.Random(2026)
    log = (tmp_path / "replicas.log").open("ab")
    workload = Workload(sandbox.base_url, tmp_path)
    for _ in range(15):  # history the baseline takes in silently
        workload.step()
    baseline_files = set(workload.files) - set(workload.deleted)
    deleted_before, seen_batches = len(workload.deleted), len(workload.batches)
    subprocess.run(
        _emit(sandbox.base_url, dsn, "--once"),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=log,
        timeout=60,
    )

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            _emit(sandbox.base_url, dsn, "--interval", "0.2"),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        return process

    replicas = [start() for _ in range(3)]
    workload.start()
    kills = 0
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.05, 0.35))
            index = rng.randrange(len(replicas))
            replicas[index].send_signal(signal.SIGKILL)  # kill -9: no handler, no cleanup
            replicas[index].wait(timeout=10)
            kills += 1
            replicas[index] = start()
        workload.stop()
        time.sleep(0.6)  # every batch has ended; the survivors poll and deliver it
    finally:
        for replica in replicas:
            replica.send_signal(signal.SIGTERM)
        for replica in replicas:
            replica.wait(timeout=30)
    # The mass-vanish guard may hold deletions across long gaps; accept them, as an operator
    # would. Deliveries leased by killed replicas come back when their lease expires: the
    # last pass runs one lease ahead instead of waiting that out.
    subprocess.run(
        _emit(sandbox.base_url, dsn, "--once", "--release-held"),
        stdout=subprocess.DEVNULL,
        stderr=log,
        timeout=60,
    )
    with _store(dsn) as store:

        async def drain() -> None:
            offset = [0.0]
            ahead = Deliverer(
                store, guard=Guard(allow_private=True), clock=lambda: time.time() + offset[0]
            )
            offset[0] = ahead.lease_seconds + 1
            async with ahead:
                await ahead.drain()

        anyio.run(drain)
        events = {i.event.id: i for i in store.list_events(limit=100_000)}
        undelivered = [d for d in store.list_deliveries(limit=1_000_000) if d.status != "delivered"]
    log.close()
    assert kills == KILLS
    assert undelivered == []
    expected = {
        event_id("message_batches.ended", b, "to=ended") for b in workload.batches[seen_batches:]
    }
    expected |= {
        event_id("files.created", f, "created")
        for f in workload.files
        if f not in baseline_files and f not in workload.deleted
    }
    expected |= {
        event_id("files.deleted", f, "deleted")
        for f in workload.deleted[deleted_before:]
        if event_id("files.created", f, "created") in events or f in baseline_files
    }
    assert expected <= set(events), len(expected - set(events))
    assert len(expected) > 100
    identities = [(i.event.type, i.event.record_id) for i in events.values()]
    assert len(identities) == len(set(identities))  # one id per transition
    bodies: dict[tuple[str, str], set[bytes]] = defaultdict(set)
    for delivery in received:  # each verified with standardwebhooks and svix on receipt
        bodies[(delivery.target, delivery.webhook_id)].add(delivery.body)
    for target in TARGETS:
        for eid, info in events.items():
            assert bodies[(target, eid)] == {info.event.body}, (target, eid)
    print(f"{kills} kills, {len(events)} events, {len(received)} deliveries received")


@pytest.mark.slow
def test_a_lost_database_is_waited_out_and_the_emitter_carries_on(tmp_path: Path, key: str) -> None:
    """The server goes away under a running emitter and comes back: the emitter says why it
    cannot commit, keeps running, reconnects, and sends what changed meanwhile."""
    server = start_postgres()  # a server of its own: this test stops it
    try:
        dsn = server.database()
        secret = generate_secret()
        received: list[Delivery] = []
        with (
            SandboxServer() as sandbox,
            SandboxServer(app=recording_receiver({"a": secret}, received)) as receiver,
            Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api,
        ):
            with _store(dsn) as store:
                store.add_subscription(f"{receiver.base_url}/a", ["files.*"], secret)
            process = subprocess.Popen(
                _emit(sandbox.base_url, dsn, "--interval", "0.3", "--resource", "files"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            stream = process.stderr
            assert stream is not None
            lines: list[bytes] = []
            reader = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
            reader.start()
            try:
                _wait_for(lambda: _baseline_taken(dsn, "files"), "the first poll's baseline")
                delivered = lambda: {d.webhook_id for d in received}  # noqa: E731
                server.pause()  # every connection is cut; nothing answers on the port
                during = _upload(api, tmp_path, "during.txt")
                _wait_for(lambda: b"state store" in b"".join(lines), "the reason", 20)
                time.sleep(0.7)  # several cycles fail while the server is away
                assert process.poll() is None
                server.resume()
                wanted = event_id("files.created", during, "created")
                _wait_for(lambda: wanted in delivered(), "the change made meanwhile", 30)
                assert process.poll() is None
            finally:
                process.send_signal(signal.SIGTERM)
                code = process.wait(timeout=30)
                reader.join(timeout=10)
                stream.close()
        text = b"".join(lines).decode("utf-8", "replace")
        assert code == 0, text
        assert "Traceback" not in text
    finally:
        server.stop()
