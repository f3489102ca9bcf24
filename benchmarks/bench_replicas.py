"""Several emitters on one PostgreSQL store, on the harness (issue 11, item 7).

    python benchmarks/bench_replicas.py [--quick]     # or benchmarks/run.py --only replicas

Needs the PostgreSQL binaries (``initdb``, ``pg_ctl``); a throwaway server is started in a
temporary folder on 127.0.0.1 and removed afterwards (as the tests do). Without them the
suite reports one "not installed" row, like any missing baseline.

1. **Store backends**: deliveries per second to 10 local endpoints (a verifying receiver in
   its own process) by one deliverer, SQLite against PostgreSQL, a fresh store every round,
   interleaved rounds in rotating order; the figure is the per-round ratio PostgreSQL /
   SQLite. Target: >= 0.7.
2. **Replicas**: the same deliveries shared by 1, 2 and 4 deliverer processes on PostgreSQL
   (each process has its own event loop and connection pool; they lease disjoint batches with
   ``FOR UPDATE SKIP LOCKED``), interleaved the same way; reported, no target (on 2 cores the
   replicas, the receiver and the server share the CPU).
3. **Latency**: 3 ``connector emit --interval 1`` replicas on PostgreSQL poll a sandbox whose
   batches end on their own; for each batch, the time from its ``ended_at`` to the webhook's
   arrival, p99 with p50 noted (target: p99 <= interval + 200 ms).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import anyio
import httpx
from cryptography.fernet import Fernet
from harness import Figure, interleaved, ratios, render

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from postgres_support import postgres_binaries, start_postgres

from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.postgres_database import PostgresDatabase
from connector.emitter.signing import generate_secret
from connector.emitter.sql_store import SQLStore
from connector.emitter.store import Store, build_event
from connector.emitter.store_sqlite import SQLiteStore

SUBSCRIPTIONS = 10
RECEIVER = """
import sys, uvicorn
from connector.receiver import create_receiver_app
app = create_receiver_app(sys.argv[1], handlers={"*": lambda e: None})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error",
            access_log=False, lifespan="off")
"""
REPLICA = """
import sys, time, anyio, anyio.to_thread
from connector.emitter.delivery import Deliverer
from connector.emitter.guard import Guard
from connector.emitter.backends import open_store
store = open_store(sys.argv[1], guard=Guard(allow_private=True))
total = int(sys.argv[2])
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
async def main():
    stop = anyio.Event()
    async with Deliverer(store, guard=Guard(allow_private=True)) as d:
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: d.run_forever(stop, idle=0.01))
            while await anyio.to_thread.run_sync(store.count_deliveries, "delivered") < total:
                await anyio.sleep(0.02)
            stop.set()
anyio.run(main)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fill(store: Store, url: str, secret: str, n: int) -> None:
    for _ in range(SUBSCRIPTIONS):
        store.add_subscription(url, secret=secret)
    now = time.time()
    events = [
        build_event(
            "files.created",
            resource="files",
            record_id=f"file_{i:08d}",
            marker="created",
            data={"id": f"file_{i:08d}", "filename": "report.pdf", "size_bytes": 12345},
            timestamp=now,
            path="/webhooks/claude-api/files.created",
            created_at=now,
        )
        for i in range(n // SUBSCRIPTIONS)
    ]
    store.commit_poll("files", {}, [], events, baseline=True)


async def _deliver(store: Store, n: int) -> float:
    stop = anyio.Event()
    async with Deliverer(store, guard=Guard(allow_private=True)) as deliverer:
        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            group.start_soon(lambda: deliverer.run_forever(stop, idle=0.01))
            # Counted in a worker thread, never on the deliverer's event loop.
            while await anyio.to_thread.run_sync(store.count_deliveries, "delivered") < n:
                await anyio.sleep(0.02)
            elapsed = time.perf_counter() - started
            stop.set()
    return n / elapsed


def _replicas(dsn: str, count: int, n: int) -> float:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, dsn, str(n)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        process.wait(timeout=600)
    return n / (time.perf_counter() - started)


def _latency(server_dsn: str, interval: float, batches: int, folder: Path) -> list[float]:
    from emitter_support import DEFINITION, MODEL, Delivery, recording_receiver

    from connector.client import Connector
    from connector.sandbox import SandboxServer

    secret = generate_secret()
    received: list[Delivery] = []
    arrivals: dict[str, float] = {}
    with (
        SandboxServer(batch_seconds=1.3) as sandbox,
        SandboxServer(app=recording_receiver({"a": secret}, received)) as receiver,
        Connector(DEFINITION, base_url=sandbox.base_url, api_key="k") as api,
    ):
        with SQLStore(PostgresDatabase(server_dsn), guard=Guard(allow_private=True)) as store:
            store.add_subscription(f"{receiver.base_url}/a", ["message_batches.ended"], secret)
        command = [
            sys.executable,
            "-m",
            "connector",
            "--base-url",
            sandbox.base_url,
            "--api-key",
            "k",
            "--state",
            server_dsn,
            "emit",
            "--allow-private",
            "--interval",
            str(interval),
            "--resource",
            "message_batches",
        ]
        replicas = [
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(3)
        ]
        try:
            # The batches must come after the first poll's baseline, else they are part of it
            # (and fire nothing): wait for it, however long a loaded machine takes to start.
            deadline = time.monotonic() + 120
            with SQLStore(PostgresDatabase(server_dsn), guard=Guard(allow_private=True)) as store:
                while store.load_snapshot("message_batches") is None:
                    if time.monotonic() > deadline or any(r.poll() is not None for r in replicas):
                        raise RuntimeError("the emit replicas took no baseline")
                    time.sleep(0.1)
            ids = []
            for n in range(batches):
                batch = api.call(
                    "message_batches",
                    "create",
                    {"custom_id": f"r{n}", "model": MODEL, "max_tokens": 8, "content": "hi"},
                    raw=True,
                )
                ids.append(batch["id"])
                time.sleep(0.1)
            deadline = time.monotonic() + 60
            while len(received) < batches and time.monotonic() < deadline:
                for delivery in received[len(arrivals) :]:
                    arrivals[json.loads(delivery.body)["data"]["id"]] = time.time()
                time.sleep(0.005)
            for delivery in received[len(arrivals) :]:
                arrivals[json.loads(delivery.body)["data"]["id"]] = time.time()
            lags = []
            for batch_id in ids:
                ended = api.call("message_batches", "read", {"batch_id": batch_id}, raw=True)
                ended_at = datetime.fromisoformat(ended["ended_at"].replace("Z", "+00:00"))
                if batch_id in arrivals:
                    lags.append(arrivals[batch_id] - ended_at.timestamp())
            return lags
        finally:
            for replica in replicas:
                replica.terminate()
            for replica in replicas:
                replica.wait(timeout=30)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def suite(quick: bool) -> list[Figure]:
    n, rounds, batches = (1_500, 2, 12) if quick else (3_000, 3, 40)
    interval = 1.0
    if postgres_binaries() is None:
        return [
            Figure(
                "replicas",
                "PostgreSQL store and replicas",
                note="PostgreSQL (initdb, pg_ctl) not installed",
            )
        ]
    os.environ.setdefault("CONNECTOR_STATE_KEY", Fernet.generate_key().decode())
    server = start_postgres()
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
            runs = iter(range(10**6))

            def sqlite() -> float:
                path = Path(tmp) / f"s{next(runs)}.db"
                with SQLiteStore(path, guard=Guard(allow_private=True)) as store:
                    _fill(store, url, secret, n)
                    return anyio.run(_deliver, store, n)

            def postgres() -> float:
                with SQLStore(
                    PostgresDatabase(server.database()), guard=Guard(allow_private=True)
                ) as store:
                    _fill(store, url, secret, n)
                    return anyio.run(_deliver, store, n)

            def replicas(count: int) -> float:
                dsn = server.database()
                with SQLStore(PostgresDatabase(dsn), guard=Guard(allow_private=True)) as store:
                    _fill(store, url, secret, n)
                return _replicas(dsn, count, n)

            backends = interleaved({"sqlite": sqlite, "postgres": postgres}, rounds=rounds)
            processes = interleaved(
                {str(c): (lambda c=c: replicas(c)) for c in (1, 2, 4)}, rounds=rounds, warmup=False
            )
            lags = _latency(server.database(), interval, batches, Path(tmp))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        server.stop()
    title = f"{n:,} deliveries to {SUBSCRIPTIONS} subscriptions"
    figures = [
        Figure(
            "replicas",
            f"{title}, one deliverer: PostgreSQL / SQLite, deliveries/s",
            ratios(backends, "postgres", "sqlite"),
            0.7,
            bound="min",
        ),
        Figure("replicas", f"{title}, one deliverer: SQLite", backends["sqlite"], unit="/s"),
        Figure("replicas", f"{title}, one deliverer: PostgreSQL", backends["postgres"], unit="/s"),
    ]
    figures += [
        Figure(
            "replicas",
            f"{title}: {count} deliverer process(es) on PostgreSQL",
            processes[count],
            unit="/s",
        )
        for count in ("1", "2", "4")
    ]
    figures.append(
        Figure(
            "replicas",
            f"batch end -> webhook, 3 emit replicas on PostgreSQL, p99 of {len(lags)}"
            f" (poll every {interval:g} s)",
            [_pct(lags, 0.99) * 1000] if lags else [],
            (interval + 0.2) * 1000,
            unit="ms",
            note=f"p50 {_pct(lags, 0.5) * 1000:.0f} ms" if lags else "no webhook arrived",
        )
    )
    return figures


if __name__ == "__main__":
    render(suite("--quick" in sys.argv), title="replicas")
