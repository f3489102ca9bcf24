"""Hostile requests to the sandbox: every one gets the API's 400/413 envelope with a
``request-id``, never a 500, and a streamed upload stops at the size limit whatever its framing."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connector.sandbox import ManualClock, SandboxServer, create_app

OLD = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}
FILES = OLD | {"anthropic-beta": "files-api-2025-04-14"}
JSON = {"content-type": "application/json"}
MESSAGE = b'{"model":"claude-haiku-4-5","max_tokens":5,"messages":[{"role":"user","content":"%s"}]}'

HOSTILE: list[tuple[str, str, bytes | None, str]] = [
    ("POST", "/v1/messages", b"[" * 100_000 + b"]" * 100_000, "nested deeper"),
    ("POST", "/v1/messages", b"[" * 200 + b"]" * 200, "nested deeper"),
    ("POST", "/v1/messages", b'{"max_tokens":' + b"1" * 5000 + b"}", "not valid JSON"),
    ("POST", "/v1/messages", MESSAGE % b"\\ud800", "lone surrogate"),
    ("POST", "/v1/messages", b'{"key\\udfff":1}', "lone surrogate"),
    ("POST", "/v1/messages", b'{"max_tokens":NaN}', "not valid JSON"),
    ("POST", "/v1/messages", b"\xff\xfe", "not valid UTF-8"),
    ("POST", "/v1/messages", b'{"a":"\xc3"}', "not valid UTF-8"),
    ("POST", "/v1/messages/count_tokens", MESSAGE % b"\\udc00", "lone surrogate"),
    ("POST", "/v1/messages/batches", b'{"requests":[{"custom_id":"\\ud800"}]}', "surrogate"),
    ("GET", "/v1/models?limit=%C2%B2", None, "limit"),
    ("GET", "/v1/messages/batches?limit=%C2%B2", None, "limit"),
    ("GET", "/v1/models?limit=" + "9" * 5000, None, "limit"),
    ("POST", "/_sandbox/clock/advance", b'{"seconds":1e300}', "seconds"),
    ("POST", "/_sandbox/clock/advance", b'{"seconds":' + b"9" * 5000 + b"}", "not valid JSON"),
    ("POST", "/_sandbox/clock/advance", b'{"seconds":Infinity}', "not valid JSON"),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(clock=ManualClock()), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "path", "body", "says"), HOSTILE)
async def test_hostile_input_gets_the_400_envelope_with_a_request_id(
    api: httpx.AsyncClient, method: str, path: str, body: bytes | None, says: str
) -> None:
    headers = FILES if "files" in path else OLD
    response = await api.request(method, path, content=body, headers=headers | JSON)
    assert response.status_code == 400, response.text
    envelope = response.json()
    assert envelope["type"] == "error"
    assert envelope["error"]["type"] == "invalid_request_error"
    assert says in envelope["error"]["message"]
    assert response.headers["request-id"] == envelope["request_id"]


@pytest.mark.anyio
async def test_clock_advances_past_year_9999_are_refused_and_change_nothing(
    api: httpx.AsyncClient,
) -> None:
    century = {"seconds": 100 * 365 * 86400}
    answers = [await api.post("/_sandbox/clock/advance", json=century) for _ in range(80)]
    refused = [a for a in answers if a.status_code == 400]
    assert refused, "8,000 years from 2026 must pass 9999"
    assert "9999" in refused[0].json()["error"]["message"]
    last_good = [a for a in answers if a.status_code == 200][-1].json()["now"]
    now = (await api.post("/_sandbox/clock/advance", json={"seconds": 0})).json()["now"]
    assert now == last_good
    assert (await api.get("/v1/models", headers=OLD)).status_code == 200


@pytest.mark.anyio
async def test_an_internal_error_is_a_500_envelope_with_a_request_id() -> None:
    app = create_app(clock=ManualClock())

    async def boom(request: Request) -> Response:
        raise RuntimeError("a bug")

    app.router.routes.insert(0, Route("/v1/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        response = await client.get("/v1/boom", headers=OLD)
    assert response.status_code == 500
    assert response.json()["error"] == {
        "type": "api_error",
        "message": "internal sandbox error: RuntimeError",
    }
    assert response.headers["request-id"] == response.json()["request_id"]


LIMIT = 64 * 1024


@pytest.fixture
def small_limit_server() -> Iterator[SandboxServer]:
    with SandboxServer(max_file_bytes=LIMIT) as server:
        yield server


def _chunked_upload(server: SandboxServer, total: int) -> tuple[int, bytes]:
    """A multipart upload sent with ``Transfer-Encoding: chunked`` (no Content-Length), over
    a raw socket so nothing in between can add a length; returns the status and the body."""
    boundary = b"xBOUNDARYx"
    head = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    tail = b"\r\n--" + boundary + b"--\r\n"
    request = (
        b"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"x-api-key: sk-test\r\nanthropic-version: 2023-06-01\r\n"
        b"anthropic-beta: files-api-2025-04-14\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)

        def chunk(data: bytes) -> None:
            sock.sendall(b"%x\r\n" % len(data) + data + b"\r\n")

        chunk(head)
        sent = 0
        try:
            while sent < total:
                piece = b"x" * min(16 * 1024, total - sent)
                chunk(piece)
                sent += len(piece)
            chunk(tail)
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server answered and closed: what a limit looks like
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status_line = answer.partition(b"\r\n")[0]
    return int(status_line.split()[1]), answer


def test_a_chunked_upload_cannot_pass_the_size_limit(small_limit_server: SandboxServer) -> None:
    status, answer = _chunked_upload(small_limit_server, 4 * LIMIT)
    assert status == 413, answer
    assert b"request_too_large" in answer
    assert b"request-id: req_" in answer.lower()
    assert len(small_limit_server.app.state.sandbox.files) == 0


def test_a_chunked_upload_under_the_limit_is_stored(small_limit_server: SandboxServer) -> None:
    status, answer = _chunked_upload(small_limit_server, LIMIT // 2)
    assert status == 200, answer
    assert len(small_limit_server.app.state.sandbox.files) == 1


def test_the_default_upload_limit_stays_500_mb() -> None:
    assert create_app().state.settings.max_file_bytes == 500 * 2**20


def test_a_hostile_body_keeps_the_connection_usable(small_limit_server: SandboxServer) -> None:
    with httpx.Client(base_url=small_limit_server.base_url, headers=OLD | JSON) as client:
        sockets: set[int] = set()

        def trace(name: str, info: dict[str, object]) -> None:
            if name == "connection.connect_tcp.complete":
                sockets.add(id(info["return_value"]))

        for body in (b"[" * 5000 + b"]" * 5000, MESSAGE % b"\\ud800"):
            bad = client.post("/v1/messages", content=body, extensions={"trace": trace})
            assert bad.status_code == 400
            assert bad.headers["request-id"].startswith("req_")
        good = client.get("/v1/models", extensions={"trace": trace})
        assert good.status_code == 200
        assert len(sockets) == 1  # one keep-alive connection served all three
