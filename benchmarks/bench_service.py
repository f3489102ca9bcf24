"""Service benchmark: a call through ``connector serve`` vs the same call in process.

Run by hand (not in CI)::

    .venv/bin/python benchmarks/bench_service.py            # full size
    .venv/bin/python benchmarks/bench_service.py --quick    # small numbers, a smoke run

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

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
DEFINITION_PATH = ROOT / "definitions" / "claude-api.json"
KEY = "sk-bench-not-a-secret"
MODEL = "claude-sonnet-4-5"
CONCURRENCY = 32
RECORDS = 10_000
LATENCY = 0.020


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
    elif kind == "remote":  # a sandbox 20 ms away: what a real API's latency looks like
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
                [sys.executable, "-m", "connector.cli", "--state", str(state), *args],
                capture_output=True,
                text=True,
                check=True,
            )
            return done.stdout.strip()

        self.token = cli("tokens", "add", "bench")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "connector.cli", "--state", str(state), "serve", "--port", "0"],
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
) -> dict[str, float]:
    from connector import AsyncConnector

    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
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

        await _many(100, direct)
        await _many(100, through)
        times: dict[str, list[float]] = {"direct": [], "service": []}
        for _ in range(rounds):
            times["direct"].append(await _many(calls, direct))
            times["service"].append(await _many(calls, through))
    return {name: statistics.median(values) for name, values in times.items()}


async def bench_pull(
    static: str, service: Service, connection: str, rounds: int
) -> dict[str, float]:
    from connector import AsyncConnector

    path = f"/v1/connections/{connection}/resources/message_batches/operations/list"
    async with (
        AsyncConnector(DEFINITION_PATH, base_url=static, api_key=KEY) as api,
        httpx.AsyncClient(
            base_url=service.base_url, headers=service.headers, timeout=120
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

        times: dict[str, list[float]] = {"direct": [], "service": []}
        for _ in range(rounds):
            for name, run in (("direct", direct), ("service", through)):
                started = time.perf_counter()
                assert await run() == RECORDS
                times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    calls, rounds = (300, 3) if args.quick else (2000, 5)
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
    for title, found in (("on loopback (CPU-bound)", a), (f"{LATENCY * 1000:.0f} ms away", r)):
        ratio = found["service"] / found["direct"]
        print(
            f"(a) {calls} message_batches.read at concurrency {CONCURRENCY}, upstream {title}, median of {rounds}:"
        )
        print(
            f"    AsyncConnector in process {found['direct']:.3f} s ({calls / found['direct']:.0f} calls/s)"
        )
        print(
            f"    through the service       {found['service']:.3f} s ({calls / found['service']:.0f} calls/s)"
        )
        print(f"    ratio {ratio:.2f}x (target <= 1.3x){'' if ratio <= 1.3 else '  MISSED'}")
    pull = b["service"] / b["direct"]
    print(f"(b) pull of {RECORDS} records (10 pages of 1,000), median of {rounds}:")
    print(
        f"    AsyncConnector.iterate    {b['direct']:.3f} s ({RECORDS / b['direct']:.0f} records/s)"
    )
    print(
        f"    service NDJSON stream     {b['service']:.3f} s ({RECORDS / b['service']:.0f} records/s)"
    )
    print(f"    ratio {pull:.2f}x")
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2])
    else:
        main()
