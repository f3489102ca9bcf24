"""Delivery throughput and backlog memory, measured side by side in one run (by hand).

    .venv/bin/python benchmarks/bench_delivery.py [--deliveries 5000] [--backlog 100000]

1. A verifying receiver (``connector.receiver`` under uvicorn) runs in its own process on
   127.0.0.1.
2. Baselines: plain ``httpx.AsyncClient`` and plain ``aiohttp`` POSTs of the same bodies with
   the same headers precomputed, at the same concurrency (aiohttp is the emitter's client, so
   emitter/aiohttp is what durability, signing and the guard cost).
3. Emitter: 10 subscriptions in a durable SQLite store; ``Deliverer.run_forever`` leases,
   signs, sends and records each delivery until all are delivered.
4. Backlog: 100,000 queued deliveries (10,000 events x 10 subscriptions); RSS and the
   tracemalloc peak while the deliverer works through the first batches.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import aiohttp
import anyio
import httpx

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


def _rss_mb() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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


async def emitter(url: str, secret: str, n: int, path: Path) -> float:
    with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
        for _ in range(SUBSCRIPTIONS):
            store.add_subscription(url, secret=secret)
        store.commit_poll("files", {}, [], _events(n // SUBSCRIPTIONS), baseline=True)
        stop = anyio.Event()
        async with Deliverer(store, guard=Guard(allow_private=True), concurrency=CONCURRENCY) as d:
            started = time.perf_counter()
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: d.run_forever(stop, idle=0.01))
                while store.count_deliveries("delivered") < n:
                    await anyio.sleep(0.05)
                elapsed = time.perf_counter() - started
                stop.set()
        assert store.count_deliveries("failed") == 0
    return n / elapsed


async def backlog(url: str, secret: str, total: int, path: Path) -> dict[str, float]:
    rss_before = _rss_mb()
    with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
        for _ in range(SUBSCRIPTIONS):
            store.add_subscription(url, secret=secret)
        started = time.perf_counter()
        step = min(5000, total // SUBSCRIPTIONS)
        for offset in range(0, total // SUBSCRIPTIONS, step):
            store.commit_poll("files", {}, [], _events(step, offset), baseline=True)
        enqueue = total / (time.perf_counter() - started)
        assert store.count_deliveries("pending") == total
        rss_queued = _rss_mb()
        tracemalloc.start()
        stop = anyio.Event()
        async with Deliverer(store, guard=Guard(allow_private=True), concurrency=CONCURRENCY) as d:
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: d.run_forever(stop, idle=0.01))
                while store.count_deliveries("delivered") < 10_000:
                    await anyio.sleep(0.1)
                stop.set()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss_working = _rss_mb()
    return {
        "enqueue_per_s": enqueue,
        "rss_before_mb": rss_before,
        "rss_queued_mb": rss_queued,
        "rss_working_mb": rss_working,
        "tracemalloc_peak_mb": peak / 1e6,
        "db_mb": os.path.getsize(path) / 1e6,
    }


async def main(args: argparse.Namespace) -> None:
    secret = generate_secret()
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, secret, str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(url, trust_env=False)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        with tempfile.TemporaryDirectory() as tmp:
            n = args.deliveries
            cpu = time.process_time()
            base = await baseline(url, secret, n)
            base_cpu, cpu = (time.process_time() - cpu) / n * 1000, time.process_time()
            aio = await baseline_aiohttp(url, secret, n)
            aio_cpu, cpu = (time.process_time() - cpu) / n * 1000, time.process_time()
            emit = await emitter(url, secret, n, Path(tmp) / "emit.db")
            emit_cpu = (time.process_time() - cpu) / n * 1000
            print(
                f"deliveries           : {n} to {SUBSCRIPTIONS} subscriptions, concurrency {CONCURRENCY}"
            )
            print(f"plain httpx POSTs    : {base:8.0f} /s   {base_cpu:.2f} ms CPU each")
            print(f"plain aiohttp POSTs  : {aio:8.0f} /s   {aio_cpu:.2f} ms CPU each")
            print(
                f"emitter (SQLite, WAL): {emit:8.0f} /s   {emit_cpu:.2f} ms CPU each;"
                f" emitter/httpx = {emit / base:.2f}, emitter/aiohttp = {emit / aio:.2f}"
            )
            mem = await backlog(url, secret, args.backlog, Path(tmp) / "backlog.db")
            print(f"backlog              : {args.backlog} queued deliveries")
            print(f"  enqueue rate       : {mem['enqueue_per_s']:8.0f} deliveries/s")
            print(
                f"  RSS before / queued / while delivering: {mem['rss_before_mb']:.1f} / "
                f"{mem['rss_queued_mb']:.1f} / {mem['rss_working_mb']:.1f} MB"
            )
            print(
                f"  tracemalloc peak while delivering 10,000 of them: {mem['tracemalloc_peak_mb']:.1f} MB"
            )
            print(f"  SQLite file        : {mem['db_mb']:.1f} MB")
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--backlog", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
