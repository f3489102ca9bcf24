"""Service benchmark: a call through ``connector serve`` vs the same call in process.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/bench_service.py            # full size
    .venv/bin/python benchmarks/bench_service.py --quick    # small numbers, a smoke run
    .venv/bin/python benchmarks/run.py --only service       # in the table of every benchmark

(a) ``message_batches.read`` at concurrency 32: ``AsyncConnector.call`` in this process
    against the sandbox, vs ``POST /v1/connections/{c}/resources/message_batches/operations/read``
    to the service (``connector serve``, its own process) which makes the same call. The
    sandbox runs in its own process too. Rounds are interleaved; medians of the wall times.
(b) pulling 10,000 records (10 pages of 1,000): ``AsyncConnector.iterate`` vs the service's
    NDJSON stream of the same list, read line by line. The pages come from a tiny static app
    (its own process) so that the upstream's rendering is not what is measured.

Target: (a) ≤ 1.3 × the in-process call. (b) is reported (records/s and the ratio).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from harness import Figure, ratios, render, rotations

ROOT = Path(__file__).resolve().parent.parent
DEFINITION_PATH = ROOT / "definitions" / "claude-api.json"
KEY = "sk-bench-not-a-secret"
MODEL = "claude-sonnet-4-5"
CONCURRENCY = 32
RECORDS = 10_000
LATENCY = 0.100


def _static_app(count: int) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    batch = {
        "type": "message_batch",
        "processing_status": "ended",
        "request_counts": {
            "processing": 0,
            "succeeded": 1,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        },
        "ended_at": "2025-01-01T00:01:00Z",
        "created_at": "2025-01-01T00:00:00Z",
        "expires_at": "2025-01-02T00:00:00Z",
        "cancel_initiated_at": None,
        "results_url": None,
    }
    items = [{**batch, "id": f"msgbatch_{i:06d}"} for i in range(count)]
    index = {item["id"]: n for n, item in enumerate(items)}

    async def listing(request: Request) -> Response:
        limit = int(request.query_params.get("limit", "20"))
        after = request.query_params.get("after_id")
        start = index[after] + 1 if after else 0
        page = items[start : start + limit]
        body = {
            "data": page,
            "has_more": start + limit < count,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
        return Response(json.dumps(body), media_type="application/json")

    return Starlette(routes=[Route("/v1/messages/batches", listing)])


def serve(kind: str) -> None:
    """Child process: serve until stdin closes; print the base URL first."""
    from connector.sandbox import SandboxServer
    from connector.sandbox.faults import FaultPlan, FaultRule

    if kind == "sandbox":
        server = SandboxServer(batch_seconds=3600)
    elif kind == "remote":  # a sandbox 100 ms away: about what a real API answers in
        plan = FaultPlan(rules=[FaultRule(route="*", latency=LATENCY)])
        server = SandboxServer(batch_seconds=3600, faults=plan)
    else:
        server = SandboxServer(app=_static_app(RECORDS))
    with server:
        print(server.base_url, flush=True)
        sys.stdin.read()


class Child:
    """A server subprocess; ``base_url`` once it listens."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "_serve", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"server did not start: {self.base_url!r}")

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


class Service:
    """``connector serve`` in its own process, with a token and one connection per upstream."""

    def __init__(self, state: Path) -> None:
        def cli(*args: str) -> str:
            done = subprocess.run(
                [sys.executable, "-m", "connector", "--state", str(state), *args],
                capture_output=True,
                text=True,
                check=True,
            )
            return done.stdout.strip()

        self.token = cli("tokens", "add", "bench")
        self.process = subprocess.Popen(
            [
                *(sys.executable, "-m", "connector", "--state", str(state), "serve"),
                *("--port", "0", "--allow-private-upstreams"),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        line = self.process.stderr.readline()
        self.base_url = line.split()[2]
        self.headers = {"authorization": f"Bearer {self.token}"}

    def connect(self, name: str, base_url: str) -> str:
        answer = httpx.post(
            self.base_url + "/v1/connections",
            headers=self.headers,
            json={
                "name": name,
                "definition": "claude-api",
                "base_url": base_url,
                "credentials": {"type": "api_key", "api_key": KEY},
            },
        )
        answer.raise_for_status()
        return str(answer.json()["id"])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


async def _many(calls: int, one: Any) -> float:
    queue = iter(range(calls))

    async def worker() -> None:
        for _ in queue:
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def bench_calls(
    sandbox: str, service: Service, connection: str, calls: int, rounds: int
) -> dict[str, list[float]]:
    """Wall seconds for ``calls`` reads at concurrency 32, per round, each way (rotated)."""
    from connector import AsyncConnector

    # Idle connections are dropped before uvicorn's 5 s keep-alive would close them under us
    # (a round of the other variant can take that long on a loaded machine).
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, keepalive_expiry=2.0)
    async with (
        AsyncConnector(
            DEFINITION_PATH,
            base_url=sandbox,
            api_key=KEY,
            http_client=httpx.AsyncClient(limits=limits),
        ) as api,
        httpx.AsyncClient(
            base_url=service.base_url, headers=service.headers, limits=limits
        ) as client,
    ):
        batch = await api.call(
            "message_batches",
            "create",
            {"custom_id": "a", "model": MODEL, "max_tokens": 8, "content": "x"},
        )
        params = {"batch_id": batch["id"]}
        path = f"/v1/connections/{connection}/resources/message_batches/operations/read"

        async def direct() -> None:
            await api.call("message_batches", "read", params)

        async def through() -> None:
            answer = await client.post(path, json=params)
            assert answer.status_code == 200, answer.text

        variants = {"direct": direct, "service": through}
        for one in variants.values():  # warm-up
            await _many(100, one)
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for order in rotations(list(variants), rounds):
            for name in order:
                samples[name].append(await _many(calls, variants[name]))
    return samples


async def bench_pull(
    static: str, service: Service, connection: str, rounds: int
) -> dict[str, list[float]]:
    """Wall seconds to read the 10,000 records, per round, each way (rotated)."""
    from connector import AsyncConnector

    path = f"/v1/connections/{connection}/resources/message_batches/operations/list"
    async with (
        AsyncConnector(DEFINITION_PATH, base_url=static, api_key=KEY) as api,
        httpx.AsyncClient(
            base_url=service.base_url,
            headers=service.headers,
            timeout=120,
            limits=httpx.Limits(keepalive_expiry=2.0),
        ) as client,
    ):

        async def direct() -> int:
            return sum([1 async for _ in api.iterate("message_batches", "list", {"limit": 1000})])

        async def through() -> int:
            count = 0
            async with client.stream("POST", path, json={"limit": 1000}) as answer:
                async for line in answer.aiter_lines():
                    if line:
                        json.loads(line)
                        count += 1
            return count

        variants = {"direct": direct, "service": through}
        for run in variants.values():  # warm-up
            assert await run() == RECORDS
        samples: dict[str, list[float]] = {name: [] for name in variants}
        for order in rotations(list(variants), rounds):
            for name in order:
                started = time.perf_counter()
                assert await variants[name]() == RECORDS
                samples[name].append(time.perf_counter() - started)
    return samples


def suite(quick: bool) -> list[Figure]:
    calls, rounds = (300, 3) if quick else (2000, 5)
    sandbox, remote, static = Child("sandbox"), Child("remote"), Child("static")
    with tempfile.TemporaryDirectory() as tmp:
        service = Service(Path(tmp) / "state.db")
        try:
            calls_conn = service.connect("sandbox", sandbox.base_url)
            remote_conn = service.connect("remote", remote.base_url)
            pull_conn = service.connect("static", static.base_url)
            a = asyncio.run(bench_calls(sandbox.base_url, service, calls_conn, calls, rounds))
            r = asyncio.run(bench_calls(remote.base_url, service, remote_conn, calls, rounds))
            b = asyncio.run(bench_pull(static.base_url, service, pull_conn, rounds))
        finally:
            service.stop()
            for child in (sandbox, remote, static):
                child.stop()
    rate = statistics.median(calls / t for t in a["service"])
    pull_rate = statistics.median(RECORDS / t for t in b["service"])
    return [
        Figure(
            "service",
            f"call via service / AsyncConnector, c={CONCURRENCY}, loopback",
            ratios(a, "service", "direct"),
            target=1.3,
            note=f"{rate:.0f} calls/s through the service; CPU-bound: 3 processes on the cores",
        ),
        Figure(
            "service",
            f"call via service / AsyncConnector, c={CONCURRENCY}, API {LATENCY * 1000:.0f} ms away",
            ratios(r, "service", "direct"),
            target=1.3,
        ),
        Figure(
            "service",
            f"pull {RECORDS:,} records: service NDJSON / AsyncConnector.iterate",
            ratios(b, "service", "direct"),
            note=f"{pull_rate:,.0f} records/s through the service",
        ),
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2])
    else:
        render(suite("--quick" in sys.argv), title="service")
