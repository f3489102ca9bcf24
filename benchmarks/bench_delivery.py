"""Delivery throughput and backlog memory (issue 11, items 5 and 7), on the harness.

    python benchmarks/bench_delivery.py [--quick]     # or benchmarks/run.py --only delivery

1. A verifying receiver (``connector.receiver`` under uvicorn) runs in its own process on
   127.0.0.1.
2. The honest limit: plain ``aiohttp`` POSTs of the same bodies with the same headers signed
   beforehand, at the same concurrency, one 10-connection session per subscription (aiohttp
   is also the emitter's client, so emitter/aiohttp is what durability, signing, scheduling
   and the guard cost). It runs in two forms, a task per request under a semaphore and
   long-lived workers (10 per session, as the deliverer's lanes), and each round's limit is
   the faster of the two. Plain ``httpx.AsyncClient`` is shown too; it is slower under
   concurrency, so it is no limit.
3. Emitter: 10 subscriptions in a durable SQLite store (a fresh file every round);
   ``Deliverer.run_forever`` leases, signs, sends and records each delivery until all are
   committed as delivered (told by the deliverer's metrics hook, which is called once an
   attempt is recorded, so the store is not read meanwhile; the count is checked afterwards). The three run in interleaved rounds in rotating order; the figure is the median
   per-round ratio of deliveries/s. Target: emitter ≥ 0.8× aiohttp.
4. Backlog: 100,000 queued deliveries (10,000 events × 10 subscriptions) in a fresh process
   of its own: its peak RSS and tracemalloc peak while the deliverer works through the first
   10,000, and the SQLite size with its WAL and shared-memory files.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import aiohttp
import anyio
import httpx
from harness import Figure, in_fresh_process, interleaved, peak_mib, ratios, render

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.signing import generate_secret, sign
from connector.emitter.store import build_event
from connector.emitter.store_sqlite import SQLiteStore

SUBSCRIPTIONS = 10
CONCURRENCY = 100
RECEIVER = """
import sys, uvicorn
from connector.receiver import create_receiver_app
app = create_receiver_app(sys.argv[1], handlers={"*": lambda e: None})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error",
            access_log=False, lifespan="off")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _events(n: int, offset: int = 0) -> list:  # type: ignore[type-arg]
    now = time.time()
    return [
        build_event(
            "files.created",
            resource="files",
            record_id=f"file_{offset + i:08d}",
            marker="created",
            data={"id": f"file_{offset + i:08d}", "filename": "report.pdf", "size_bytes": 12345},
            timestamp=now,
            path="/webhooks/claude-api/files.created",
            created_at=now,
        )
        for i in range(n)
    ]


def _signed(secret: str, n: int) -> list[tuple[dict[str, str], bytes]]:
    bodies = [e.body for e in _events(n // SUBSCRIPTIONS)] * SUBSCRIPTIONS
    ts = int(time.time())
    return [
        (
            {
                "webhook-id": f"msg_{i}",
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(f"msg_{i}", ts, body, secret),
                "content-type": "application/json",
            },
            body,
        )
        for i, body in enumerate(bodies)
    ]


async def baseline_aiohttp(url: str, secret: str, n: int) -> float:
    """The same POSTs with plain aiohttp (the emitter's client): what the store, signing,
    scheduling and the guard cost on top of the bare HTTP calls."""
    requests = _signed(secret, n)
    limiter = asyncio.Semaphore(CONCURRENCY)
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10))
        for _ in range(SUBSCRIPTIONS)
    ]

    async def post(session: aiohttp.ClientSession, headers: dict[str, str], body: bytes) -> None:
        async with (
            limiter,
            session.post(
                url + "/webhooks/claude-api/files.created", data=body, headers=headers
            ) as r,
        ):
            await r.read()
            assert r.status == 200, r.status

    started = time.perf_counter()
    await asyncio.gather(
        *(post(sessions[i % SUBSCRIPTIONS], h, b) for i, (h, b) in enumerate(requests))
    )
    elapsed = time.perf_counter() - started
    for session in sessions:
        await session.close()
    return n / elapsed


async def baseline_aiohttp_workers(url: str, secret: str, n: int) -> float:
    """Plain aiohttp at its best: ``CONCURRENCY`` long-lived workers (``CONCURRENCY /
    SUBSCRIPTIONS`` per subscription's session), each posting its share in turn, so no task
    is made per request."""
    requests = _signed(secret, n)
    sessions = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=10))
        for _ in range(SUBSCRIPTIONS)
    ]
    target = url + "/webhooks/claude-api/files.created"
    workers = CONCURRENCY // SUBSCRIPTIONS

    async def work(
        session: aiohttp.ClientSession, share: list[tuple[dict[str, str], bytes]]
    ) -> None:
        for headers, body in share:
            async with session.post(target, data=body, headers=headers) as r:
                await r.read()
                assert r.status == 200, r.status

    started = time.perf_counter()
    await asyncio.gather(
        *(
            work(sessions[s], requests[s + w * SUBSCRIPTIONS :: SUBSCRIPTIONS * workers])
            for s in range(SUBSCRIPTIONS)
            for w in range(workers)
        )
    )
    elapsed = time.perf_counter() - started
    for session in sessions:
        await session.close()
    return n / elapsed


async def baseline(url: str, secret: str, n: int) -> float:
    bodies = [e.body for e in _events(n // SUBSCRIPTIONS)] * SUBSCRIPTIONS
    ts = int(time.time())
    requests = [
        (
            {
                "webhook-id": f"msg_{i}",
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(f"msg_{i}", ts, body, secret),
                "content-type": "application/json",
            },
            body,
        )
        for i, body in enumerate(bodies)
    ]
    limiter = anyio.Semaphore(CONCURRENCY)
    # Same shape as the deliverer: one 10-connection client per subscription.
    clients = [
        httpx.AsyncClient(
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=10), trust_env=False
        )
        for _ in range(SUBSCRIPTIONS)
    ]

    async def post(client: httpx.AsyncClient, headers: dict[str, str], body: bytes) -> None:
        async with limiter:
            r = await client.post(
                url + "/webhooks/claude-api/files.created", content=body, headers=headers
            )
            assert r.status_code == 200, r.text

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for i, (headers, body) in enumerate(requests):
            group.start_soon(post, clients[i % SUBSCRIPTIONS], headers, body)
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return n / elapsed


class _Delivered:
    """Counts the deliverer's committed deliveries (its metrics hook: called once an attempt
    is recorded), so the benchmark learns the end without reading the store meanwhile."""

    def __init__(self, n: int) -> None:
        self.n, self.count, self.all = n, 0, anyio.Event()

    def attempted(self, result: str, latency_ms: float) -> None:
        self.count += result == "delivered"
        if self.count >= self.n:
            self.all.set()


async def emitter(url: str, secret: str, n: int, path: Path) -> float:
    with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
        for _ in range(SUBSCRIPTIONS):
            store.add_subscription(url, secret=secret)
        store.commit_poll("files", {}, [], _events(n // SUBSCRIPTIONS), baseline=True)
        stop = anyio.Event()
        async with Deliverer(store, guard=Guard(allow_private=True), concurrency=CONCURRENCY) as d:
            delivered = _Delivered(n)
            d.metrics = delivered  # type: ignore[assignment]
            started = time.perf_counter()
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: d.run_forever(stop, idle=0.01))
                await delivered.all.wait()
                elapsed = time.perf_counter() - started
                stop.set()
        assert store.count_deliveries("delivered") == n
        assert store.count_deliveries("failed") == 0
    return n / elapsed


def _db_mib(path: Path) -> float:
    """The store's size on disk: the database with its WAL and shared-memory files."""
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


async def backlog(url: str, secret: str, total: int, path: Path) -> dict[str, float]:
    """Queue ``total`` deliveries, then deliver the first 10,000 (a fresh process's figures)."""
    with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
        for _ in range(SUBSCRIPTIONS):
            store.add_subscription(url, secret=secret)
        started = time.perf_counter()
        step = min(5000, total // SUBSCRIPTIONS)
        for offset in range(0, total // SUBSCRIPTIONS, step):
            store.commit_poll("files", {}, [], _events(step, offset), baseline=True)
        enqueue = total / (time.perf_counter() - started)
        assert store.count_deliveries("pending") == total
        queued_mib = peak_mib()
        tracemalloc.start()
        stop = anyio.Event()
        async with Deliverer(store, guard=Guard(allow_private=True), concurrency=CONCURRENCY) as d:
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: d.run_forever(stop, idle=0.01))
                while store.count_deliveries("delivered") < min(10_000, total):
                    await anyio.sleep(0.1)
                stop.set()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        db = _db_mib(path)
    return {
        "enqueue_per_s": enqueue,
        "peak_queued_mib": queued_mib,
        "peak_mib": peak_mib(),
        "tracemalloc_peak_mib": peak / 2**20,
        "db_mib": db,
    }


class _Receiver:
    def __init__(self, secret: str) -> None:
        port = _free_port()
        self.process = subprocess.Popen([sys.executable, "-c", RECEIVER, secret, str(port)])
        self.url = f"http://127.0.0.1:{port}"
        for _ in range(400):
            try:
                httpx.get(self.url, trust_env=False)
                return
            except httpx.ConnectError:
                time.sleep(0.05)
        raise RuntimeError("the receiver did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def suite(quick: bool) -> list[Figure]:
    n, rounds, total = (2_000, 3, 20_000) if quick else (5_000, 5, 100_000)
    secret = generate_secret()
    receiver = _Receiver(secret)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            runs = iter(range(10**6))

            def rate(kind: str) -> Callable[[], float]:
                def run() -> float:
                    if kind == "emitter":
                        db = Path(tmp) / f"emit-{next(runs)}.db"
                        return asyncio.run(emitter(receiver.url, secret, n, db))
                    if kind == "aiohttp":
                        return asyncio.run(baseline_aiohttp(receiver.url, secret, n))
                    if kind == "aiohttp workers":
                        return asyncio.run(baseline_aiohttp_workers(receiver.url, secret, n))
                    return asyncio.run(baseline(receiver.url, secret, n))

                return run

            kinds = ("aiohttp", "aiohttp workers", "emitter", "httpx")
            samples = interleaved({k: rate(k) for k in kinds}, rounds=rounds)
        # The limit of a round is the faster of the two plain aiohttp forms in it.
        samples["best aiohttp"] = [
            max(pair) for pair in zip(samples["aiohttp"], samples["aiohttp workers"], strict=True)
        ]
        memory = in_fresh_process(
            [__file__, "_backlog", receiver.url, secret, str(total)], timeout=1800
        )
    finally:
        receiver.stop()
    title = f"{n:,} deliveries to {SUBSCRIPTIONS} subscriptions, concurrency {CONCURRENCY}"
    backlog_title = f"backlog of {total:,} queued deliveries (own process)"
    return [
        Figure(
            "delivery",
            f"{title}: emitter (SQLite) / plain aiohttp (the faster form), deliveries/s",
            ratios(samples, "emitter", "best aiohttp"),
            0.8,
            bound="min",
        ),
        Figure(
            "delivery",
            f"{title}: plain aiohttp, workers / a task per request, deliveries/s",
            ratios(samples, "aiohttp workers", "aiohttp"),
        ),
        Figure(
            "delivery",
            f"{title}: plain httpx / plain aiohttp (the faster form), deliveries/s",
            ratios(samples, "httpx", "best aiohttp"),
        ),
        Figure(
            "delivery",
            f"{title}: plain aiohttp (the faster form)",
            samples["best aiohttp"],
            unit="/s",
        ),
        Figure("delivery", f"{title}: emitter", samples["emitter"], unit="/s"),
        Figure("delivery", f"{backlog_title}: peak RSS", [memory["peak_mib"]], unit="MiB"),
        Figure(
            "delivery",
            f"{backlog_title}: tracemalloc peak while delivering",
            [memory["tracemalloc_peak_mib"]],
            unit="MiB",
        ),
        Figure("delivery", f"{backlog_title}: SQLite incl. WAL", [memory["db_mib"]], unit="MiB"),
        Figure("delivery", f"{backlog_title}: enqueue", [memory["enqueue_per_s"]], unit="/s"),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "_backlog":
        with tempfile.TemporaryDirectory() as tmp:
            figures = asyncio.run(
                backlog(sys.argv[2], sys.argv[3], int(sys.argv[4]), Path(tmp) / "backlog.db")
            )
        print(json.dumps(figures))
    else:
        render(suite("--quick" in sys.argv), title="delivery")
