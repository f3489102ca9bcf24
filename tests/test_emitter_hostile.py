"""Issue 8's emitter items: no record, secret, clock jump or broken file stops the emitter,
loses an event or replaces a key (the poison and disk-full runs are in test_emitter_faults)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
import pytest
import standardwebhooks
from cryptography.fernet import Fernet
from emitter_support import Delivery, recording_receiver
from hostile_api import hostile_api

from connector.cli import main
from connector.emitter.breaker import CircuitBreaker
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.schedule import RetrySchedule
from connector.emitter.sealing import KEY_VARIABLE, SecretBox
from connector.emitter.signing import generate_secret
from connector.emitter.store import build_event, event_id
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import StoreError
from connector.sandbox import SandboxServer

HOOKS = "http://hooks.test"


def _event(n: int, now: float, name: str = "notes.txt") -> object:
    return build_event(
        "files.created",
        resource="files",
        record_id=f"file_{n}",
        marker="created",
        data={"id": f"file_{n}", "file_name": name},
        timestamp=now,
        path="/webhooks/claude-api/files.created",
        created_at=now,
    )


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


# 1: bodies stay valid whatever the API sent -------------------------------------------


def test_a_lone_surrogate_freezes_to_a_valid_utf8_body_with_the_same_bytes_every_time() -> None:
    first = _event(1, 1_700_000_000.0, "\ud800.txt")
    again = _event(1, 1_700_000_000.0, "\ud800.txt")
    assert first.body == again.body  # type: ignore[attr-defined]
    text = first.body.decode("utf-8")  # type: ignore[attr-defined]
    assert "\\ud800" in text and json.loads(text)["data"]["file_name"] == "\ud800.txt"


# 2: a write that succeeded is never failed by its recording ---------------------------


MESSAGE = (
    '{"id":"%s","type":"message","role":"assistant","model":"claude-opus-4-5",'
    '"content":[{"type":"text","text":"\\ud800 hello"}],"stop_reason":"end_turn",'
    '"usage":{"input_tokens":1,"output_tokens":1}}'
)


def _call_create(base_url: str, state: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "connector",
            "--base-url",
            base_url,
            "--api-key",
            "k",
            "--state",
            str(state),
            "call",
            "messages",
            "create",
            "-p",
            "model=claude-opus-4-5",
            "-p",
            "max_tokens=8",
            "-p",
            "content=hi",
        ],
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize(("message_id", "recorded"), [("msg_plain", True), ("msg_\\ud800", False)])
def test_call_messages_create_returns_its_result_even_when_recording_fails(
    tmp_path: Path, message_id: str, recorded: bool
) -> None:
    state = tmp_path / "state.db"
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        store.add_subscription("http://127.0.0.1:9/hook")
    with SandboxServer(app=hostile_api(list, MESSAGE % message_id)) as api:
        done = _call_create(api.base_url, state)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    answer = json.loads(done.stdout)
    assert answer["content"] == "\ud800 hello"  # the record's content field, as sent
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        events = store.list_events()
    if recorded:  # a surrogate in the data is escaped, the event is stored and valid
        (info,) = events
        assert json.loads(info.event.body.decode("utf-8"))["type"] == "messages.created"
    else:  # an id that cannot be stored: logged, and the call still succeeded
        assert events == []
        assert b"cannot record the messages.create write-through event" in done.stderr


# 3: an unreadable secret breaks one subscription, not the deliverer ------------------


def test_a_subscription_whose_secret_cannot_be_opened_is_broken_and_the_others_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state.db"
    secrets = {"a": generate_secret(), "b": generate_secret()}
    received: list[Delivery] = []
    clock = Clock()
    store = SQLiteStore(state, guard=Guard(allow_private=True), clock=clock)
    healthy = store.add_subscription(f"{HOOKS}/a", [], secrets["a"])
    tampered = store.add_subscription(f"{HOOKS}/b", [], secrets["b"])
    foreign = SecretBox(Fernet.generate_key()).seal(secrets["b"])
    with sqlite3.connect(state) as raw:  # sealed under another key, as after a bad restore
        raw.execute("UPDATE subscriptions SET secret = ? WHERE id = ?", (foreign, tampered.id))
    for n in range(3):
        store.record_event(_event(n, clock.now))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=recording_receiver(secrets, received))

    async def drain() -> None:
        async with Deliverer(
            store, guard=Guard(allow_private=True), transport=transport, clock=clock
        ) as d:
            await d.drain()

    anyio.run(drain)
    assert sorted(d.target for d in received) == ["a", "a", "a"]
    broken = store.get_subscription(tampered.id)
    assert broken.state == "broken" and "cannot be opened" in (broken.disabled_reason or "")
    assert len(store.list_deliveries(subscription_id=tampered.id, status="pending")) == 3
    assert store.get_subscription(healthy.id).state == "active"
    store.close()

    code = main(["--state", str(state), "status", "--check"])
    totals = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1
    assert any(tampered.id in p and "broken" in p for p in totals["problems"])

    # Rotating the secret repairs it; the queued deliveries go out, nothing was lost.
    with SQLiteStore(state, guard=Guard(allow_private=True), clock=clock) as store:
        store.rotate_secret(tampered.id, secrets["b"])
        assert store.get_subscription(tampered.id).state == "active"

        async def drain_again() -> None:
            async with Deliverer(
                store, guard=Guard(allow_private=True), transport=transport, clock=clock
            ) as d:
                await d.drain()

        anyio.run(drain_again)
    assert sorted(d.target for d in received) == ["a", "a", "a", "b", "b", "b"]


# 4 and 19: a lost key file or a truncated state file is refused ------------------------


def test_a_lost_key_file_is_refused_and_never_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    state = tmp_path / "state.db"
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        store.add_subscription("http://127.0.0.1:9/hook")
    key = tmp_path / "state.db.key"
    key.unlink()
    assert main(["--state", str(state), "status"]) == 2
    message = capsys.readouterr().err
    assert str(key) in message and KEY_VARIABLE in message
    assert not key.exists()
    with pytest.raises(StoreError, match=KEY_VARIABLE):
        SQLiteStore(state)
    assert not key.exists()


def test_a_truncated_state_file_beside_its_key_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    state = tmp_path / "state.db"
    with SQLiteStore(state, guard=Guard(allow_private=True)) as store:
        store.add_subscription("http://127.0.0.1:9/hook")
    state.write_bytes(b"")
    assert main(["--state", str(state), "subscriptions", "list"]) == 2
    assert "empty" in capsys.readouterr().err
    assert state.stat().st_size == 0  # nothing was created in its place


# 9 (in process): the real cause of a full database, never "cannot rollback" ------------


def test_a_full_database_reports_its_cause_as_transient_and_works_once_space_returns(
    tmp_path: Path,
) -> None:
    with SQLiteStore(tmp_path / "state.db", guard=Guard(allow_private=True)) as store:
        store.add_subscription("http://127.0.0.1:9/hook")
        pages = store.db.connection.execute("PRAGMA page_count").fetchone()[0]
        store.db.connection.execute(f"PRAGMA max_page_count = {pages}")  # no room to grow
        big = _event(1, 1.0, "x" * 200_000)
        with pytest.raises(StoreError, match="database or disk is full") as caught:
            store.record_event(big)  # type: ignore[arg-type]
        assert caught.value.transient
        assert "rollback" not in str(caught.value)
        store.db.connection.execute(f"PRAGMA max_page_count = {pages * 1000}")  # space is back
        assert store.record_event(big) is True  # type: ignore[arg-type]


# 12: the receiver prints what it verified ------------------------------------------------


def test_connector_receive_accepts_and_prints_a_signed_event_with_a_lone_surrogate(
    tmp_path: Path,
) -> None:
    secret = generate_secret()
    with SandboxServer() as spare:  # a free port on 127.0.0.1, released for the receiver
        port = int(spare.base_url.rsplit(":", 1)[1])
    process = subprocess.Popen(
        [sys.executable, "-m", "connector", "receive", "--port", str(port), "--secret", secret],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        assert b"listening" in process.stderr.readline()
        body = '{"type":"files.created","timestamp":"2026-01-01T00:00:00Z","data":{"file_name":"\\ud800.txt"}}'
        now = int(time.time())
        moment = datetime.fromtimestamp(now, UTC)
        signature = standardwebhooks.Webhook(secret).sign("evt_1", moment, body)
        headers = {
            "webhook-id": "evt_1",
            "webhook-timestamp": str(now),
            "webhook-signature": signature,
        }
        answer = _post_when_up(f"http://127.0.0.1:{port}/hook", body.encode(), headers)
        assert answer.status_code == 200, answer.text
        line = json.loads(process.stdout.readline())
        assert line["data"]["file_name"] == "\ud800.txt"
    finally:
        process.terminate()
        process.wait(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _post_when_up(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.post(url, content=body, headers=headers, timeout=5)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# 18: clock jumps -------------------------------------------------------------------------


def test_a_lease_stamped_in_the_future_is_taken_over_once_beyond_its_length(
    tmp_path: Path,
) -> None:
    clock = Clock()
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True), clock=clock) as store:
        store.add_subscription("http://127.0.0.1:9/hook")
        event = _event(1, clock.now)
        store.record_event(event)  # type: ignore[arg-type]
        # A worker leased it with its wall clock a day ahead, then died; the clock is back.
        (lost,) = store.lease_due(clock.now + 86400, 10, "dead", 45)
        assert store.lease_due(clock.now, 10, "live", 45) != []  # not a day later
        assert lost.event.id == event_id("files.created", "file_1", "created")


def test_a_live_lease_taken_by_a_worker_whose_clock_reads_ahead_is_not_leased_again(
    tmp_path: Path,
) -> None:
    """Two replicas: one leases with its clock a little ahead (or read its clock after the
    other, which then waited for the transaction); the other must not take the live lease
    over as if the wall clock had jumped back (that sent the delivery twice)."""
    clock = Clock()
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True), clock=clock) as store:
        store.add_subscription("http://127.0.0.1:9/hook")
        store.record_event(_event(1, clock.now))  # type: ignore[arg-type]
        (held,) = store.lease_due(clock.now + 0.05, 10, "ahead", 30)
        for skew in (0.0, 1.0, 29.0):
            assert store.lease_due(clock.now - skew, 10, "behind", 30) == []
        # Past its length plus a lease of margin, it is a clock jump: taken over once.
        (taken,) = store.lease_due(clock.now - 31.0, 10, "behind", 30)
        assert taken.event.id == held.event.id


def test_a_forward_clock_jump_alone_does_not_disable_an_endpoint(tmp_path: Path) -> None:
    clock = Clock()
    received: list[Delivery] = []
    secret = generate_secret()
    transport = httpx.ASGITransport(app=recording_receiver({"a": secret}, received, answer=500))
    schedule = RetrySchedule(disable_after=43_200.0)  # half a day of failures disables
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True), clock=clock) as store:
        sub = store.add_subscription(f"{HOOKS}/a", [], secret)
        store.record_event(_event(1, clock.now))  # type: ignore[arg-type]

        async def attempt() -> None:
            async with Deliverer(
                store,
                guard=Guard(allow_private=True),
                transport=transport,
                clock=clock,
                schedule=schedule,
            ) as deliverer:
                (lease,) = store.lease_due(clock.now, 1, deliverer.worker, 60)
                await deliverer.deliver(lease)

        anyio.run(attempt)
        clock.now += 60
        store.replay(_event(1, clock.now).id)  # type: ignore[attr-defined]
        anyio.run(attempt)  # two real failures, a minute apart
        clock.now += 86400  # the wall clock jumps a day ahead
        store.replay(_event(1, clock.now).id)  # type: ignore[attr-defined]
        anyio.run(attempt)
        assert store.get_subscription(sub.id).state == "active"  # not disabled by the jump
        for _ in range(2):
            store.replay(_event(1, clock.now).id)  # type: ignore[attr-defined]
            anyio.run(attempt)
        # ... but a run of failures over the window still disables it.
        assert store.get_subscription(sub.id).state == "disabled"
        (delivery,) = store.list_deliveries()
        attempts = store.list_attempts(delivery.id)
    assert len(attempts) == 5 and all(a.status in (400, 500) for a in attempts)


def test_a_backward_clock_jump_does_not_stretch_an_open_circuit() -> None:
    breaker = CircuitBreaker()
    now = 1_700_000_000.0
    for _ in range(10):
        breaker.record("sub", now, False)
    assert breaker.state("sub", now) == "open"
    assert breaker.state("sub", now - 86400) == "half-open"  # not open for a day
