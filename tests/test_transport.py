"""The aiohttp-backed transport AsyncConnector sends through by default, against real local
servers on 127.0.0.1: streamed uploads, the client's timeouts, environment proxies, TLS
verification, redirects, cookies, gzip, streamed answers, and httpx's error types (which the
retry policy reads)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import httpx
import pytest
import trustme
from canned_http import canned_server
from example_fakes import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from connector import AsyncConnector, ConfigurationError, TransportError, load_definition
from connector.emitter.guard import Guard
from connector.transport import AiohttpTransport

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = load_definition(ROOT / "definitions" / "claude-api.json")
KEY = "sk-ant-test-secret-transport"
CREATE = {"custom_id": "a", "model": "m", "max_tokens": 10, "content": "hi"}
BATCH = {"id": "msgbatch_1", "type": "message_batch", "processing_status": "ended"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Fake:
    """A small API: counts streamed upload bytes, answers slowly, sets cookies, redirects."""

    def __init__(self) -> None:
        self.uploaded = 0
        self.cookies: list[str | None] = []
        self.seen: list[str] = []

    def app(self) -> Starlette:
        async def upload(request: Request) -> Response:
            async for chunk in request.stream():
                self.uploaded += len(chunk)
            return JSONResponse({"id": "file_1", "type": "file", "size_bytes": self.uploaded})

        async def batch(request: Request) -> Response:
            self.seen.append(request.url.path)
            self.cookies.append(request.headers.get("cookie"))
            wait = float(request.query_params.get("wait", "0") or 0)
            if request.path_params["batch_id"] == "msgbatch_slow":
                await asyncio.sleep(1.5)
            if request.path_params["batch_id"] == "msgbatch_moved":
                return Response(status_code=302, headers={"location": "/v1/messages/batches/x"})
            await asyncio.sleep(wait)
            response = JSONResponse(BATCH)
            response.set_cookie("session", "kept-would-be-wrong")
            return response

        async def results(request: Request) -> Response:
            lines = b"".join(
                json.dumps({"custom_id": f"r{i}", "result": {"type": "succeeded"}}).encode() + b"\n"
                for i in range(2000)
            )

            async def body() -> AsyncIterator[bytes]:
                packed = gzip.compress(lines)
                for i in range(0, len(packed), 4096):
                    yield packed[i : i + 4096]

            return StreamingResponse(
                body(), media_type="application/x-jsonl", headers={"content-encoding": "gzip"}
            )

        async def create(request: Request) -> Response:
            await request.body()
            return JSONResponse(BATCH)

        return Starlette(
            routes=[
                Route("/v1/files", upload, methods=["POST"]),
                Route("/v1/messages/batches", create, methods=["POST"]),
                Route("/v1/messages/batches/{batch_id}", batch),
                Route("/v1/messages/batches/{batch_id}/results", results),
            ]
        )


@pytest.fixture
def fake() -> Iterator[tuple[Fake, str]]:
    state = Fake()
    with serve(state.app()) as url:
        yield state, url


def _api(url: str, **kwargs: object) -> AsyncConnector:
    return AsyncConnector(DEFINITION, base_url=url, api_key=KEY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_default_transport_is_aiohttp_and_keeps_no_cookies_nor_follows_redirects(
    fake: tuple[Fake, str],
) -> None:
    state, url = fake
    async with _api(url) as api:
        assert isinstance(api._http._transport, AiohttpTransport)
        for _ in range(2):
            assert (await api.call("message_batches", "read", {"batch_id": "msgbatch_1"}))[
                "id"
            ] == "msgbatch_1"
        response = await api.send("message_batches", "read", {"batch_id": "msgbatch_moved"})
    assert state.cookies[:2] == [None, None]
    assert response.status_code == 302
    assert state.seen.count("/v1/messages/batches/x") == 0


@pytest.mark.anyio
async def test_gzipped_jsonl_streams_decoded_and_an_early_stop_closes_the_answer(
    fake: tuple[Fake, str],
) -> None:
    _, url = fake
    async with _api(url) as api:
        lines = [r async for r in api.stream_jsonl("message_batches", "results", {"batch_id": "b"})]
        assert len(lines) == 2000 and lines[-1]["custom_id"] == "r1999"
        stream = api.stream_jsonl("message_batches", "results", {"batch_id": "b"})
        first = await stream.__anext__()
        await stream.aclose()
        assert first["custom_id"] == "r0"
        # the connection left mid-answer is not reused for the next call
        assert (await api.call("message_batches", "read", {"batch_id": "msgbatch_1"}))["id"]


UPLOAD_CLIENT = """
import asyncio, resource, sys
from connector import AsyncConnector
async def main():
    async with AsyncConnector(sys.argv[1], base_url=sys.argv[2], api_key="k") as api:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        answer = await api.call("files", "upload", {"file": sys.argv[3]}, raw=True)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(answer["size_bytes"], (after - before) // 1024)
asyncio.run(main())
"""


@pytest.mark.slow
def test_a_multipart_upload_streams_the_file_without_reading_it_whole(
    fake: tuple[Fake, str], tmp_path: Path
) -> None:
    _, url = fake
    size = 96 * 1024 * 1024
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(size)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            UPLOAD_CLIENT,
            str(ROOT / "definitions" / "claude-api.json"),
            url,
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.split()
    assert int(out[0]) > size  # the whole file and the multipart framing arrived
    assert int(out[1]) < 32, f"peak RSS grew by {out[1]} MiB for a 96 MiB upload"


@pytest.mark.anyio
async def test_the_clients_read_timeout_applies_and_an_idempotent_read_is_retried(
    fake: tuple[Fake, str],
) -> None:
    _, url = fake
    async with _api(url, timeout=0.3, max_retries=2, sleep=_no_sleep) as api:
        with pytest.raises(TransportError, match="ReadTimeout after 3 attempt"):
            await api.call("message_batches", "read", {"batch_id": "msgbatch_slow"})


async def _no_sleep(_: float) -> None:
    return None


@pytest.mark.anyio
async def test_a_refused_connection_is_a_connect_error_retried_even_for_a_post() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    async with _api(f"http://127.0.0.1:{port}", sleep=_no_sleep) as api:
        with pytest.raises(TransportError, match="ConnectError after 3 attempt"):
            await api.call("message_batches", "create", CREATE)


@pytest.mark.anyio
async def test_a_guarded_transport_refuses_private_addresses_before_connecting(
    fake: tuple[Fake, str],
) -> None:
    """The upstream guard (``connector serve``'s): a name is resolved by the guard, which
    refuses it unless every address is allowed and hands aiohttp only the checked ones; an IP
    literal is checked on the URL. A refusal is a ConfigurationError on ``base_url``."""
    state, url = fake
    port = int(url.rsplit(":", 1)[1])
    lookups: list[str] = []

    async def names(host: str, _: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if host == "tenant.test" else ["10.0.0.7"]

    public_only = Guard(allow_insecure=True, ports=None, resolver=names)
    for target in (url, f"http://tenant.test:{port}", f"http://[::ffff:127.0.0.1]:{port}"):
        transport = AiohttpTransport(guard=public_only, guard_hint="ask the operator")
        async with _api(target, transport=transport, sleep=_no_sleep) as api:
            with pytest.raises(ConfigurationError) as refused:
                await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        assert refused.value.setting == "base_url" and "ask the operator" in str(refused.value)
        assert KEY not in str(refused.value)
    assert state.seen == [] and lookups == ["tenant.test"]  # refused before any connection
    # Loopback allowed by CIDR: the guard's own answer is what aiohttp dials.
    local = Guard.from_cidrs(["127.0.0.0/8"], allow_insecure=True, ports=None, resolver=names)
    transport = AiohttpTransport(guard=local)
    async with _api(f"http://tenant.test:{port}", transport=transport) as api:
        assert (await api.call("message_batches", "read", {"batch_id": "msgbatch_1"}))["id"]
    assert state.seen == ["/v1/messages/batches/msgbatch_1"]


@asynccontextmanager
async def _raw_server(handler: object) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.anyio
async def test_a_connection_dropped_after_the_request_is_not_retried_for_a_post() -> None:
    seen: list[bytes] = []

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.close()

    async with _raw_server(drop) as port:
        async with _api(f"http://127.0.0.1:{port}", sleep=_no_sleep) as api:
            with pytest.raises(TransportError, match="RemoteProtocolError after 1 attempt"):
                await api.call("message_batches", "create", CREATE)
            with pytest.raises(TransportError, match="RemoteProtocolError after 3 attempt"):
                await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
    assert len(seen) == 4


@pytest.mark.anyio
async def test_connect_and_pool_timeouts_are_the_clients() -> None:
    # A listener whose backlog is full never completes a new handshake.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
    try:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(), timeout=httpx.Timeout(5.0, connect=0.2)
        ) as client:
            with pytest.raises(httpx.ConnectTimeout):
                await client.get(f"http://127.0.0.1:{port}/")
    finally:
        for f in fillers:
            f.close()
        listener.close()

    gate = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        await writer.drain()
        await gate.wait()
        writer.close()

    async with _raw_server(hold) as port:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(limit=1), timeout=httpx.Timeout(5.0, connect=0.1, pool=0.1)
        ) as client:
            async with client.stream("GET", f"http://127.0.0.1:{port}/a"):
                with pytest.raises(httpx.ConnectTimeout):  # no free connection in time
                    await client.get(f"http://127.0.0.1:{port}/b")
            gate.set()


@contextmanager
def _proxy() -> Iterator[tuple[str, list[bytes]]]:
    """A forward proxy on 127.0.0.1 that answers every request itself (never resolves)."""
    with canned_server(BATCH) as (port, seen):
        yield f"http://127.0.0.1:{port}", seen


@pytest.mark.anyio
async def test_proxies_from_the_environment_are_honoured_and_no_proxy_bypasses_them(
    fake: tuple[Fake, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, url = fake
    with _proxy() as (proxy, seen):
        monkeypatch.setenv("HTTP_PROXY", proxy)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with _api("http://api.example.test") as api:
            answer = await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        async with _api(url) as api:  # NO_PROXY: straight to the server
            await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
    assert answer["id"] == "msgbatch_1"
    assert seen == [b"GET http://api.example.test/v1/messages/batches/msgbatch_1 HTTP/1.1"]
    assert state.seen == ["/v1/messages/batches/msgbatch_1"]


@pytest.mark.anyio
async def test_tls_is_verified_and_a_trusted_certificate_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ca = trustme.CA()
    served = ca.issue_cert("127.0.0.1")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.configure_cert(server_ctx)
    body = json.dumps(BATCH).encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    try:
        async with _api(f"https://127.0.0.1:{port}", sleep=_no_sleep) as api:
            with pytest.raises(TransportError, match=r"ConnectError.*TLS verification"):
                await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        with ca.cert_pem.tempfile() as bundle:
            monkeypatch.setenv("SSL_CERT_FILE", bundle)
            async with _api(f"https://127.0.0.1:{port}") as api:
                batch = await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
        assert batch["id"] == "msgbatch_1"
    finally:
        server.close()
        await server.wait_closed()


def test_one_connector_serves_one_event_loop(fake: tuple[Fake, str]) -> None:
    _, url = fake
    api = _api(url)

    async def read() -> object:
        return await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(read())
        with pytest.raises(ConfigurationError, match="one AsyncConnector per event loop"):
            asyncio.run(read())
        loop.run_until_complete(api.aclose())
    finally:
        loop.close()


def test_http_names_a_known_client() -> None:
    with pytest.raises(ConfigurationError, match="http='curl'"):
        AsyncConnector(DEFINITION, base_url="http://127.0.0.1:9", http="curl")  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_the_sandbox_over_a_socket_streams_events_and_round_trips_a_binary_file(
    tmp_path: Path,
) -> None:
    from connector.sandbox import SandboxServer

    payload = bytes(range(256)) * 64
    path = tmp_path / "data.bin"
    path.write_bytes(payload)
    params = {"model": "claude-haiku-4-5", "max_tokens": 64, "content": "Capital of France?"}
    with SandboxServer() as server:
        async with AsyncConnector(DEFINITION, base_url=server.base_url, api_key=KEY) as api:
            stream = await api.stream("messages", "stream", params)
            names = [event.name async for event in stream]
            final = await stream.final()
            uploaded = await api.call("files", "upload", {"file": str(path)})
            downloaded = await api.call("files", "download", {"file_id": uploaded["id"]})
    assert names[0] == "message_start" and names.count("content_block_delta") > 1
    assert final["content"][0]["text"] == "The capital of France is Paris."
    assert uploaded["size_bytes"] == len(payload) and downloaded == payload
