"""Several emitters on one PostgreSQL store, measured side by side in one run (by hand).

    .venv/bin/python benchmarks/bench_replicas.py [--deliveries 3000] [--rounds 3] [--batches 40]

Needs the PostgreSQL binaries (``initdb``, ``pg_ctl``); a throwaway server is started in a
temporary folder on 127.0.0.1 and removed afterwards (as the tests do).

1. **Store backends**: deliveries per second to 10 local endpoints (a verifying receiver in
   its own process) by one deliverer, SQLite against PostgreSQL, interleaved rounds, medians,
   and the ratio PostgreSQL / SQLite.
2. **Replicas**: the same deliveries shared by 1, 2 and 4 deliverer processes on PostgreSQL
   (each process has its own event loop and connection pool; they lease disjoint batches with
   ``FOR UPDATE SKIP LOCKED``).
3. **Latency**: 3 ``connector emit --interval 1`` replicas on PostgreSQL poll a sandbox whose
   batches end on their own; for each batch, the time from its ``ended_at`` to the webhook's
   arrival, p50 and p99 (target: p99 <= interval + 200 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import anyio
import httpx
from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from postgres_support import start_postgres

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
import sys, time, anyio
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
            while store.count_deliveries("delivered") < total:
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
            while store.count_deliveries("delivered") < n:
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
            time.sleep(3.0)  # imports and the baseline
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


async def main(args: argparse.Namespace) -> None:
    os.environ["CONNECTOR_STATE_KEY"] = Fernet.generate_key().decode()
    server = start_postgres()
    secret = generate_secret()
    port = _free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, secret, str(port)])
    url = f"http://127.0.0.1:{port}"
    n = args.deliveries
    try:
        for _ in range(200):
            try:
                httpx.get(url, trust_env=False)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        sqlite_rates, pg_rates = [], []
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(args.rounds):
                with SQLiteStore(Path(tmp) / f"s{round_}.db", guard=Guard(allow_private=True)) as s:
                    _fill(s, url, secret, n)
                    sqlite_rates.append(await _deliver(s, n))
                dsn = server.database()
                with SQLStore(PostgresDatabase(dsn), guard=Guard(allow_private=True)) as p:
                    _fill(p, url, secret, n)
                    pg_rates.append(await _deliver(p, n))
            sqlite, pg = statistics.median(sqlite_rates), statistics.median(pg_rates)
            print(
                f"deliveries            : {n} to {SUBSCRIPTIONS} subscriptions, {args.rounds} rounds"
            )
            print(f"one deliverer, SQLite : {sqlite:8.0f} /s (median)")
            print(
                f"one deliverer, PG     : {pg:8.0f} /s (median); PostgreSQL/SQLite = {pg / sqlite:.2f}"
            )
            for count in (1, 2, 4):
                rates = []
                for _ in range(args.rounds):
                    dsn = server.database()
                    with SQLStore(PostgresDatabase(dsn), guard=Guard(allow_private=True)) as p:
                        _fill(p, url, secret, n)
                    rates.append(_replicas(dsn, count, n))
                print(
                    f"{count} replica process(es) on PG: {statistics.median(rates):8.0f} /s (median)"
                )
            lags = sorted(_latency(server.database(), args.interval, args.batches, Path(tmp)))
            if lags:
                p50 = lags[len(lags) // 2]
                p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
                print(
                    f"batch end -> webhook, 3 replicas, interval {args.interval:g} s: "
                    f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms over {len(lags)} batches "
                    f"(target p99 <= {args.interval * 1000 + 200:.0f} ms)"
                )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--interval", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))
