"""An answer cut off mid-body (the headers arrive, then the connection closes) is a failed
exchange like a dropped connection, in both shells: retried for an idempotent operation, a
typed TransportError naming the operation once the retries are spent, never retried for a
POST that is not idempotent, and a typed error too when a streamed body breaks off.

The server is a raw socket on 127.0.0.1 (no HTTP library would send a short body on purpose):
it answers the first ``cut`` requests with the headers and half the body, then whole answers.
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from connector import AsyncConnector, Connector, TransportError
from connector.errors import StreamInterruptedError

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "definitions" / "claude-api.json"
KEY = "sk-ant-test-secret-truncated"
BATCH = json.dumps(
    {"id": "msgbatch_1", "type": "message_batch", "processing_status": "ended"}
).encode()
CREATE = {"custom_id": "a", "model": "m", "max_tokens": 10, "content": "hi"}


class CuttingServer:
    """Counts requests; the first ``cut`` answers stop halfway through their body."""

    def __init__(self, cut: int) -> None:
        self.cut = cut
        self.requests: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = conn.recv(65536)
            if not chunk:
                return
            received += chunk
        head, _, rest = received.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:  # read the request body, so closing sends a FIN, not a RST
            rest += conn.recv(65536)
        self.requests.append(head.split(b" ", 2)[0].decode())
        body = BATCH
        headers = (
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        if len(self.requests) <= self.cut:
            conn.sendall(headers + body[: len(body) // 2])  # then the connection closes
        else:
            conn.sendall(headers + body)

    def __enter__(self) -> CuttingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.listener.close()


@contextmanager
def cutting(cut: int) -> Iterator[CuttingServer]:
    with CuttingServer(cut) as server:
        yield server


def _sync(server: CuttingServer) -> Connector:
    return Connector(DEFINITION, base_url=server.base_url, api_key=KEY, sleep=lambda _: None)


async def _no_sleep(_: float) -> None:
    return None


def _async(server: CuttingServer, http: str) -> AsyncConnector:
    return AsyncConnector(
        DEFINITION,
        base_url=server.base_url,
        api_key=KEY,
        sleep=_no_sleep,
        http=http,  # type: ignore[arg-type]
    )


def test_sync_an_idempotent_read_cut_off_is_retried_and_then_succeeds() -> None:
    with cutting(2) as server, _sync(server) as api:
        batch = api.call("message_batches", "read", {"batch_id": "msgbatch_1"}, raw=True)
    assert batch == json.loads(BATCH)
    assert server.requests == ["GET", "GET", "GET"]


def test_sync_cut_off_every_time_is_a_typed_error_naming_the_operation() -> None:
    with cutting(99) as server, _sync(server) as api:
        with pytest.raises(TransportError) as caught:
            api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
    assert str(caught.value).startswith("message_batches.read: GET ")
    assert "cut off after its headers (RemoteProtocolError after 3 attempt(s))" in str(caught.value)
    assert isinstance(caught.value, StreamInterruptedError)  # it came, then broke off
    assert caught.value.attempts == 3
    assert KEY not in str(caught.value)
    assert len(server.requests) == 3


def test_sync_a_post_cut_off_is_not_retried() -> None:
    with cutting(99) as server, _sync(server) as api:
        with pytest.raises(TransportError, match=r"^message_batches\.create: POST .*1 attempt"):
            api.call("message_batches", "create", CREATE)
    assert server.requests == ["POST"]


def test_sync_a_download_cut_off_is_a_typed_interruption() -> None:
    with cutting(99) as server, _sync(server) as api:
        with pytest.raises(StreamInterruptedError, match=r"^message_batches\.read: .*broke off"):
            api.download("message_batches", "read", {"batch_id": "msgbatch_1"}, io.BytesIO())
    assert server.requests == ["GET"]  # a stream handed over in part is never sent again


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
async def test_async_an_idempotent_read_cut_off_is_retried_and_then_succeeds(http: str) -> None:
    with cutting(2) as server:
        async with _async(server, http) as api:
            batch = await api.call("message_batches", "read", {"batch_id": "msgbatch_1"}, raw=True)
    assert batch == json.loads(BATCH)
    assert server.requests == ["GET", "GET", "GET"]


@pytest.mark.anyio
@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
async def test_async_cut_off_every_time_is_a_typed_error_naming_the_operation(http: str) -> None:
    with cutting(99) as server:
        async with _async(server, http) as api:
            with pytest.raises(TransportError) as caught:
                await api.call("message_batches", "read", {"batch_id": "msgbatch_1"})
    assert str(caught.value).startswith("message_batches.read: GET ")
    assert isinstance(caught.value, StreamInterruptedError)
    assert caught.value.attempts == 3
    assert len(server.requests) == 3


@pytest.mark.anyio
@pytest.mark.parametrize("http", ["aiohttp", "httpx"])
async def test_async_a_post_cut_off_is_not_retried(http: str) -> None:
    with cutting(99) as server:
        async with _async(server, http) as api:
            with pytest.raises(TransportError, match=r"^message_batches\.create: POST .*1 attempt"):
                await api.call("message_batches", "create", CREATE)
    assert server.requests == ["POST"]


@pytest.mark.anyio
async def test_async_a_jsonl_stream_cut_off_is_a_typed_interruption() -> None:
    with cutting(99) as server:
        async with _async(server, "aiohttp") as api:
            with pytest.raises(StreamInterruptedError, match=r"^message_batches\.read: "):
                async for _ in api.stream_jsonl(
                    "message_batches", "read", {"batch_id": "msgbatch_1"}
                ):
                    pass
    assert server.requests == ["GET"]
