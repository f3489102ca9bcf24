"""The emitter's detection side, on the harness (issue 11, item 7).

    python benchmarks/bench_emitter.py [--quick]     # or benchmarks/run.py --only emitter

1. Latency: a sandbox on a real socket (batches end 0.5 s after creation), a verifying
   ``connector.receiver`` on another, and ``Emitter.run`` polling every ``--interval``
   seconds. For each batch: the webhook's arrival minus the batch's own ``ended_at``.
   Target: p99 <= interval + 100 ms.
2. Poll cost: 10,000 ended batches seeded into the sandbox state plus 10 in progress; HTTP
   requests per poll cycle after the baseline, for ``message_batches`` and for the whole
   emitter (one request per other resource), against a complete listing at the same page
   size (1,000, the honest comparison) and at the API's default (20, shown only as such).
   Target: <= 3 for the batches. At 1k, 10k and 100k history (quick: 1k and 10k); the
   sandbox lists in O(page), so 100k completes in minutes.
3. Deliveries per second and backlog memory: ``benchmarks/bench_delivery.py``.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import anyio
import httpx
from harness import Figure, render

from connector.client import AsyncConnector
from connector.config import bundled_definition_path
from connector.definitions import load_definition
from connector.emitter.guard import Guard
from connector.emitter.poller import Poller
from connector.emitter.service import Emitter
from connector.emitter.signing import generate_secret
from connector.emitter.store_sqlite import SQLiteStore
from connector.receiver import ReceivedEvent, create_receiver_app
from connector.sandbox import SandboxServer, create_app

DEFINITION = load_definition(bundled_definition_path())
MODEL = "claude-opus-4-5"


def _parse(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


async def latency(interval: float, count: int) -> list[float]:
    """Seconds from each batch's ``ended_at`` to its webhook's arrival."""
    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    def arrived(event: ReceivedEvent) -> None:
        with lock:
            arrivals[event.data["id"]] = time.time()

    secret = generate_secret()
    receiver_app = create_receiver_app(secret, handlers={"message_batches.ended": arrived})
    with (
        SandboxServer(batch_seconds=0.5) as sandbox,
        SandboxServer(app=receiver_app) as receiver,
        tempfile.TemporaryDirectory() as tmp,
        SQLiteStore(Path(tmp) / "state.db", guard=Guard(allow_private=True)) as store,
    ):
        store.add_subscription(receiver.base_url + "/", ["message_batches.ended"], secret)
        api = AsyncConnector(DEFINITION, base_url=sandbox.base_url, api_key="k")
        async with api, Emitter(api, store, guard=Guard(allow_private=True)) as emitter:
            await emitter.poll()
            stop = anyio.Event()
            ended: dict[str, float] = {}
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: emitter.run(stop, interval=interval))
                ids = []
                for index in range(count):
                    batch = await api.call(
                        "message_batches",
                        "create",
                        {
                            "custom_id": f"b{index}",
                            "model": MODEL,
                            "max_tokens": 8,
                            "content": "hi",
                        },
                        raw=True,
                    )
                    ids.append(batch["id"])
                    await anyio.sleep(interval * 0.37)  # spread the ends over the poll phase
                with anyio.fail_after(30 + interval * 3):
                    while len(arrivals) < count:
                        await anyio.sleep(0.02)
                stop.set()
            for batch_id in ids:
                view = await api.call("message_batches", "read", {"batch_id": batch_id}, raw=True)
                ended[batch_id] = _parse(view["ended_at"])
    return sorted(arrivals[b] - ended[b] for b in ended)


class Counting(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)


async def poll_cost(history: int) -> dict[str, float]:
    """Requests per cycle over a long batch history, the emitter's and a complete listing's."""
    app = create_app(batch_seconds=3600)
    state = app.state.sandbox
    start = time.time() - 3 * 86400
    request = [{"custom_id": "r", "params": {"model": MODEL, "max_tokens": 8, "messages": []}}]
    for index in range(history):
        state.add_batch(request, created_at=datetime.fromtimestamp(start + index, UTC))
    transport = Counting(httpx.ASGITransport(app=app))
    api = AsyncConnector(
        DEFINITION, base_url="http://sandbox.test", api_key="k", transport=transport
    )
    with tempfile.TemporaryDirectory() as tmp, SQLiteStore(Path(tmp) / "s.db") as store:
        async with api:
            for index in range(10):
                await api.call(
                    "message_batches",
                    "create",
                    {"custom_id": f"r{index}", "model": MODEL, "max_tokens": 8, "content": "x"},
                    raw=True,
                )
            emitter = Emitter(api, store, guard=Guard(allow_private=True))
            began = time.perf_counter()
            await emitter.poll()
            baseline_s = time.perf_counter() - began
            transport.paths.clear()
            cycles = 5
            began = time.perf_counter()
            for _ in range(cycles):
                await emitter.poll()
            cycle_s = (time.perf_counter() - began) / cycles
            total = len(transport.paths) / cycles
            batches = sum(p == "/v1/messages/batches" for p in transport.paths) / cycles
            await emitter.aclose()
            complete = {}
            for size in (1000, None):
                transport.paths.clear()
                with SQLiteStore(Path(tmp) / f"full{size}.db") as fresh:
                    await Poller(api, fresh, "message_batches", page_size=size).poll()
                complete[size] = len(transport.paths)
    return {
        "batches": batches,
        "total": total,
        "complete_1000": complete[1000],
        "complete_20": complete[None],
        "baseline_s": baseline_s,
        "cycle_ms": cycle_s * 1000,
    }


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def suite(quick: bool) -> list[Figure]:
    interval, batches = (1.0, 12) if quick else (1.0, 40)
    histories = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    lat = anyio.run(latency, interval, batches)
    figures = [
        Figure(
            "emitter",
            f"latency, batch ended -> webhook arrived, p99 of {len(lat)} (poll every {interval:g} s)",
            [_pct(lat, 0.99) * 1000],
            (interval + 0.1) * 1000,
            unit="ms",
            note=f"p50 {_pct(lat, 0.5) * 1000:.0f} ms",
        )
    ]
    for history in histories:
        cost = anyio.run(poll_cost, history)
        where = f"poll over {history:,} ended batches + 10 in progress"
        figures += [
            Figure(
                "emitter", f"{where}: batch requests per cycle", [cost["batches"]], 3.0, unit=""
            ),
            Figure(
                "emitter",
                f"{where}: a complete listing at limit=1000 / the emitter's requests",
                [cost["complete_1000"] / cost["batches"]],
                note=f"at the default limit=20: {cost['complete_20']} requests",
            ),
            Figure("emitter", f"{where}: one cycle", [cost["cycle_ms"]], unit="ms"),
        ]
    return figures


if __name__ == "__main__":
    render(suite("--quick" in sys.argv), title="emitter")
