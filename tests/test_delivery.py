"""Delivery: signed POSTs of frozen bytes, the retry schedule, dead letters, replay, caps."""

from __future__ import annotations

import random
import socket
import socketserver
import struct
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import standardwebhooks
import svix.webhooks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.emitter.database import WouldWait
from connector.emitter.delivery import RESPONSE_LIMIT, Deliverer, user_agent
from connector.emitter.guard import Guard
from connector.emitter.schedule import RetrySchedule, parse_retry_after
from connector.emitter.signing import verify
from connector.emitter.store import Event, build_event
from connector.emitter.store_sqlite import SQLiteStore
from connector.errors import VerificationError
from connector.receiver import ReceivedEvent, create_receiver_app

PATH = "/webhooks/claude-api/files.created"
SCALE = 0.001


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "state.db", clock=clock, guard=Guard(allow_private=True)) as s:
        yield s


def _event(n: int, created_at: float) -> Event:
    return build_event(
        "files.created",
        resource="files",
        record_id=f"file_{n}",
        marker="created",
        data={"id": f"file_{n}", "filename": 'naïve "quote".txt'},
        timestamp="2024-05-01T12:00:00Z",
        path=PATH,
        created_at=created_at,
    )


class Scripted:
    """A raw-socket HTTP/1.1 receiver on 127.0.0.1 that misbehaves on cue.

    Each request pops the next mode: ``("status", code, headers, body)``, ``("sleep", s)``,
    ``("reset",)``; with the script empty it answers 200. Every request is recorded.
    """

    def __init__(self) -> None:
        self.script: list[tuple[object, ...]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def _serve(self, conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
        }
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            body += conn.recv(65536)
        with self.lock:
            self.requests.append((headers, body))
            mode = self.script.pop(0) if self.script else ("status", 200, {}, b"ok")
        if mode[0] == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return
        if mode[0] == "sleep":
            time.sleep(float(mode[1]))  # type: ignore[arg-type]
            return
        _, code, extra, payload = mode
        assert isinstance(extra, dict) and isinstance(payload, bytes)
        text = f"HTTP/1.1 {code} X\r\ncontent-length: {len(payload)}\r\nconnection: close\r\n"
        text += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        try:
            conn.sendall(text.encode() + b"\r\n" + payload)
        except OSError:
            pass

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.close()


def _deliverer(store: SQLiteStore, clock: Clock, **options: object) -> Deliverer:
    defaults: dict[str, object] = {
        "guard": Guard(allow_private=True),
        "clock": clock,
        "time_scale": SCALE,
        "total_timeout": 0.5,
        "rng": random.Random(7),
    }
    return Deliverer(store, **{**defaults, **options})  # type: ignore[arg-type]


async def _run_until_settled(deliverer: Deliverer, store: SQLiteStore, clock: Clock) -> None:
    """Run rounds, jumping the fake clock to the next due delivery, until none is pending."""
    for _ in range(200):
        await deliverer.run_once()
        pending = [
            d
            for d in store.list_deliveries(status="pending")
            if store.get_subscription(d.subscription_id).state == "active"
        ]
        if not pending:
            return
        clock.now = max(clock.now, min(d.next_attempt_at or clock.now for d in pending))
    raise AssertionError("deliveries never settled")


def _verify_everywhere(secret: str, headers: dict[str, str], body: bytes, now: float) -> None:
    verify(body, headers, secret, now=now)
    wanted = {k: headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    standardwebhooks.Webhook(secret).verify(body, wanted)
    svix.webhooks.Webhook(secret).verify(body, wanted)


# --- the schedule ---------------------------------------------------------------------------


def test_schedule_default_is_ten_attempts_with_jitter() -> None:
    schedule = RetrySchedule()
    rng = random.Random(1)
    delays = [schedule.next_delay(n, rng=rng) for n in range(1, 10)]
    expected = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]
    assert all(
        d is not None and 0.8 * e <= d <= 1.2 * e for d, e in zip(delays, expected, strict=True)
    )
    assert schedule.next_delay(10) is None and schedule.max_attempts == 10


def test_schedule_throttle_floor_and_retry_after_clamp() -> None:
    schedule = RetrySchedule(jitter=0.0)
    assert schedule.next_delay(1, throttled=True) == 60
    assert schedule.next_delay(1, retry_after=120) == 120
    assert schedule.next_delay(2, retry_after=1) == 300
    assert schedule.next_delay(1, retry_after=10**9) == 86400
    assert RetrySchedule(jitter=0.0, time_scale=0.001).next_delay(1, throttled=True) == 0.06


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("-5", None),
        ("1e12", None),
        ("1.5", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ("Thu, 01 Jan 2099 00:00:00 GMT", 4070908800.0 - 1_700_000_000),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, 1_700_000_000) == seconds


# --- one delivery ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_delivery_is_signed_standard_webhook_of_frozen_bytes(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    sub = store.add_subscription(scripted.url + "/hooks/")
    event = _event(1, clock.now)
    store.record_event(event)
    async with _deliverer(store, clock) as deliverer:
        (outcome,) = await deliverer.run_once()
    assert outcome.result == "delivered"
    ((headers, body),) = scripted.requests
    assert body == event.body
    assert headers["webhook-id"] == event.id
    assert headers["webhook-timestamp"] == str(int(clock.now))
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == user_agent() and user_agent().startswith("connector-webhooks/")
    _verify_everywhere(sub.secrets[0], headers, body, clock.now)
    for name in ("webhook-id", "webhook-timestamp"):
        changed = {**headers, name: headers[name] + "1"}
        with pytest.raises(VerificationError):
            verify(body, changed, sub.secrets[0], now=clock.now)


@pytest.mark.anyio
async def test_delivery_during_rotation_carries_both_signatures(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    sub = store.add_subscription(scripted.url)
    new = store.rotate_secret(sub.id)
    store.record_event(_event(1, clock.now))
    async with _deliverer(store, clock) as deliverer:
        await deliverer.run_once()
    ((headers, body),) = scripted.requests
    assert headers["webhook-signature"].count("v1,") == 2
    _verify_everywhere(new, headers, body, clock.now)
    _verify_everywhere(sub.secrets[0], headers, body, clock.now)


@pytest.mark.anyio
async def test_flaky_subscriber_gets_everything_once_it_recovers(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    sub = store.add_subscription(scripted.url)
    events = [_event(n, clock.now) for n in range(5)]
    for event in events:
        store.record_event(event)
    scripted.script = [
        ("status", 500, {}, b"boom"),
        ("sleep", 1.0),
        ("reset",),
        ("status", 429, {"retry-after": "120"}, b""),
        ("status", 503, {"retry-after": "garbage"}, b""),
        ("status", 302, {"location": "http://169.254.169.254/"}, b""),
        ("status", 500, {}, b""),
    ]
    async with _deliverer(store, clock, concurrency=1) as deliverer:
        first = await deliverer.run_once()
        await _run_until_settled(deliverer, store, clock)
    assert first[0].result == "retry"
    assert store.count_deliveries("delivered") == 5
    assert store.get_subscription(sub.id).failing_since is None
    delivered = {}
    for headers, body in scripted.requests:
        delivered.setdefault(headers["webhook-id"], set()).add(body)
        verify(body, headers, sub.secrets[0], now=float(headers["webhook-timestamp"]))
    assert delivered == {e.id: {e.body} for e in events}
    assert not any(b"169.254" in h.get("host", "").encode() for h, _ in scripted.requests)
    errors = [
        a.error or str(a.status) for d in store.list_deliveries() for a in store.list_attempts(d.id)
    ]
    assert any("timed out" in e for e in errors)
    assert any("302" in e for e in errors)


@pytest.mark.anyio
async def test_retry_after_and_throttle_set_the_next_attempt(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    store.add_subscription(scripted.url)
    store.record_event(_event(1, clock.now))
    scripted.script = [("status", 429, {"retry-after": "600"}, b""), ("status", 504, {}, b"")]
    async with _deliverer(store, clock) as deliverer:
        (first,) = await deliverer.run_once()
        assert first.next_attempt_at is not None
        assert first.next_attempt_at - clock.now == pytest.approx(600 * SCALE)
        clock.now = first.next_attempt_at
        (second,) = await deliverer.run_once()
        assert second.next_attempt_at is not None
        # Attempt 2's scheduled delay is 300 s ±20 %, above the 60 s throttle floor.
        assert 240 * SCALE <= second.next_attempt_at - clock.now <= 360 * SCALE


@pytest.mark.anyio
async def test_never_recovering_subscriber_ends_in_dead_letters_then_replay(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    sub = store.add_subscription(scripted.url)
    start = clock.now
    for n in range(3):
        store.record_event(_event(n, clock.now))
    scripted.script = [("status", 500, {}, b"down")] * 30
    async with _deliverer(store, clock) as deliverer:
        await _run_until_settled(deliverer, store, clock)
        dead = store.list_deliveries(status="failed")
        assert len(dead) == 3 and all(d.attempts == 10 for d in dead)
        assert len(scripted.requests) == 30
        # The whole schedule (~75.6 h) ran in scaled time, within the jitter band.
        assert 0.8 * 272_205 * SCALE <= clock.now - start <= 1.2 * 272_205 * SCALE
        assert len(store.list_attempts(dead[0].id)) == 5
        assert store.replay_failed(since=start - 1, subscription_id=sub.id) == 3
        await deliverer.run_once()
    assert store.count_deliveries("delivered") == 3
    assert len({h["webhook-id"] for h, _ in scripted.requests[30:]}) == 3


@pytest.mark.anyio
async def test_410_disables_the_endpoint_at_once(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    sub = store.add_subscription(scripted.url)
    for n in range(3):
        store.record_event(_event(n, clock.now))
    scripted.script = [("status", 410, {}, b"gone")]
    async with _deliverer(store, clock, concurrency=1) as deliverer:
        (outcome,) = await deliverer.run_once()
        assert outcome.result == "failed" and outcome.disabled
        assert store.get_subscription(sub.id).state == "disabled"
        assert await deliverer.run_once() == []
    assert store.count_deliveries("pending") == 2
    assert len(scripted.requests) == 1


@pytest.mark.anyio
async def test_endpoint_disabled_after_failing_for_the_scaled_window(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    sub = store.add_subscription(scripted.url)
    store.record_event(_event(1, clock.now))
    scripted.script = [("status", 500, {}, b"")] * 10
    schedule = RetrySchedule(disable_after=0.5 * 86400)  # half a day, scaled: 43.2 s
    async with _deliverer(store, clock, schedule=schedule) as deliverer:
        await _run_until_settled(deliverer, store, clock)
    got = store.get_subscription(sub.id)
    assert got.state == "disabled" and got.disabled_reason
    assert len(scripted.requests) < 10


@pytest.mark.anyio
async def test_large_response_is_capped(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    store.add_subscription(scripted.url)
    store.record_event(_event(1, clock.now))
    scripted.script = [("status", 500, {"content-encoding": "gzip"}, b"z" * 5_000_000)]
    async with _deliverer(store, clock, total_timeout=5.0) as deliverer:
        (outcome,) = await deliverer.run_once()
    assert outcome.result == "retry"
    (delivery,) = store.list_deliveries()
    (attempt,) = store.list_attempts(delivery.id)
    assert attempt.response == b"z" * RESPONSE_LIMIT


@pytest.mark.anyio
async def test_expired_lease_of_crashed_worker_is_delivered_with_same_id(
    store: SQLiteStore, clock: Clock, scripted: Scripted
) -> None:
    store.add_subscription(scripted.url)
    event = _event(1, clock.now)
    store.record_event(event)
    (lost,) = store.lease_due(clock.now, 10, "crashed", 15.5)
    async with _deliverer(store, clock) as deliverer:
        assert await deliverer.run_once() == []
        clock.now += 16
        (outcome,) = await deliverer.run_once()
    assert outcome.result == "delivered"
    assert scripted.requests[0][0]["webhook-id"] == event.id == lost.event.id
    assert scripted.requests[0][1] == event.body


# --- caps and the loop, over the receiver app -----------------------------------------------


def _counting_app(state: dict[str, int], delay: float) -> Starlette:
    async def hook(request: Request) -> Response:
        state["now"] += 1
        state["max"] = max(state["max"], state["now"])
        await anyio.sleep(delay)
        state["now"] -= 1
        state["done"] += 1
        return Response(status_code=204)

    return Starlette(routes=[Route("/{p:path}", hook, methods=["POST"])])


@pytest.mark.anyio
async def test_per_endpoint_concurrency_is_capped(store: SQLiteStore, clock: Clock) -> None:
    store.add_subscription("http://slow.test")
    for n in range(35):
        store.record_event(_event(n, clock.now))
    state = {"now": 0, "max": 0, "done": 0}
    transport = httpx.ASGITransport(app=_counting_app(state, 0.05))
    async with _deliverer(store, clock, transport=transport, per_endpoint=10) as deliverer:
        outcomes = await deliverer.drain()
    assert len(outcomes) == 35 and state["done"] == 35
    assert state["max"] == 10


@pytest.mark.anyio
async def test_run_forever_delivers_into_receiver_app_and_stops(
    store: SQLiteStore, clock: Clock
) -> None:
    sub = store.add_subscription("http://receiver.test/base")
    got: list[ReceivedEvent] = []
    app = create_receiver_app(sub.secrets[0], handlers={"*": got.append}, clock=clock)
    for n in range(20):
        store.record_event(_event(n, clock.now))
    stop = anyio.Event()
    async with _deliverer(store, clock, transport=httpx.ASGITransport(app=app)) as deliverer:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: deliverer.run_forever(stop, idle=0.01))
            with anyio.fail_after(10):
                while len(got) < 20:
                    await anyio.sleep(0.01)
            stop.set()
    assert {e.path for e in got} == {"/base" + PATH}
    assert store.count_deliveries("delivered") == 20


@pytest.mark.anyio
async def test_run_forever_releases_inflight_work_after_grace(
    store: SQLiteStore, clock: Clock
) -> None:
    store.add_subscription("http://slow.test")
    store.record_event(_event(1, clock.now))
    state = {"now": 0, "max": 0, "done": 0}
    transport = httpx.ASGITransport(app=_counting_app(state, 30))
    stop = anyio.Event()
    async with _deliverer(store, clock, transport=transport, total_timeout=60) as deliverer:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: deliverer.run_forever(stop, idle=0.01, grace=0.05))
            with anyio.fail_after(5):
                while state["now"] == 0:
                    await anyio.sleep(0.01)
            stop.set()
    assert store.count_deliveries("pending") == 1
    assert store.lease_due(clock.now, 10, "next", 30) != []


@pytest.fixture
async def uvicorn_receiver() -> AsyncIterator[tuple[str, list[ReceivedEvent], str]]:
    import uvicorn

    from connector.emitter.signing import generate_secret

    secret = generate_secret()
    got: list[ReceivedEvent] = []
    app = create_receiver_app(secret, handlers={"*": got.append})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        while not server.started:
            await anyio.sleep(0.01)
        yield f"http://127.0.0.1:{port}", got, secret
        server.should_exit = True
    sock.close()


@pytest.mark.anyio
async def test_delivery_through_real_uvicorn_receiver(
    tmp_path: Path, uvicorn_receiver: tuple[str, list[ReceivedEvent], str]
) -> None:
    url, got, secret = uvicorn_receiver
    with SQLiteStore(tmp_path / "s.db", guard=Guard(allow_private=True)) as store:
        store.add_subscription(url, secret=secret)
        for n in range(30):
            store.record_event(_event(n, time.time()))
        async with Deliverer(store, guard=Guard(allow_private=True)) as deliverer:
            outcomes = await deliverer.drain()
    assert [o.result for o in outcomes] == ["delivered"] * 30
    assert len({e.id for e in got}) == 30


class GatedStore(SQLiteStore):
    """A real SQLite store whose batched completions wait for ``gate`` (a stalled commit).
    Made on the event loop (``run_now``) while the gate is shut, a completion is refused
    with ``WouldWait``, as SQLite refuses it while another connection holds the write lock,
    so it stalls in a worker thread."""

    gate: threading.Event
    batches: list[int]

    def complete_many(self, done):  # type: ignore[no-untyped-def]
        if not self.gate.is_set() and threading.current_thread() is threading.main_thread():
            raise WouldWait
        self.batches.append(len(done))
        assert self.gate.wait(10)
        return super().complete_many(done)


@pytest.mark.anyio
async def test_successes_are_committed_several_per_transaction(
    tmp_path: Path, clock: Clock
) -> None:
    with GatedStore(tmp_path / "s.db", clock=clock, guard=Guard(allow_private=True)) as store:
        store.gate, store.batches = threading.Event(), []
        store.gate.set()
        store.add_subscription("http://a.test")
        store.add_subscription("http://b.test")
        for n in range(30):
            store.record_event(_event(n, clock.now))
        state = {"now": 0, "max": 0, "done": 0}
        transport = httpx.ASGITransport(app=_counting_app(state, 0))
        async with _deliverer(store, clock, transport=transport) as deliverer:
            outcomes = await deliverer.drain()
        assert len(outcomes) == 60 and {o.result for o in outcomes} == {"delivered"}
        assert store.count_deliveries("delivered") == 60
        assert sum(store.batches) == 60 and len(store.batches) < 60
        assert deliverer.completions.transactions == len(store.batches)
        assert all(len(store.list_attempts(o.delivery_id)) == 1 for o in outcomes)


@pytest.mark.anyio
async def test_a_delivery_is_reported_done_only_once_its_commit_is_durable(
    tmp_path: Path, clock: Clock
) -> None:
    with GatedStore(tmp_path / "s.db", clock=clock, guard=Guard(allow_private=True)) as store:
        store.gate, store.batches = threading.Event(), []
        store.add_subscription("http://a.test")
        for n in range(5):
            store.record_event(_event(n, clock.now))
        state = {"now": 0, "max": 0, "done": 0}
        transport = httpx.ASGITransport(app=_counting_app(state, 0))
        result: list[object] = []
        async with _deliverer(store, clock, transport=transport) as deliverer:
            async with anyio.create_task_group() as group:

                async def run() -> None:
                    result.extend(await deliverer.run_once())

                group.start_soon(run)
                with anyio.fail_after(5):
                    while state["done"] < 5 or not store.batches:
                        await anyio.sleep(0.01)
                await anyio.sleep(0.05)
                # Sent, not committed: nothing reported, nothing marked delivered.
                assert result == [] and store.count_deliveries("delivered") == 0
                store.gate.set()
        assert len(result) == 5 and store.count_deliveries("delivered") == 5
