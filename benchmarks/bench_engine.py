"""Engine benchmark: the connector against plain httpx (and httpx2), the official SDK, side by side.

    python benchmarks/bench_engine.py [--quick]     # or through benchmarks/run.py

(a) sequential ``message_batches.read`` calls against the sandbox (its own process, on
    127.0.0.1): engine typed and raw vs plain ``httpx.Client`` (and ``httpx2`` where installed)
    vs the SDK (the typed engine against plain httpx building the same record by hand, its
    four ``DateTime`` fields with ``datetime.fromisoformat``: the same work); the same in
    process over ``httpx.MockTransport`` (the engine's own cost, timed in CPU time: nothing
    there waits on another process); and
    at concurrency 32, ``AsyncConnector`` vs ``httpx.AsyncClient`` vs ``AsyncAnthropic``.
(b) streaming a results JSONL (100,000 lines, ~60 MB): ``Connector.stream_jsonl`` vs httpx +
    ``json.loads`` per line vs the SDK, each run in a fresh process (which also gives its own
    peak RSS), served from disk by a tiny starlette app (the sandbox renders results slower
    than clients read them).

All variants run in interleaved rounds in rotating order; figures are per-round ratios
(``harness.py``). Targets: in process ≤ 1.05× raw and ≤ 1.10× typed; concurrency 32 no slower
than the SDK; streaming no slower than httpx + json.loads, under 80 MiB.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from harness import (
    Figure,
    has_module,
    in_fresh_process,
    interleaved,
    peak_mib,
    ratios,
    render,
    rotations,
    timed,
)

ROOT = Path(__file__).resolve().parent.parent
DEFINITION_PATH = ROOT / "definitions" / "claude-api.json"
KEY = "sk-bench-not-a-secret"
MODEL = "claude-sonnet-4-5"
HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01", "accept": "application/json"}
CHUNK = 64 * 1024


# --- servers (each in its own process) --------------------------------------------------------


def _static_app(results: Path, batch: dict[str, Any]) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    async def retrieve(request: Request) -> JSONResponse:
        base = str(request.base_url).rstrip("/")
        batch_id = request.path_params["batch_id"]
        body = {
            **batch,
            "id": batch_id,
            "results_url": f"{base}/v1/messages/batches/{batch_id}/results",
        }
        return JSONResponse(body, headers={"request-id": "req_bench"})

    async def lines() -> AsyncIterator[bytes]:
        with results.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    async def results_route(request: Request) -> StreamingResponse:
        return StreamingResponse(lines(), media_type="application/x-jsonl")

    return Starlette(
        routes=[
            Route("/v1/messages/batches/{batch_id}", retrieve),
            Route("/v1/messages/batches/{batch_id}/results", results_route),
        ]
    )


def serve(kind: str, results: str | None, batch: str | None) -> None:
    """Child process: serve until stdin closes; print the base URL first."""
    from connector.sandbox import SandboxServer

    if kind == "sandbox":
        server = SandboxServer(batch_seconds=0.01)
    else:
        assert results and batch
        server = SandboxServer(app=_static_app(Path(results), json.loads(Path(batch).read_text())))
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


# --- (a) reads: sequential over loopback, in process, and at concurrency 32 ------------------


def _readers(base_url: str, batch_id: str, transport: httpx.BaseTransport | None) -> dict[str, Any]:
    import anthropic

    from connector import Connector

    api = Connector(DEFINITION_PATH, base_url=base_url, api_key=KEY, transport=transport)
    client = httpx.Client(base_url=base_url, headers=HEADERS, transport=transport)
    url = f"/v1/messages/batches/{batch_id}"

    def plain() -> Any:
        response = client.get(url)
        response.raise_for_status()
        return response.json()

    def plain_typed() -> Any:
        return _batch_record(plain())

    params = {"batch_id": batch_id}
    readers: dict[str, Any] = {
        "httpx": plain,
        "httpx typed": plain_typed,
        "engine": lambda: api.call("message_batches", "read", params),
        "engine raw": lambda: api.call("message_batches", "read", params, raw=True),
    }
    if transport is None:
        sdk = anthropic.Anthropic(base_url=base_url, api_key=KEY, max_retries=0)
        readers["sdk"] = lambda: sdk.messages.batches.retrieve(batch_id)
        if has_module("httpx2"):
            import httpx2

            client2 = httpx2.Client(base_url=base_url, headers=HEADERS)

            def plain2() -> Any:
                response = client2.get(url)
                response.raise_for_status()
                return response.json()

            readers["httpx2"] = plain2
    return readers


def _when(value: Any) -> Any:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _batch_record(item: dict[str, Any]) -> dict[str, Any]:
    """By hand, the record the engine's typed read returns (the definition's eight fields of
    ``message_batches``, its four ``DateTime`` fields as ``datetime``): the typed baseline."""
    return {
        "id": item.get("id"),
        "processing_status": item.get("processing_status"),
        "ended_at": _when(item.get("ended_at")),
        "created_at": _when(item.get("created_at")),
        "expires_at": _when(item.get("expires_at")),
        "results_url": item.get("results_url"),
        "request_counts": item.get("request_counts"),
        "cancel_initiated_at": _when(item.get("cancel_initiated_at")),
    }


def _read_figures(
    title: str, samples: dict[str, list[float]], typed: float, raw: float
) -> list[Figure]:
    figures = [
        Figure(
            "engine",
            f"{title}: engine typed / httpx building the same typed record",
            ratios(samples, "engine", "httpx typed"),
            typed,
        ),
        Figure(
            "engine", f"{title}: engine typed / httpx (untyped)", ratios(samples, "engine", "httpx")
        ),
        Figure(
            "engine", f"{title}: engine raw / httpx", ratios(samples, "engine raw", "httpx"), raw
        ),
    ]
    for other in ("sdk", "httpx2"):
        if other in samples:
            figures.append(
                Figure("engine", f"{title}: {other} / httpx", ratios(samples, other, "httpx"))
            )
    return figures


def bench_reads(base_url: str, batch_id: str, count: int, rounds: int) -> list[Figure]:
    readers = _readers(base_url, batch_id, None)
    samples = interleaved({n: timed(r, count) for n, r in readers.items()}, rounds=rounds)
    return _read_figures(f"{count} reads over 127.0.0.1", samples, 1.10, 1.05)


def bench_reads_in_process(batch_json: dict[str, Any], count: int, rounds: int) -> list[Figure]:
    """The same reads over MockTransport: what the engine itself adds to one call."""
    body = json.dumps(batch_json).encode()
    transport = httpx.MockTransport(
        lambda request: httpx.Response(
            200, content=body, headers={"content-type": "application/json", "request-id": "req_1"}
        )
    )
    readers = _readers("http://mock.test", batch_json["id"], transport)
    # Nothing here waits on another process: CPU time, in three times the rounds (they are
    # cheap), so that a shared machine's other load does not decide the figure.
    samples = interleaved(
        {n: timed(r, count, time.process_time) for n, r in readers.items()}, rounds=rounds * 3
    )
    return _read_figures(f"{count} reads in process", samples, 1.10, 1.05)


def bench_concurrent(base_url: str, batch_id: str, count: int, rounds: int) -> list[Figure]:
    """``count`` reads, 32 at a time: AsyncConnector vs httpx.AsyncClient vs AsyncAnthropic."""
    import anthropic

    from connector import AsyncConnector

    async def measure() -> dict[str, list[float]]:
        api = AsyncConnector(DEFINITION_PATH, base_url=base_url, api_key=KEY)
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        client = httpx.AsyncClient(base_url=base_url, headers=HEADERS, limits=limits)
        sdk = anthropic.AsyncAnthropic(base_url=base_url, api_key=KEY, max_retries=0)
        url = f"/v1/messages/batches/{batch_id}"

        async def plain() -> Any:
            response = await client.get(url)
            response.raise_for_status()
            return response.json()

        one = {
            "httpx": plain,
            "engine": lambda: api.call("message_batches", "read", {"batch_id": batch_id}),
            "sdk": lambda: sdk.messages.batches.retrieve(batch_id),
        }
        closers: list[Any] = []
        # The candidates for the engine's client (issue 11, item 3): httpx2 (the SDK's), plain
        # aiohttp, and the engine over httpx's own transport; "engine" is the default
        # AsyncConnector, over connector.transport.AiohttpTransport.
        if has_module("httpx2"):
            import httpx2

            client2 = httpx2.AsyncClient(
                base_url=base_url,
                headers=HEADERS,
                limits=httpx2.Limits(max_connections=32, max_keepalive_connections=32),
            )
            closers.append(client2.aclose)

            async def plain2() -> Any:
                response = await client2.get(url)
                response.raise_for_status()
                return response.json()

            one["httpx2"] = plain2
        import aiohttp

        session = aiohttp.ClientSession(
            base_url=base_url, headers=HEADERS, connector=aiohttp.TCPConnector(limit=32)
        )
        closers.append(session.close)

        async def plain_aiohttp() -> Any:
            async with session.get(url) as response:
                response.raise_for_status()
                return await response.json()

        one["aiohttp"] = plain_aiohttp
        # The engine over httpx's own transport (its default before issue 11, item 3).
        over = AsyncConnector(DEFINITION_PATH, base_url=base_url, api_key=KEY, http="httpx")
        closers.append(over.aclose)
        one["engine/httpx"] = lambda: over.call("message_batches", "read", {"batch_id": batch_id})

        async def run(name: str) -> float:
            gate = asyncio.Semaphore(32)

            async def task() -> None:
                async with gate:
                    await one[name]()

            start = time.perf_counter()
            await asyncio.gather(*(task() for _ in range(count)))
            return (time.perf_counter() - start) / count

        for name in one:
            await run(name)  # warm-up
        samples: dict[str, list[float]] = {name: [] for name in one}
        for order in rotations(list(one), rounds):
            for name in order:
                samples[name].append(await run(name))
        await api.aclose() if hasattr(api, "aclose") else None
        await client.aclose()
        await sdk.close()
        for close in closers:
            await close()
        return samples

    samples = asyncio.run(measure())
    return [
        Figure(
            "engine",
            f"{count} reads at concurrency 32: engine / sdk",
            ratios(samples, "engine", "sdk"),
            1.0,
        ),
        Figure(
            "engine",
            f"{count} reads at concurrency 32: engine over httpx's transport / sdk",
            ratios(samples, "engine/httpx", "sdk"),
        ),
        Figure(
            "engine",
            f"{count} reads at concurrency 32: engine / httpx",
            ratios(samples, "engine", "httpx"),
        ),
        Figure(
            "engine",
            f"{count} reads at concurrency 32: sdk / httpx",
            ratios(samples, "sdk", "httpx"),
        ),
    ] + [
        Figure(
            "engine",
            f"{count} reads at concurrency 32: {other} / httpx",
            ratios(samples, other, "httpx"),
        )
        for other in ("httpx2", "aiohttp", "engine/httpx")
        if other in samples
    ]


# --- (b) streaming results, one subprocess per variant ----------------------------------------


def stream_variant(variant: str, base_url: str, batch_id: str) -> None:
    """Child process: stream the results once, print seconds, lines and peak RSS as JSON."""
    if variant == "engine":
        from connector import Connector

        api = Connector(DEFINITION_PATH, base_url=base_url, api_key=KEY)

        def run() -> int:
            count = 0
            for _ in api.stream_jsonl("message_batches", "results", {"batch_id": batch_id}):
                count += 1
            return count
    elif variant in ("httpx", "bytes"):
        client = httpx.Client(headers=HEADERS, timeout=600)
        url = f"{base_url}/v1/messages/batches/{batch_id}/results"

        def run() -> int:
            count = 0
            with client.stream("GET", url) as response:
                response.raise_for_status()
                if variant == "bytes":  # transfer only: the floor any client can reach
                    for chunk in response.iter_bytes():
                        count += chunk.count(b"\n")
                    return count
                for line in response.iter_lines():
                    if line:
                        json.loads(line)
                        count += 1
            return count
    else:
        import anthropic

        sdk = anthropic.Anthropic(base_url=base_url, api_key=KEY, max_retries=0)

        def run() -> int:
            count = 0
            for _ in sdk.messages.batches.results(batch_id):
                count += 1
            return count

    baseline = peak_mib()
    start = time.perf_counter()
    count = run()  # once: rounds of fresh processes give the spread, not a best-of
    best = time.perf_counter() - start
    print(
        json.dumps(
            {"seconds": best, "lines": count, "baseline_mib": baseline, "peak_mib": peak_mib()}
        )
    )


def bench_stream(base_url: str, batch_id: str, rounds: int) -> list[Figure]:
    """Each variant streams in its own fresh process, rounds rotating; ratios per round."""
    argv = {
        v: [__file__, "_stream", v, base_url, batch_id] for v in ("bytes", "httpx", "engine", "sdk")
    }
    outcomes: dict[str, list[dict[str, Any]]] = {v: [] for v in argv}
    for order in rotations(list(argv), rounds):
        for variant in order:
            outcomes[variant].append(in_fresh_process(argv[variant]))
    seconds = {v: [o["seconds"] for o in runs] for v, runs in outcomes.items()}
    lines = outcomes["engine"][0]["lines"]
    return [
        Figure(
            "engine",
            f"stream {lines:,} JSONL lines: engine / httpx+json.loads",
            ratios(seconds, "engine", "httpx"),
            1.0,
        ),
        Figure(
            "engine",
            f"stream {lines:,} JSONL lines: sdk / httpx+json.loads",
            ratios(seconds, "sdk", "httpx"),
        ),
        Figure(
            "engine",
            f"stream {lines:,} JSONL lines: bytes only / httpx (the floor)",
            ratios(seconds, "bytes", "httpx"),
        ),
        Figure(
            "engine",
            "stream: engine peak RSS (own process)",
            [o["peak_mib"] for o in outcomes["engine"]],
            80.0,
            unit="MiB",
        ),
        Figure(
            "engine",
            "stream: sdk peak RSS (own process)",
            [o["peak_mib"] for o in outcomes["sdk"]],
            unit="MiB",
        ),
    ]


# --- setup and report -------------------------------------------------------------------------


def _batch_requests(count: int) -> list[dict[str, Any]]:
    question = "Please summarise the following paragraph in one sentence. " * 2
    return [
        {
            "custom_id": f"req-{i:06d}",
            "params": {
                "model": MODEL,
                "max_tokens": 64,
                "messages": [{"role": "user", "content": f"{question} (item {i})"}],
            },
        }
        for i in range(count)
    ]


def _wait_ended(client: httpx.Client, batch_id: str) -> dict[str, Any]:
    for _ in range(600):
        batch: dict[str, Any] = client.get(f"/v1/messages/batches/{batch_id}").json()
        if batch["processing_status"] == "ended":
            return batch
        time.sleep(0.05)
    raise RuntimeError("the sandbox batch did not end")


def suite(quick: bool) -> list[Figure]:
    reads, lines, rounds = (200, 5000, 3) if quick else (2000, 100_000, 7)
    sandbox = Child("sandbox")
    workdir = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    figures: list[Figure] = []
    try:
        with httpx.Client(base_url=sandbox.base_url, headers=HEADERS, timeout=600) as client:
            small = client.post("/v1/messages/batches", json={"requests": _batch_requests(1)})
            small.raise_for_status()
            small_batch = _wait_ended(client, small.json()["id"])
            big = client.post("/v1/messages/batches", json={"requests": _batch_requests(lines)})
            big.raise_for_status()
            big_batch = _wait_ended(client, big.json()["id"])
            results = workdir / "results.jsonl"
            with client.stream(
                "GET", f"/v1/messages/batches/{big_batch['id']}/results"
            ) as response:
                response.raise_for_status()
                with results.open("wb") as out:
                    for chunk in response.iter_bytes(CHUNK):
                        out.write(chunk)
        (workdir / "batch.json").write_text(json.dumps(big_batch))
        figures += bench_reads(sandbox.base_url, small_batch["id"], reads, rounds)
        figures += bench_reads_in_process(small_batch, reads, rounds)
        figures += bench_concurrent(sandbox.base_url, small_batch["id"], reads, rounds)
    finally:
        sandbox.stop()
    static = Child("static", str(workdir / "results.jsonl"), str(workdir / "batch.json"))
    try:
        figures += bench_stream(static.base_url, big_batch["id"], 3 if quick else 5)
    finally:
        static.stop()
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    return figures


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_serve":
        serve(sys.argv[2], *(sys.argv[3:5] if len(sys.argv) > 3 else (None, None)))
    elif len(sys.argv) > 1 and sys.argv[1] == "_stream":
        stream_variant(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        os.environ.pop("ANTHROPIC_BASE_URL", None)
        render(suite("--quick" in sys.argv), title="engine")
